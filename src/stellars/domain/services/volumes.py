from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from stellars.domain.errors import NotFound
from stellars.domain.volumes import (
    DockerNaming,
    ResetReport,
    UserVolume,
    VolumeResult,
    plan_reset,
)
from stellars.ports.hub_directory import HubDirectory
from stellars.ports.volumes import VolumeInfo, VolumeStore


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
        names = self.names_for(username)
        found = {info.name: info for info in await self._store.volumes(names.values())}
        return [
            UserVolumeState(
                label=volume.label,
                name=names[volume.label],
                mount_point=volume.mount_point,
                exists=names[volume.label] in found,
                size_bytes=(
                    found[names[volume.label]].size_bytes if names[volume.label] in found else None
                ),
            )
            for volume in self.volumes
        ]

    async def reset(self, username: str, labels: object) -> ResetReport:
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

    async def sizes_by_user(self, usernames: Iterable[str]) -> dict[str, dict[str, int | None]]:
        """label -> size for every user's existing volumes, from one engine listing."""
        listing: dict[str, VolumeInfo] = {info.name: info for info in await self._store.volumes()}
        result: dict[str, dict[str, int | None]] = {}
        for username in usernames:
            sizes = {
                label: listing[name].size_bytes
                for label, name in self.names_for(username).items()
                if name in listing
            }
            result[username] = sizes
        return result
