from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from stellars.domain.volumes import VolumeInfo, VolumeOutcome
from stellars.ports.clock import Clock


class InMemoryVolumeStore:
    """Volumes as name -> size; `in_use` marks volumes a container holds, `created` and
    `owners` what the engine and the platform recorded on each. With a `clock`, provisioned
    volumes get its time as their creation time."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.sizes: dict[str, int | None] = {}
        self.in_use: set[str] = set()
        self.created: dict[str, datetime | None] = {}
        self.owners: dict[str, str | None] = {}
        self._clock = clock

    def create(
        self,
        name: str,
        size_bytes: int | None = 0,
        *,
        created_at: datetime | None = None,
        owner: str | None = None,
    ) -> None:
        self.sizes[name] = size_bytes
        self.created[name] = created_at
        self.owners[name] = owner

    def _info(self, name: str, *, with_size: bool = True) -> VolumeInfo:
        return VolumeInfo(
            name,
            self.sizes[name] if with_size else None,
            created_at=self.created.get(name),
            owner=self.owners.get(name),
        )

    async def volumes(self, names: Collection[str] | None = None) -> list[VolumeInfo]:
        wanted = self.sizes.keys() if names is None else set(names) & self.sizes.keys()
        return [self._info(name) for name in sorted(wanted)]

    async def remove(self, names: Collection[str]) -> Mapping[str, VolumeOutcome]:
        outcomes: dict[str, VolumeOutcome] = {}
        # A name given twice is one volume, removed once (as the Docker store does).
        for name in dict.fromkeys(names):
            if name not in self.sizes:
                outcomes[name] = VolumeOutcome.NOT_FOUND
            elif name in self.in_use:
                outcomes[name] = VolumeOutcome.IN_USE
            else:
                del self.sizes[name]
                self.created.pop(name, None)
                self.owners.pop(name, None)
                outcomes[name] = VolumeOutcome.REMOVED
        return outcomes

    async def describe(self, names: Collection[str]) -> list[VolumeInfo]:
        wanted = set(names) & self.sizes.keys()
        return [self._info(name, with_size=False) for name in sorted(wanted)]

    async def provision(self, name: str, *, owner: str | None) -> VolumeInfo:
        if name not in self.sizes:
            now = self._clock.now() if self._clock is not None else None
            self.create(name, None, created_at=now, owner=owner)
        return self._info(name, with_size=False)
