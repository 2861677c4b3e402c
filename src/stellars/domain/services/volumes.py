"""Per-user volumes: list them with sizes, reset them, provision them for their owner before a
spawn, and find the orphaned ones; named exactly as DockerSpawner names them.

Ownership (who may mount a volume that bears a user's name) follows
`stellars.domain.volume_ownership`: a spawn is refused rather than handed another account's
volumes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from stellars.domain.errors import InvalidValue, NotFound, Refused
from stellars.domain.hub import HubUser
from stellars.domain.volume_ownership import (
    OrphanedVolume,
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
    plan_reset,
)
from stellars.ports.hub_directory import HubDirectory
from stellars.ports.volumes import VolumeStore


@dataclass(frozen=True, slots=True)
class UserVolumeState:
    """One configured volume of a user: its engine name and, if it exists, its size."""

    label: str
    name: str
    mount_point: str
    exists: bool
    size_bytes: int | None


class VolumeService:
    """Lists and resets the per-user volumes named exactly as DockerSpawner names them."""

    def __init__(
        self,
        *,
        store: VolumeStore,
        directory: HubDirectory,
        volumes: tuple[UserVolume, ...],
        naming: DockerNaming,
    ) -> None:
        self._store = store
        self._directory = directory
        self.volumes = volumes
        self.naming = naming

    def names_for(self, username: str) -> dict[str, str]:
        """label -> engine volume name for one user."""
        return {v.label: v.name_for(username, self.naming) for v in self.volumes}

    async def list_for(self, username: str) -> list[UserVolumeState]:
        """Every configured volume of a user, with its size when it exists on the engine."""
        names = self.names_for(username)
        found = {info.name: info for info in await self._store.volumes(names.values())}
        states = []
        for volume in self.volumes:
            name = names[volume.label]
            info = found.get(name)
            states.append(
                UserVolumeState(
                    label=volume.label,
                    name=name,
                    mount_point=volume.mount_point,
                    exists=info is not None,
                    size_bytes=None if info is None else info.size_bytes,
                )
            )
        return states

    async def reset(self, username: str, labels: Sequence[str]) -> ResetReport:
        """Remove chosen volumes of a stopped server. Raises InvalidValue, Conflict, NotFound."""
        user = await self._directory.get_user(username)
        if user is None:
            raise NotFound(f"No user named {username!r}")
        chosen = plan_reset(labels, self.volumes, server_active=user.has_active_server)
        names = {volume.label: volume.name_for(username, self.naming) for volume in chosen}
        outcomes = await self._store.remove(list(names.values()))
        return ResetReport(
            username,
            tuple(VolumeResult(label, name, outcomes[name]) for label, name in names.items()),
        )

    def states_from(
        self, username: str, listing: Mapping[str, VolumeInfo]
    ) -> list[UserVolumeState]:
        """Every configured volume of a user as an engine listing (name -> info) shows it; a
        web request passes the background refresher's snapshot, never asking the engine."""
        states = []
        for volume in self.volumes:
            name = volume.name_for(username, self.naming)
            info = listing.get(name)
            states.append(
                UserVolumeState(
                    label=volume.label,
                    name=name,
                    mount_point=volume.mount_point,
                    exists=info is not None,
                    size_bytes=None if info is None else info.size_bytes,
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
        return created_now

    async def remove_all(self, username: str) -> ResetReport:
        """Remove every volume named for a user (a deleted account, under the delete policy),
        whether or not a user of that name exists now."""
        names = self.names_for(username)
        outcomes = await self._store.remove(list(names.values()))
        return ResetReport(
            username,
            tuple(VolumeResult(label, name, outcomes[name]) for label, name in names.items()),
        )

    async def remove_orphans(self, names: Collection[str]) -> dict[str, VolumeOutcome | None]:
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
        return outcomes

    async def sizes_by_user(self, usernames: Iterable[str]) -> dict[str, dict[str, int | None]]:
        """label -> size for every user's existing volumes, from one engine listing."""
        listing: dict[str, VolumeInfo] = {info.name: info for info in await self._store.volumes()}
        return {
            username: {
                label: listing[name].size_bytes
                for label, name in self.names_for(username).items()
                if name in listing
            }
            for username in usernames
        }
