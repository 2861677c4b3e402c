from __future__ import annotations

from collections.abc import Collection, Mapping

from stellars.domain.volumes import VolumeInfo, VolumeOutcome


class InMemoryVolumeStore:
    """Volumes as name -> size; `in_use` marks volumes a container holds."""

    def __init__(self) -> None:
        self.sizes: dict[str, int | None] = {}
        self.in_use: set[str] = set()

    def create(self, name: str, size_bytes: int | None = 0) -> None:
        self.sizes[name] = size_bytes

    async def volumes(self, names: Collection[str] | None = None) -> list[VolumeInfo]:
        wanted = self.sizes.keys() if names is None else set(names) & self.sizes.keys()
        return [VolumeInfo(name, self.sizes[name]) for name in sorted(wanted)]

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
                outcomes[name] = VolumeOutcome.REMOVED
        return outcomes
