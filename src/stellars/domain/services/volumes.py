"""Per-user volumes: list them with sizes and reset them, named exactly as DockerSpawner does."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from stellars.domain.errors import NotFound
from stellars.domain.volumes import (
    DockerNaming,
    ResetReport,
    UserVolume,
    VolumeInfo,
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
