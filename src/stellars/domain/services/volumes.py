"""Per-user volumes: list them with sizes, reset them, provision them for their owner before a
spawn, and find the orphaned ones; named exactly as DockerSpawner names them.

Ownership (who may mount or reset a volume that bears a user's name) follows
`stellars.domain.volume_ownership`: a spawn is refused rather than handed another account's
volumes, a reset is refused rather than let delete them, and a user's listing marks them
instead of showing their sizes as the user's.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from stellars.domain.errors import InvalidValue, Refused
from stellars.domain.hub import HubUser
from stellars.domain.volume_ownership import (
    OrphanedVolume,
    claimed_by,
    find_orphans,
    foreign_volumes,
    owner_key,
)
from stellars.domain.volumes import (
    DockerNaming,
    ResetReport,
    UserVolume,
    VolumeInfo,
    VolumeOutcome,
    VolumeResult,
    docker_name_problem,
    plan_reset,
)
from stellars.ports.hub_directory import HubDirectory
from stellars.ports.volumes import VolumeStore

from .lookup import existing_user
from .refresh import Refresher, Snapshot

VolumeListing: TypeAlias = Mapping[str, VolumeInfo]


@dataclass(frozen=True, slots=True)
class UserVolumeState:
    """One configured volume of a user: its engine name and, if it exists, its size.

    `owned` is False for a volume of that name that another account left (an earlier user of
    the same name): it is never mounted or reset for this one, and its size, which is not this
    user's, is not shown. `exists` and `owned` are None until the volumes have been measured
    once.
    """

    label: str
    name: str
    mount_point: str
    exists: bool | None
    size_bytes: int | None
    owned: bool | None


@dataclass(frozen=True, slots=True)
class UserVolumes:
    """One user's volumes as the last measurement (at `measured_at`) saw them."""

    username: str
    server_active: bool
    measured_at: datetime | None
    volumes: tuple[UserVolumeState, ...]


@dataclass(frozen=True, slots=True)
class VolumesOverview:
    """Every user's volumes and the orphaned ones, from one measurement."""

    measured_at: datetime | None
    users: tuple[UserVolumes, ...]
    orphaned: tuple[OrphanedVolume, ...]


@dataclass(frozen=True, slots=True)
class OrphansListing:
    """The orphaned volumes of one measurement."""

    measured_at: datetime | None
    orphaned: tuple[OrphanedVolume, ...]


@dataclass(frozen=True, slots=True)
class OrphanRemoval:
    """What a request to delete orphaned volumes did to each name it gave: the outcome on the
    engine, or None for a name that is not (or no longer) orphaned and was left alone."""

    outcomes: Mapping[str, VolumeOutcome | None]

    @property
    def removed(self) -> tuple[str, ...]:
        return tuple(n for n, o in self.outcomes.items() if o is VolumeOutcome.REMOVED)

    @staticmethod
    def describe(outcome: VolumeOutcome | None) -> str:
        return "not orphaned" if outcome is None else outcome.value

    @property
    def message(self) -> str:
        """ "Deleted 1 of 2 volume(s); b: not orphaned." (never claims more than was done)."""
        problems = [
            f"{name}: {self.describe(outcome)}"
            for name, outcome in self.outcomes.items()
            if outcome is not VolumeOutcome.REMOVED
        ]
        head = f"Deleted {len(self.removed)} of {len(self.outcomes)} volume(s)"
        return "; ".join([head, *problems]) + "."


class VolumeService:
    """Lists and resets the per-user volumes named exactly as DockerSpawner names them.

    Sizes come from `sizes`, the background measurement of every volume on the engine (a web
    request never waits on Docker for them); every change the service makes asks it for a new
    measurement at once.
    """

    def __init__(
        self,
        *,
        store: VolumeStore,
        directory: HubDirectory,
        volumes: tuple[UserVolume, ...],
        naming: DockerNaming,
        sizes: Refresher[VolumeListing],
    ) -> None:
        self._store = store
        self._directory = directory
        self.volumes = volumes
        self.naming = naming
        self.sizes = sizes

    def username_problem(self, username: str) -> str | None:
        """Why DockerSpawner's names for this user would not fit Docker's limits ("is too long
        for Docker: ..."), or None when they fit."""
        return docker_name_problem(username, self.naming, self.volumes)

    def names_for(self, username: str) -> dict[str, str]:
        """label -> engine volume name for one user."""
        return {v.label: v.name_for(username, self.naming) for v in self.volumes}

    async def for_user(self, username: str) -> UserVolumes:
        """One user's volumes with their last measured sizes. Raises NotFound."""
        user = await existing_user(self._directory, username)
        return self._user_volumes(user, self.sizes.snapshot())

    async def overview(self) -> VolumesOverview:
        """Every user's volumes and the orphaned ones, from the last measurement."""
        users = await self._directory.list_users()
        snapshot = self.sizes.snapshot()
        return VolumesOverview(
            measured_at=snapshot.refreshed_at,
            users=tuple(self._user_volumes(user, snapshot) for user in users),
            orphaned=tuple(self.orphans_in(snapshot.value.values(), users)),
        )

    async def orphans(self) -> OrphansListing:
        """The orphaned volumes of the last measurement."""
        users = await self._directory.list_users()
        snapshot = self.sizes.snapshot()
        return OrphansListing(
            snapshot.refreshed_at, tuple(self.orphans_in(snapshot.value.values(), users))
        )

    def _user_volumes(self, user: HubUser, snapshot: Snapshot[VolumeListing]) -> UserVolumes:
        return UserVolumes(
            username=user.name,
            server_active=user.has_active_server,
            measured_at=snapshot.refreshed_at,
            volumes=tuple(self.states_from(user, snapshot.value, measured=snapshot.ready)),
        )

    async def reset(self, username: str, labels: Sequence[str]) -> ResetReport:
        """Remove chosen volumes of a stopped server, all of them the account's own (checked on
        the engine, not on a snapshot).

        Raises InvalidValue, Conflict, NotFound, and Refused when a chosen volume belongs to
        another account (an earlier user of the same name): then nothing is removed, since
        that volume is an orphan for an admin to delete.
        """
        user = await existing_user(self._directory, username)
        chosen = plan_reset(labels, self.volumes, server_active=user.has_active_server)
        names = {volume.label: volume.name_for(username, self.naming) for volume in chosen}
        existing = await self._store.describe(names.values())
        foreign = foreign_volumes(
            existing, owner=owner_key(user.id, user.created), created=user.created
        )
        if foreign:
            listed = ", ".join(info.name for info in foreign)
            raise Refused(
                f"The volume(s) {listed} of {username} were left by an earlier user of the same "
                "name, so they are not this account's to reset. An admin deletes them (admin "
                "page, Orphaned volumes)."
            )
        outcomes = await self._store.remove(list(names.values()))
        self.sizes.request_refresh()  # the sizes shown next reflect the reset
        return ResetReport(
            username,
            tuple(VolumeResult(label, name, outcomes[name]) for label, name in names.items()),
        )

    def states_from(
        self, user: HubUser, listing: VolumeListing, *, measured: bool = True
    ) -> list[UserVolumeState]:
        """Every configured volume of a user as an engine listing (name -> info) shows it,
        each marked with whether it is the account's own (see UserVolumeState); `measured`
        False: the listing is not a measurement yet, so existence and ownership are unknown."""
        owner = owner_key(user.id, user.created)
        states = []
        for volume in self.volumes:
            name = volume.name_for(user.name, self.naming)
            info = listing.get(name)
            owned = info is None or claimed_by(info, owner, user.created)
            states.append(
                UserVolumeState(
                    label=volume.label,
                    name=name,
                    mount_point=volume.mount_point,
                    exists=(info is not None) if measured else None,
                    size_bytes=info.size_bytes if info is not None and owned else None,
                    owned=owned if measured else None,
                )
            )
        return states

    def orphans_in(
        self, listing: Iterable[VolumeInfo], users: Iterable[HubUser]
    ) -> list[OrphanedVolume]:
        """The volumes of a listing named for a user but owned by no current account."""
        return find_orphans(listing, users, self.volumes, self.naming)

    async def provision_for_spawn(
        self, username: str, *, user_id: int | None, created: datetime | None
    ) -> list[str]:
        """Make sure a user's volumes are theirs before the server mounts them: create the
        missing ones marked with the account's owner key (returned), and refuse the spawn when
        one of the names is taken by a volume of another account."""
        owner = owner_key(user_id, created)
        names = self.names_for(username)
        existing = await self._store.describe(names.values())
        foreign = foreign_volumes(existing, owner=owner, created=created)
        if foreign:
            listed = ", ".join(info.name for info in foreign)
            raise Refused(
                f"The server of {username} cannot start: the volume(s) {listed} were left by "
                "an earlier user of the same name. An admin must delete them (admin page, "
                "Orphaned volumes) first; they are never handed to a new account."
            )
        present = {info.name for info in existing}
        created_now = []
        for name in names.values():
            if name not in present:
                await self._store.provision(name, owner=owner)
                created_now.append(name)
        if created_now:
            self.sizes.request_refresh()  # the volume lists show them
        return created_now

    async def remove_orphans(self, names: Collection[str]) -> OrphanRemoval:
        """Remove the named volumes that are orphaned right now (checked on the engine, not on
        a snapshot); a name that is not, or no longer, orphaned maps to None and stays."""
        if not names:
            raise InvalidValue("volumes", "name at least one orphaned volume")
        existing = await self._store.describe(names)
        users = await self._directory.list_users()
        orphaned = {orphan.name for orphan in self.orphans_in(existing, users)}
        outcomes: dict[str, VolumeOutcome | None] = dict.fromkeys(names)
        present = {info.name for info in existing}
        for name in names:
            if name not in present:
                outcomes[name] = VolumeOutcome.NOT_FOUND
        if orphaned:
            outcomes.update(await self._store.remove(sorted(orphaned)))
            self.sizes.request_refresh()
        return OrphanRemoval(outcomes)
