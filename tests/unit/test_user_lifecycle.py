"""What follows a user through creation, renaming and deletion (UserLifecycleService on the
fakes), and the volume rules it relies on (provisioning for an owner, orphans removed only
while orphaned, listings from a snapshot)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from stellars.adapters.memory import (
    InMemoryActivityStore,
    InMemoryCredentialStore,
    InMemoryHubDirectory,
    InMemorySessionStore,
    InMemoryVolumeStore,
    ManualClock,
    SequencePasswordGenerator,
)
from stellars.adapters.vault import ProcessMemoryVault
from stellars.domain.activity import RecordedSample
from stellars.domain.credentials import PassphrasePolicy, VaultPolicy
from stellars.domain.errors import InvalidValue, Refused
from stellars.domain.hub import HubUser
from stellars.domain.services import CredentialService, UserLifecycleService, VolumeService
from stellars.domain.sessions import SessionDeadline
from stellars.domain.settings import OrphanVolumePolicy
from stellars.domain.volume_ownership import owner_key
from stellars.domain.volumes import DockerNaming, VolumeInfo, VolumeOutcome, user_volumes
from tests.strategies import EPOCH

NAMING = DockerNaming(prefix="jupyterlab", name_template="jupyterlab-{username}")
VOLUMES = user_volumes({"jupyterlab-{username}_home": "/home", "jupyterlab-{username}_cache": "/c"})


class SlowAccounts(InMemoryCredentialStore):
    """Accounts whose creation takes a while, as bcrypt does, so tests can act meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.hashing = asyncio.Event()
        self.release = asyncio.Event()

    async def create_account(self, username: str, password: str) -> bool:
        self.hashing.set()
        await self.release.wait()
        return await super().create_account(username, password)


class World:
    def __init__(self, policy: OrphanVolumePolicy = OrphanVolumePolicy.KEEP) -> None:
        self.clock = ManualClock(EPOCH)
        self.accounts = SlowAccounts()
        self.accounts.release.set()
        self.vault = ProcessMemoryVault(clock=self.clock, policy=VaultPolicy())
        self.credentials = CredentialService(
            generator=SequencePasswordGenerator(),
            accounts=self.accounts,
            vault=self.vault,
            policy=PassphrasePolicy(),
            exempt={"admin"},
        )
        self.activity = InMemoryActivityStore(half_life=timedelta(hours=72))
        self.sessions = InMemorySessionStore()
        self.directory = InMemoryHubDirectory()
        self.store = InMemoryVolumeStore(clock=self.clock)
        self.volumes = VolumeService(
            store=self.store, directory=self.directory, volumes=VOLUMES, naming=NAMING
        )
        self.refreshes = 0
        self.lifecycle = UserLifecycleService(
            credentials=self.credentials,
            activity=self.activity,
            sessions=self.sessions,
            volumes=self.volumes,
            orphan_policy=policy,
            on_volumes_changed=self.count_refresh,
        )

    def count_refresh(self) -> None:
        self.refreshes += 1

    async def seed(self, username: str) -> None:
        await self.activity.add([RecordedSample(username, EPOCH, True, EPOCH)])
        await self.sessions.put(SessionDeadline(username, "", EPOCH, EPOCH + timedelta(hours=1)))


class TestCreation:
    async def test_a_new_user_gets_a_passphrase_in_the_background(self):
        world = World()
        world.lifecycle.created("ann")
        await world.lifecycle.settled(["ann"])
        assert set(world.credentials.collect(["ann"])) == {"ann"}

    async def test_settled_waits_for_a_passphrase_still_being_hashed(self):
        world = World()
        world.accounts.release.clear()
        world.lifecycle.created("ann")
        await world.accounts.hashing.wait()
        waiting = asyncio.ensure_future(world.lifecycle.settled(["ann", "nobody"]))
        await asyncio.sleep(0)
        assert not waiting.done()
        world.accounts.release.set()
        await waiting
        assert set(world.credentials.collect(["ann"])) == {"ann"}

    async def test_settled_gives_up_after_its_timeout(self):
        world = World()
        world.accounts.release.clear()
        world.lifecycle.created("ann")
        await world.lifecycle.settled(["ann"], timeout_seconds=0.01)
        assert world.credentials.collect(["ann"]) == {}

    async def test_the_exempt_admin_and_users_with_an_account_get_none(self):
        world = World()
        world.accounts.set_password("signed-up", "their-own")
        for name in ("admin", "signed-up"):
            world.lifecycle.created(name)
        await world.lifecycle.settled(["admin", "signed-up"])
        assert world.credentials.collect(["admin", "signed-up"]) == {}


class TestRename:
    async def test_everything_follows_the_new_name(self):
        world = World()
        world.lifecycle.created("ann")
        await world.lifecycle.settled(["ann"])
        await world.seed("ann")
        world.lifecycle.renaming("ann", "anna")  # inside the hub's transaction
        assert "anna" in world.accounts.passwords and "ann" not in world.accounts.passwords
        world.lifecycle.renamed("ann", "anna")  # after its commit
        await world.lifecycle.settled(["ann", "anna"])
        assert [row.username for row in world.activity.rows] == ["anna"]
        assert list(world.sessions.deadlines) == [("anna", "")]
        assert set(world.credentials.collect(["ann", "anna"])) == {"anna"}

    async def test_a_passphrase_being_made_when_the_user_is_renamed_goes_to_the_new_name(self):
        world = World()
        world.accounts.release.clear()
        world.lifecycle.created("ann")
        await world.accounts.hashing.wait()
        world.lifecycle.renaming("ann", "anna")
        world.lifecycle.renamed("ann", "anna")
        world.accounts.release.set()
        await world.lifecycle.settled(["ann", "anna"])
        await world.lifecycle.settled(["anna"])  # the new name's own issue, chained after
        assert set(world.accounts.passwords) == {"anna"}
        assert set(world.credentials.collect(["ann", "anna"])) == {"anna"}

    async def test_a_rolled_back_rename_issues_the_abandoned_passphrase_after_all(self):
        world = World()
        world.accounts.release.clear()
        world.lifecycle.created("ann")
        await world.accounts.hashing.wait()
        world.lifecycle.renaming("ann", "anna")
        world.lifecycle.rolled_back("ann")
        world.accounts.release.set()
        await world.lifecycle.settled(["ann"])
        assert set(world.credentials.collect(["ann", "anna"])) == {"ann"}

    async def test_under_keep_the_old_names_volumes_stay_and_are_orphaned(self):
        world = World()
        for name in ("jupyterlab-ann_home", "jupyterlab-ann_cache"):
            world.store.create(name)
        world.lifecycle.renamed("ann", "anna")
        await world.lifecycle.settled(["anna"])
        assert set(world.store.sizes) == {"jupyterlab-ann_home", "jupyterlab-ann_cache"}
        orphans = world.volumes.orphans_in(await world.store.volumes(), [HubUser(name="anna")])
        assert {o.name for o in orphans} == set(world.store.sizes)
        assert world.refreshes == 0


class TestDeletion:
    async def test_everything_of_the_user_goes(self):
        world = World()
        world.lifecycle.created("ann")
        await world.lifecycle.settled(["ann"])
        await world.seed("ann")
        world.lifecycle.deleting("ann")
        assert world.accounts.passwords == {}
        world.lifecycle.deleted("ann")
        await world.lifecycle.settled(["ann"])
        assert world.activity.rows == []
        assert world.sessions.deadlines == {}
        assert world.credentials.collect(["ann"]) == {}

    async def test_a_passphrase_being_made_for_a_deleted_user_is_never_stored(self):
        world = World()
        world.accounts.release.clear()
        world.lifecycle.created("ann")
        await world.accounts.hashing.wait()
        world.lifecycle.deleting("ann")
        world.lifecycle.deleted("ann")
        world.accounts.release.set()
        await world.lifecycle.settled(["ann"])
        assert world.accounts.passwords == {}
        assert world.credentials.collect(["ann"]) == {}

    async def test_under_delete_only_volumes_no_account_owns_are_removed(self):
        world = World(OrphanVolumePolicy.DELETE)
        world.store.create("jupyterlab-ann_home", created_at=EPOCH - timedelta(days=1))
        owner = owner_key(9, EPOCH)
        world.store.create("jupyterlab-ann_cache", owner=owner)
        # A new "ann" already owns the cache volume (it spawned in between).
        world.directory.put(HubUser(name="ann", id=9, created=EPOCH))
        follow_up = await world.lifecycle.follow_delete("ann")
        assert follow_up.volumes == {
            "jupyterlab-ann_home": VolumeOutcome.REMOVED,
            "jupyterlab-ann_cache": None,
        }
        assert set(world.store.sizes) == {"jupyterlab-ann_cache"}
        assert world.refreshes == 1

    async def test_a_failing_part_is_reported_and_the_others_are_still_done(self, caplog):
        world = World()

        async def broken(username: str) -> int:
            raise RuntimeError("database is locked")

        world.activity.delete_user = broken  # type: ignore[method-assign]
        await world.sessions.put(SessionDeadline("ann", "", EPOCH, EPOCH))
        with caplog.at_level(logging.INFO):
            follow_up = await world.lifecycle.follow_delete("ann")
        assert follow_up.errors == {"activity": "database is locked"}
        assert follow_up.activity_samples is None
        assert follow_up.session_deadlines == 1
        assert "activity FAILED: database is locked" in follow_up.summary
        assert "activity FAILED" in caplog.text

    async def test_work_for_one_name_runs_in_order(self):
        world = World()
        world.accounts.release.clear()
        world.lifecycle.created("ann")
        await world.accounts.hashing.wait()
        await world.seed("ann")
        world.lifecycle.deleted("ann")  # waits for the creation's work
        await asyncio.sleep(0)
        assert world.activity.rows != []
        world.accounts.release.set()
        await world.lifecycle.stop()
        assert world.activity.rows == []


class TestVolumeService:
    async def test_provisioning_creates_the_missing_volumes_marked_for_the_owner(self):
        world = World()
        world.store.create("jupyterlab-ann_home", owner=owner_key(3, EPOCH))
        created = await world.volumes.provision_for_spawn("ann", user_id=3, created=EPOCH)
        assert created == ["jupyterlab-ann_cache"]
        assert world.store.owners["jupyterlab-ann_cache"] == owner_key(3, EPOCH)
        assert await world.volumes.provision_for_spawn("ann", user_id=3, created=EPOCH) == []

    async def test_provisioning_refuses_another_accounts_volumes_and_creates_nothing(self):
        world = World()
        world.store.create("jupyterlab-ann_home", created_at=EPOCH - timedelta(days=1))
        with pytest.raises(Refused, match="jupyterlab-ann_home were left by an earlier user"):
            await world.volumes.provision_for_spawn("ann", user_id=3, created=EPOCH)
        assert set(world.store.sizes) == {"jupyterlab-ann_home"}

    async def test_orphans_are_removed_only_while_orphaned(self):
        world = World()
        world.store.create("jupyterlab-gone_home")
        world.store.create("jupyterlab-ann_home", owner=owner_key(3, EPOCH))
        world.directory.put(HubUser(name="ann", id=3, created=EPOCH))
        outcomes = await world.volumes.remove_orphans(
            ["jupyterlab-gone_home", "jupyterlab-ann_home", "jupyterlab-never_home"]
        )
        assert outcomes == {
            "jupyterlab-gone_home": VolumeOutcome.REMOVED,
            "jupyterlab-ann_home": None,
            "jupyterlab-never_home": VolumeOutcome.NOT_FOUND,
        }
        with pytest.raises(InvalidValue, match="at least one"):
            await world.volumes.remove_orphans([])

    def test_states_come_from_the_listing_given(self):
        world = World()
        listing = {"jupyterlab-ann_home": VolumeInfo("jupyterlab-ann_home", 2048)}
        states = world.volumes.states_from("ann", listing)
        assert [(s.label, s.name, s.exists, s.size_bytes) for s in states] == [
            ("home", "jupyterlab-ann_home", True, 2048),
            ("cache", "jupyterlab-ann_cache", False, None),
        ]
