"""VolumeService's ownership side, to the letter: states from a snapshot, provisioning for the
account before a spawn, removing every volume of a name, and removing orphans only while they
are orphaned."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stellars.adapters.memory import InMemoryHubDirectory, InMemoryVolumeStore, ManualClock
from stellars.domain.errors import InvalidValue, Refused
from stellars.domain.hub import HubUser
from stellars.domain.services import OrphansListing, UserVolumeState, VolumeService
from stellars.domain.volume_ownership import owner_key
from stellars.domain.volumes import (
    DockerNaming,
    VolumeInfo,
    VolumeOutcome,
    user_volumes,
)
from tests.builders import VolumeSizes
from tests.strategies import EPOCH

NAMING = DockerNaming(prefix="lab", name_template="lab-{username}")
VOLUMES = user_volumes(
    {
        "lab-{username}_home": "/home/jovyan",
        "lab-{username}_work": {"bind": "/work", "mode": "rw"},
        "lab-{username}_cache": "/home/jovyan/.cache",
    }
)
ANN = owner_key(3, EPOCH)


class World:
    def __init__(self) -> None:
        self.clock = ManualClock(EPOCH + timedelta(days=1))
        self.store = InMemoryVolumeStore(clock=self.clock)
        self.directory = InMemoryHubDirectory()
        self.sizes = VolumeSizes(self.store, self.clock)
        self.service = VolumeService(
            store=self.store,
            directory=self.directory,
            volumes=VOLUMES,
            naming=NAMING,
            sizes=self.sizes,
        )


class TestStatesFromASnapshot:
    def test_every_configured_volume_with_its_mount_point_and_size_when_listed(self):
        listing = {
            "lab-ann_work": VolumeInfo("lab-ann_work", 2048),
            "lab-ann_cache": VolumeInfo("lab-ann_cache", None),
            "lab-bob_home": VolumeInfo("lab-bob_home", 1),
        }
        assert World().service.states_from(HubUser(name="ann"), listing) == [
            UserVolumeState("home", "lab-ann_home", "/home/jovyan", False, None, True),
            UserVolumeState("work", "lab-ann_work", "/work", True, 2048, True),
            UserVolumeState("cache", "lab-ann_cache", "/home/jovyan/.cache", True, None, True),
        ]

    def test_another_accounts_volume_is_marked_and_its_size_left_out(self):
        ann = HubUser(name="ann", id=3, created=EPOCH)
        listing = {
            "lab-ann_home": VolumeInfo("lab-ann_home", 10, owner=owner_key(1, EPOCH)),
            "lab-ann_work": VolumeInfo("lab-ann_work", 20, owner=ANN),
            "lab-ann_cache": VolumeInfo(
                "lab-ann_cache", 30, created_at=EPOCH - timedelta(seconds=1)
            ),
        }
        states = World().service.states_from(ann, listing)
        assert [(s.label, s.exists, s.owned, s.size_bytes) for s in states] == [
            ("home", True, False, None),
            ("work", True, True, 20),
            ("cache", True, False, None),  # unmarked, and older than the account
        ]

    def test_an_unmarked_volume_from_the_accounts_second_on_is_its_own(self):
        ann = HubUser(name="ann", id=3, created=EPOCH + timedelta(microseconds=500))
        listing = {"lab-ann_home": VolumeInfo("lab-ann_home", 10, created_at=EPOCH)}
        home = World().service.states_from(ann, listing)[0]
        assert (home.owned, home.size_bytes) == (True, 10)

    def test_an_account_the_hub_does_not_identify_owns_no_marked_volume(self):
        listing = {"lab-ann_home": VolumeInfo("lab-ann_home", 10, owner=ANN)}
        home = World().service.states_from(HubUser(name="ann"), listing)[0]
        assert (home.exists, home.owned, home.size_bytes) == (True, False, None)

    def test_before_a_first_measurement_existence_and_ownership_are_unknown(self):
        ann = HubUser(name="ann", id=3, created=EPOCH)
        listing = {
            "lab-ann_home": VolumeInfo("lab-ann_home", 10, owner=owner_key(1, EPOCH)),
            "lab-ann_work": VolumeInfo("lab-ann_work", 20, owner=ANN),
        }
        states = World().service.states_from(ann, listing, measured=False)
        assert [(s.exists, s.owned, s.size_bytes) for s in states] == [
            (None, None, None),
            (None, None, 20),
            (None, None, None),
        ]


class TestProvisioning:
    async def test_the_missing_volumes_are_created_in_order_marked_and_dated(self):
        world = World()
        world.store.create("lab-ann_work", 5, owner=ANN)
        created = await world.service.provision_for_spawn("ann", user_id=3, created=EPOCH)
        assert created == ["lab-ann_home", "lab-ann_cache"]
        assert world.store.owners == {
            "lab-ann_work": ANN,
            "lab-ann_home": ANN,
            "lab-ann_cache": ANN,
        }
        assert world.store.created["lab-ann_home"] == EPOCH + timedelta(days=1)
        assert world.store.sizes["lab-ann_work"] == 5  # an existing volume is left alone

    async def test_an_account_the_hub_does_not_identify_gets_unmarked_volumes(self):
        world = World()
        created = await world.service.provision_for_spawn("ann", user_id=None, created=None)
        assert created == ["lab-ann_home", "lab-ann_work", "lab-ann_cache"]
        assert set(world.store.owners.values()) == {None}

    async def test_unmarked_volumes_of_the_account_itself_are_kept(self):
        world = World()
        world.store.create("lab-ann_home", created_at=EPOCH)  # DockerSpawner's, same second
        created = await world.service.provision_for_spawn(
            "ann", user_id=3, created=EPOCH + timedelta(microseconds=900)
        )
        assert created == ["lab-ann_work", "lab-ann_cache"]
        assert world.store.owners["lab-ann_home"] is None

    async def test_the_refusal_lists_every_foreign_volume_and_what_to_do(self):
        world = World()
        world.store.create("lab-ann_home", owner=owner_key(1, EPOCH))
        world.store.create("lab-ann_work", owner=ANN)
        world.store.create("lab-ann_cache", created_at=EPOCH - timedelta(days=2))
        with pytest.raises(Refused) as refused:
            await world.service.provision_for_spawn("ann", user_id=3, created=EPOCH)
        assert refused.value.reason == (
            "The server of ann cannot start: the volume(s) lab-ann_cache, lab-ann_home were "
            "left by an earlier user of the same name. An admin must delete them (admin page, "
            "Orphaned volumes) first; they are never handed to a new account."
        )
        assert set(world.store.sizes) == {"lab-ann_home", "lab-ann_work", "lab-ann_cache"}


class TestRemoveOrphans:
    async def test_naming_none_is_refused(self):
        with pytest.raises(InvalidValue) as refused:
            await World().service.remove_orphans([])
        assert (refused.value.field, refused.value.message) == (
            "volumes",
            "name at least one orphaned volume",
        )

    async def test_only_the_orphaned_are_removed_and_each_name_gets_its_outcome(self):
        world = World()
        world.directory.put(HubUser(name="ann", id=3, created=EPOCH))
        world.store.create("lab-ann_home", owner=ANN)  # ann's own
        world.store.create("lab-ann_work", owner=owner_key(1, EPOCH))  # an earlier ann's
        world.store.create("lab-gone_home")  # nobody is named gone
        world.store.create("lab-gone_cache")
        world.store.in_use.add("lab-gone_cache")
        world.store.create("unrelated")  # named for no user at all
        removal = await world.service.remove_orphans(
            ["lab-ann_home", "lab-ann_work", "lab-gone_home", "lab-gone_cache", "unrelated", "x"]
        )
        outcomes = removal.outcomes
        assert removal.removed == ("lab-ann_work", "lab-gone_home")
        assert removal.message == (
            "Deleted 2 of 6 volume(s); lab-ann_home: not orphaned; lab-gone_cache: in use; "
            "unrelated: not orphaned; x: not found."
        )
        assert outcomes == {
            "lab-ann_home": None,
            "lab-ann_work": VolumeOutcome.REMOVED,
            "lab-gone_home": VolumeOutcome.REMOVED,
            "lab-gone_cache": VolumeOutcome.IN_USE,
            "unrelated": None,
            "x": VolumeOutcome.NOT_FOUND,
        }
        assert list(outcomes) == [
            "lab-ann_home",
            "lab-ann_work",
            "lab-gone_home",
            "lab-gone_cache",
            "unrelated",
            "x",
        ]
        assert set(world.store.sizes) == {"lab-ann_home", "lab-gone_cache", "unrelated"}

    async def test_without_orphans_among_them_nothing_is_removed(self):
        world = World()
        world.directory.put(HubUser(name="ann", id=3, created=EPOCH))
        world.store.create("lab-ann_home", owner=ANN)
        removed: list[object] = []
        real_remove = world.store.remove

        async def remove(names):  # type: ignore[no-untyped-def]
            removed.append(list(names))
            return await real_remove(names)

        world.store.remove = remove  # type: ignore[method-assign]
        assert (await world.service.remove_orphans(["lab-ann_home", "x"])).outcomes == {
            "lab-ann_home": None,
            "x": VolumeOutcome.NOT_FOUND,
        }
        assert removed == []
        await world.service.remove_orphans(["lab-ann_work", "lab-b_home", "lab-a_home"])
        assert removed == []
        world.store.create("lab-b_home")
        world.store.create("lab-a_home")
        await world.service.remove_orphans(["lab-b_home", "lab-a_home"])
        assert removed == [["lab-a_home", "lab-b_home"]]  # sorted, once


class TestResetIsForTheAccountsOwnVolumes:
    """Security review M3: a new user who takes a former user's name must not delete that
    user's kept volumes through the reset route (the spawn is refused; so is the reset)."""

    async def test_a_former_users_volumes_are_refused_naming_them_and_all_stay(self):
        world = World()
        world.directory.put(HubUser(name="ann", id=3, created=EPOCH))
        world.store.create("lab-ann_home", owner=owner_key(1, EPOCH))  # an earlier ann's
        world.store.create("lab-ann_work", owner=ANN)  # ann's own
        world.store.create("lab-ann_cache", created_at=EPOCH - timedelta(days=2))  # unmarked, older
        with pytest.raises(Refused) as refused:
            await world.service.reset("ann", ["work", "home", "cache"])
        assert refused.value.reason == (
            "The volume(s) lab-ann_cache, lab-ann_home of ann were left by an earlier user of "
            "the same name, so they are not this account's to reset. An admin deletes them "
            "(admin page, Orphaned volumes)."
        )
        assert set(world.store.sizes) == {"lab-ann_home", "lab-ann_work", "lab-ann_cache"}
        assert world.sizes.requests == 0

    async def test_the_listing_marks_a_former_users_volume_and_hides_its_size(self):
        world = World()
        world.directory.put(HubUser(name="ann", id=3, created=EPOCH))
        world.store.create("lab-ann_home", 4096, owner=owner_key(1, EPOCH))
        world.store.create("lab-ann_work", 2048, owner=ANN)
        await world.sizes.refresh_now()
        states = (await world.service.for_user("ann")).volumes
        assert [(s.label, s.exists, s.owned, s.size_bytes) for s in states] == [
            ("home", True, False, None),
            ("work", True, True, 2048),
            ("cache", False, True, None),
        ]

    async def test_the_accounts_own_volumes_are_reset_and_a_missing_one_is_not_found(self):
        world = World()
        world.directory.put(HubUser(name="ann", id=3, created=EPOCH))
        world.store.create("lab-ann_home", owner=ANN)
        world.store.create("lab-ann_work", created_at=EPOCH)  # DockerSpawner's, same second
        report = await world.service.reset("ann", ["home", "work", "cache"])
        assert [(r.volume, r.outcome) for r in report.results] == [
            ("lab-ann_home", VolumeOutcome.REMOVED),
            ("lab-ann_work", VolumeOutcome.REMOVED),
            ("lab-ann_cache", VolumeOutcome.NOT_FOUND),
        ]
        assert world.store.sizes == {}
        assert world.sizes.requests == 1

    async def test_one_foreign_volume_among_the_chosen_stops_the_whole_reset(self):
        world = World()
        world.directory.put(HubUser(name="ann", id=3, created=EPOCH))
        world.store.create("lab-ann_home", owner=ANN)
        world.store.create("lab-ann_work", owner=owner_key(3, EPOCH - timedelta(days=1)))
        with pytest.raises(Refused, match=r"^The volume\(s\) lab-ann_work of ann were left"):
            await world.service.reset("ann", ["home", "work"])
        assert set(world.store.sizes) == {"lab-ann_home", "lab-ann_work"}
        # A reset of the own volume alone goes ahead.
        report = await world.service.reset("ann", ["home"])
        assert report.removed == ("home",)

    async def test_an_account_the_hub_does_not_identify_resets_no_marked_volume(self):
        world = World()
        world.directory.put(HubUser(name="ann"))
        world.store.create("lab-ann_home", owner=ANN)
        world.store.create("lab-ann_cache")
        with pytest.raises(Refused, match="lab-ann_home of ann"):
            await world.service.reset("ann", ["home", "cache"])
        assert (await world.service.reset("ann", ["cache"])).removed == ("cache",)


class TestNamesAndListings:
    def test_a_username_is_checked_against_the_configured_names(self):
        service = World().service
        # The longest name is lab-{username}_cache: ten characters beside the username.
        assert service.username_problem("a" * 245) is None
        assert service.username_problem("a" * 246) == (
            "is too long for Docker: the volume name lab-" + "a" * 37 + "..._cache would be "
            "256 characters (at most 255)"
        )

    async def test_the_orphans_listing_says_when_it_was_measured(self):
        world = World()
        world.store.create("lab-gone_home")
        assert await world.service.orphans() == OrphansListing(None, ())  # not measured yet
        await world.sizes.refresh_now()
        measured_at = world.clock.now()
        world.clock.advance(timedelta(minutes=5))
        listing = await world.service.orphans()
        assert listing.measured_at == measured_at
        assert [volume.name for volume in listing.orphaned] == ["lab-gone_home"]
