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
    InMemoryServerStopStore,
    InMemorySessionStore,
    InMemoryVolumeStore,
    ManualClock,
    SequencePasswordGenerator,
)
from stellars.adapters.vault import ProcessMemoryVault
from stellars.domain.activity import RecordedSample
from stellars.domain.credentials import NewAccount, PassphrasePolicy, VaultPolicy
from stellars.domain.errors import InvalidValue, Refused
from stellars.domain.hub import HubUser
from stellars.domain.services import (
    CredentialService,
    FollowUp,
    UserLifecycleService,
    VolumeService,
)
from stellars.domain.sessions import SessionDeadline
from stellars.domain.settings import OrphanVolumePolicy
from stellars.domain.stops import ServerStop, StopReason
from stellars.domain.volume_ownership import owner_key
from stellars.domain.volumes import DockerNaming, VolumeInfo, VolumeOutcome, user_volumes
from tests.builders import VolumeSizes
from tests.strategies import EPOCH

NAMING = DockerNaming(prefix="jupyterlab", name_template="jupyterlab-{username}")
VOLUMES = user_volumes({"jupyterlab-{username}_home": "/home", "jupyterlab-{username}_cache": "/c"})


class SlowAccounts(InMemoryCredentialStore):
    """Accounts whose creation takes a while, as bcrypt does, so tests can act meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.hashing = asyncio.Event()
        self.release = asyncio.Event()

    async def create_account(self, username: str, password: str) -> NewAccount:
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
        self.sizes = VolumeSizes(self.store, self.clock)
        self.volumes = VolumeService(
            store=self.store,
            directory=self.directory,
            volumes=VOLUMES,
            naming=NAMING,
            sizes=self.sizes,
        )
        self.lifecycle = UserLifecycleService(
            credentials=self.credentials,
            activity=self.activity,
            sessions=self.sessions,
            volumes=self.volumes,
            orphan_policy=policy,
            on_users_changed=self.count_user_change,
        )
        self.user_changes = 0

    def count_user_change(self) -> None:
        self.user_changes += 1

    @property
    def refreshes(self) -> int:
        return self.sizes.requests

    async def seed(self, username: str) -> None:
        await self.activity.add([RecordedSample(username, EPOCH, True, EPOCH)])
        await self.sessions.put(SessionDeadline(username, "", EPOCH, EPOCH + timedelta(hours=1)))


async def test_each_created_renamed_and_deleted_user_is_announced_at_once():
    world = World()
    world.lifecycle.created("ann")
    assert world.user_changes == 1  # before any background work: a view can drop its cache
    world.lifecycle.renamed("ann", "anna")
    world.lifecycle.deleted("anna")
    assert world.user_changes == 3
    await world.lifecycle.stop()


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

    async def test_an_admin_asking_right_after_creating_gets_the_passphrase_once(self):
        world = World()
        world.accounts.release.clear()
        for name in ("ann", "bob"):
            world.lifecycle.created(name)
        await world.accounts.hashing.wait()
        asking = asyncio.ensure_future(world.lifecycle.collect_passphrases(["ann", "nobody"]))
        await asyncio.sleep(0)
        assert not asking.done()  # waits for the passphrase still being hashed
        world.accounts.release.set()
        handed = await asking
        assert list(handed) == ["ann"]  # only the names asked for
        assert handed["ann"].username == "ann" and handed["ann"].replaced_sign_up is False
        assert world.accounts.passwords["ann"] == handed["ann"].password  # the one it logs in with
        assert await world.lifecycle.collect_passphrases(["ann"]) == {}  # handed out once
        assert set(await world.lifecycle.collect_passphrases(["bob"])) == {"bob"}

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
        removal = await world.volumes.remove_orphans(
            ["jupyterlab-gone_home", "jupyterlab-ann_home", "jupyterlab-never_home"]
        )
        assert removal.outcomes == {
            "jupyterlab-gone_home": VolumeOutcome.REMOVED,
            "jupyterlab-ann_home": None,
            "jupyterlab-never_home": VolumeOutcome.NOT_FOUND,
        }
        with pytest.raises(InvalidValue, match="at least one"):
            await world.volumes.remove_orphans([])

    def test_states_come_from_the_listing_given(self):
        world = World()
        listing = {"jupyterlab-ann_home": VolumeInfo("jupyterlab-ann_home", 2048)}
        states = world.volumes.states_from(HubUser(name="ann"), listing)
        assert [(s.label, s.name, s.exists, s.size_bytes) for s in states] == [
            ("home", "jupyterlab-ann_home", True, 2048),
            ("cache", "jupyterlab-ann_cache", False, None),
        ]


async def drain() -> None:
    """Let every task that can run do so, generously (no test depends on how many turns)."""
    for _ in range(100):
        await asyncio.sleep(0)


class TestTheFollowUpReport:
    def test_a_deletion_with_nothing_to_follow(self):
        report = FollowUp("ann")
        assert (report.new_name, report.activity_samples, report.session_deadlines) == (
            None,
            0,
            0,
        )
        assert (report.volumes, report.errors) == ({}, {})
        assert report.summary == (
            "ann deleted: followed by 0 activity sample(s), 0 session deadline(s), "
            "no volume removed"
        )

    def test_a_rename_lists_the_removed_volumes_sorted(self):
        report = FollowUp(
            "ann",
            "anna",
            activity_samples=12,
            session_deadlines=2,
            volumes={
                "lab-ann_work": VolumeOutcome.REMOVED,
                "lab-ann_cache": VolumeOutcome.IN_USE,
                "lab-ann_home": VolumeOutcome.REMOVED,
                "lab-ann_gone": None,
            },
        )
        assert report.summary == (
            "ann renamed to anna: followed by 12 activity sample(s), 2 session deadline(s), "
            "volumes removed: lab-ann_home, lab-ann_work"
        )

    def test_failed_parts_are_appended_in_order_with_their_reasons(self):
        report = FollowUp(
            "ann",
            activity_samples=None,
            session_deadlines=None,
            volumes=None,
            errors={"activity": "locked", "sessions": "gone", "volumes": "engine down"},
        )
        assert report.summary == (
            "ann deleted: followed by None activity sample(s), None session deadline(s), "
            "no volume removed; activity FAILED: locked; sessions FAILED: gone; "
            "volumes FAILED: engine down"
        )


class TestTheFollowUps:
    async def test_a_rename_reports_what_moved_and_logs_it(self, caplog):
        world = World()
        await world.seed("ann")
        await world.activity.add([RecordedSample("ann", EPOCH, False, EPOCH)])
        with caplog.at_level(logging.INFO, logger="stellars.domain.services.users"):
            report = await world.lifecycle.follow_rename("ann", "anna")
        assert report == FollowUp("ann", "anna", 2, 1, {}, {})
        assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
            (
                "stellars.domain.services.users",
                "INFO",
                "ann renamed to anna: followed by 2 activity sample(s), "
                "1 session deadline(s), no volume removed",
            )
        ]

    async def test_a_deletion_reports_what_went(self):
        world = World()
        await world.seed("ann")
        await world.seed("bob")
        assert await world.lifecycle.follow_delete("ann") == FollowUp("ann", None, 1, 1, {}, {})
        assert [row.username for row in world.activity.rows] == ["bob"]

    async def test_under_delete_a_rename_removes_the_old_names_orphaned_volumes(self):
        world = World(OrphanVolumePolicy.DELETE)
        world.store.create("jupyterlab-ann_home")
        world.store.create("jupyterlab-anna_home")
        world.directory.put(HubUser(name="anna", id=5, created=EPOCH))
        report = await world.lifecycle.follow_rename("ann", "anna")
        assert report.volumes == {
            "jupyterlab-ann_home": VolumeOutcome.REMOVED,
            "jupyterlab-ann_cache": VolumeOutcome.NOT_FOUND,
        }
        assert report.errors == {}
        assert set(world.store.sizes) == {"jupyterlab-anna_home"}
        assert world.refreshes == 1

    async def test_under_delete_nothing_removed_is_no_refresh(self):
        world = World(OrphanVolumePolicy.DELETE)
        world.store.create("jupyterlab-ann_home", owner=owner_key(9, EPOCH))
        world.directory.put(HubUser(name="ann", id=9, created=EPOCH))
        report = await world.lifecycle.follow_delete("ann")
        assert report.volumes == {
            "jupyterlab-ann_home": None,
            "jupyterlab-ann_cache": VolumeOutcome.NOT_FOUND,
        }
        assert world.refreshes == 0

    async def test_under_delete_without_user_volumes_configured_nothing_is_asked(self):
        world = World(OrphanVolumePolicy.DELETE)
        world.lifecycle._volumes = VolumeService(
            store=world.store,
            directory=world.directory,
            volumes=(),
            naming=NAMING,
            sizes=world.sizes,
        )
        report = await world.lifecycle.follow_delete("ann")
        assert (report.volumes, report.errors) == ({}, {})

    async def test_every_failing_part_is_named_and_the_report_logged_as_an_error(self, caplog):
        world = World(OrphanVolumePolicy.DELETE)

        async def locked(username: str) -> int:
            raise RuntimeError("database is locked")

        async def silent(username: str) -> int:
            raise RuntimeError()

        async def engine_down(names: object) -> dict[str, VolumeOutcome | None]:
            raise ConnectionError("engine down")

        world.activity.delete_user = locked  # type: ignore[method-assign]
        world.sessions.delete_user = silent  # type: ignore[method-assign]
        world.volumes.remove_orphans = engine_down  # type: ignore[method-assign]
        with caplog.at_level(logging.INFO, logger="stellars.domain.services.users"):
            report = await world.lifecycle.follow_delete("ann")
        errors = {"activity": "database is locked", "sessions": "RuntimeError"}
        errors["volumes"] = "engine down"
        assert report == FollowUp("ann", None, None, None, None, errors)
        assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
            (
                "ERROR",
                "ann deleted: followed by None activity sample(s), None session deadline(s), "
                "no volume removed; activity FAILED: database is locked; "
                "sessions FAILED: RuntimeError; volumes FAILED: engine down",
            )
        ]

    async def test_a_failing_part_leaves_the_others_values(self):
        world = World()
        await world.seed("ann")

        async def gone(username: str) -> int:
            raise LookupError("no table")

        world.sessions.delete_user = gone  # type: ignore[method-assign]
        report = await world.lifecycle.follow_delete("ann")
        assert report == FollowUp("ann", None, 1, None, {}, {"sessions": "no table"})

    async def test_the_log_can_be_the_callers_own(self, caplog):
        world = World()
        own = logging.getLogger("tests.lifecycle")
        lifecycle = UserLifecycleService(
            credentials=world.credentials,
            activity=world.activity,
            sessions=world.sessions,
            volumes=world.volumes,
            orphan_policy=OrphanVolumePolicy.KEEP,
            log=own,
        )
        with caplog.at_level(logging.INFO):
            await lifecycle.follow_delete("ann")
        assert [r.name for r in caplog.records] == ["tests.lifecycle"]


class TestTheBackgroundWork:
    async def test_an_issued_passphrase_is_logged(self, caplog):
        world = World()
        with caplog.at_level(logging.INFO, logger="stellars.domain.services.users"):
            world.lifecycle.created("ann")
            world.lifecycle.created("admin")  # exempt: nothing issued, nothing logged
            await world.lifecycle.settled(["ann", "admin"])
        assert [r.getMessage() for r in caplog.records] == [
            "generated a passphrase for ann; it waits for an admin"
        ]

    async def test_failed_work_is_logged_with_the_names_and_the_next_turn_still_runs(self, caplog):
        world = World()
        await world.seed("ann")
        await world.seed("anna")

        def broken(old: str, new: str) -> object:  # breaks before it is even awaited
            raise RuntimeError("store closed")

        world.activity.rename_user = broken  # type: ignore[assignment,method-assign]
        with caplog.at_level(logging.INFO, logger="stellars.domain.services.users"):
            world.lifecycle.renamed("ann", "anna")
            world.lifecycle.deleted("anna")  # chained after the rename
            await world.lifecycle.stop()
            await world.lifecycle.settled(["ann", "anna"])
        failed = [r for r in caplog.records if r.levelname == "ERROR"]
        assert [r.getMessage() for r in failed] == ["following user ann -> anna failed"]
        assert failed[0].exc_info is not None
        assert str(failed[0].exc_info[1]) == "store closed"
        assert [row.username for row in world.activity.rows] == ["ann"]
        assert list(world.sessions.deadlines) == [("ann", "")]

    async def test_a_deletion_waits_for_the_passphrase_being_made(self):
        world = World()
        world.accounts.release.clear()
        world.lifecycle.created("ann")
        await world.accounts.hashing.wait()
        await world.seed("ann")
        world.lifecycle.deleted("ann")
        await drain()
        assert [row.username for row in world.activity.rows] == ["ann"]
        world.accounts.release.set()
        await world.lifecycle.stop()
        assert world.activity.rows == []

    async def test_a_rename_waits_for_work_on_the_new_name_too(self):
        world = World()
        world.accounts.release.clear()
        world.lifecycle.created("anna")
        await world.accounts.hashing.wait()
        await world.seed("ann")
        world.lifecycle.renamed("ann", "anna")
        await drain()
        assert [row.username for row in world.activity.rows] == ["ann"]
        world.accounts.release.set()
        await world.lifecycle.stop()
        assert [row.username for row in world.activity.rows] == ["anna"]

    async def test_nothing_is_kept_for_names_whose_work_is_done(self):
        world = World()
        world.lifecycle.created("ann")
        world.lifecycle.renamed("bob", "bo")
        world.lifecycle.deleted("cy")
        await world.lifecycle.stop()
        await drain()
        assert (world.lifecycle._chains, world.lifecycle._issuing) == ({}, {})

    async def test_settled_and_stop_wait_thirty_seconds_at_most(self, monkeypatch):
        timeouts: list[float | None] = []
        real_wait = asyncio.wait

        async def wait(tasks, *, timeout=None):  # type: ignore[no-untyped-def]
            timeouts.append(timeout)
            return await real_wait(tasks, timeout=timeout)

        world = World()
        world.accounts.release.clear()
        world.lifecycle.created("ann")
        await world.accounts.hashing.wait()
        monkeypatch.setattr(asyncio, "wait", wait)
        waiting = asyncio.gather(world.lifecycle.settled(["ann"]), world.lifecycle.stop())
        await drain()
        world.accounts.release.set()
        await waiting
        monkeypatch.undo()
        assert sorted(timeouts) == [30, 30]  # type: ignore[type-var]

    async def test_settled_without_work_in_flight_returns_at_once(self, monkeypatch):
        world = World()
        calls: list[object] = []
        monkeypatch.setattr(asyncio, "wait", lambda *a, **k: calls.append(a))
        await world.lifecycle.settled(["ann"])
        await world.lifecycle.stop()
        monkeypatch.undo()
        assert calls == []


class TestAbandonedPassphrases:
    async def test_a_rename_without_a_passphrase_in_flight_issues_none(self):
        world = World()
        world.lifecycle.renaming("admin", "boss")  # the exempt admin has no account
        world.lifecycle.renamed("admin", "boss")
        await world.lifecycle.stop()
        await world.lifecycle.settled(["boss"])
        assert world.accounts.passwords == {}
        assert world.credentials.collect(["admin", "boss"]) == {}

    async def test_a_deletion_without_a_passphrase_in_flight_that_rolls_back_issues_none(self):
        world = World()
        world.lifecycle.deleting("admin")
        world.lifecycle.rolled_back("admin")
        world.lifecycle.deleting("zed")  # a user created before the platform: no account
        world.lifecycle.rolled_back("zed")
        await world.lifecycle.stop()
        assert world.accounts.passwords == {}

    async def test_a_passphrase_already_made_is_not_abandoned(self):
        world = World()
        world.lifecycle.created("ann")
        await world.lifecycle.settled(["ann"])
        world.lifecycle.renaming("ann", "anna")
        world.lifecycle.rolled_back("ann")
        await world.lifecycle.stop()
        assert set(world.accounts.passwords) == {"anna"}

    async def test_once_a_deletion_commits_a_later_rollback_issues_nothing(self):
        world = World()
        world.accounts.release.clear()
        world.lifecycle.created("ann")
        await world.accounts.hashing.wait()
        world.lifecycle.deleting("ann")
        world.lifecycle.deleted("ann")
        world.accounts.release.set()
        await world.lifecycle.stop()
        world.lifecycle.rolled_back("ann")
        await world.lifecycle.stop()
        await world.lifecycle.settled(["ann"])
        assert world.accounts.passwords == {}
        assert world.credentials.collect(["ann"]) == {}

    async def test_a_rolled_back_deletion_issues_the_abandoned_passphrase(self):
        world = World()
        world.accounts.release.clear()
        world.lifecycle.created("ann")
        await world.accounts.hashing.wait()
        world.lifecycle.deleting("ann")
        world.lifecycle.rolled_back("ann")
        world.accounts.release.set()
        await world.lifecycle.stop()
        await world.lifecycle.settled(["ann"])
        assert set(world.credentials.collect(["ann"])) == {"ann"}


class TestTheLastStopsFollow:
    """A renamed user keeps their servers' last stops; a deleted one's go, so that a new user
    of the same name is never told how someone else's server stopped."""

    @staticmethod
    def world_with_stops() -> tuple[World, InMemoryServerStopStore]:
        world = World()
        stops = InMemoryServerStopStore()
        world.lifecycle = UserLifecycleService(
            credentials=world.credentials,
            activity=world.activity,
            sessions=world.sessions,
            volumes=world.volumes,
            orphan_policy=OrphanVolumePolicy.KEEP,
            stops=stops,
        )
        return world, stops

    @staticmethod
    def stop(user: str, server: str = "") -> ServerStop:
        return ServerStop(username=user, server=server, at=EPOCH, reason=StopReason.EXITED)

    async def test_a_rename_moves_them_and_says_how_many(self, caplog):
        world, stops = self.world_with_stops()
        await stops.record(self.stop("ann"))
        await stops.record(self.stop("ann", "gpu"))
        with caplog.at_level(logging.INFO, logger="stellars.domain.services.users"):
            report = await world.lifecycle.follow_rename("ann", "anna")
        assert report == FollowUp("ann", "anna", 0, 0, {}, {}, server_stops=2)
        assert set(stops.stops) == {("anna", ""), ("anna", "gpu")}
        assert caplog.records[0].getMessage() == (
            "ann renamed to anna: followed by 0 activity sample(s), 0 session deadline(s), "
            "2 server stop(s), no volume removed"
        )

    async def test_a_deletion_forgets_them(self):
        world, stops = self.world_with_stops()
        await stops.record(self.stop("ann"))
        await stops.record(self.stop("bob"))
        report = await world.lifecycle.follow_delete("ann")
        assert (report.server_stops, report.errors) == (1, {})
        assert set(stops.stops) == {("bob", "")}

    async def test_a_failing_store_is_named_and_the_rest_is_done(self):
        world, stops = self.world_with_stops()
        await world.seed("ann")

        async def locked(username: str) -> int:
            raise RuntimeError("database is locked")

        stops.delete_user = locked  # type: ignore[method-assign]
        report = await world.lifecycle.follow_delete("ann")
        assert report == FollowUp(
            "ann", None, 1, 1, {}, {"stops": "database is locked"}, server_stops=None
        )
        assert report.summary == (
            "ann deleted: followed by 1 activity sample(s), 1 session deadline(s), "
            "None server stop(s), no volume removed; stops FAILED: database is locked"
        )

    async def test_without_a_store_there_is_nothing_to_follow(self):
        report = await World().lifecycle.follow_delete("ann")
        assert (report.server_stops, report.errors) == (0, {})
