from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol

from stellars.domain.volumes import VolumeInfo, VolumeOutcome


class VolumeStore(Protocol):
    """Named Docker volumes. Raises BackendUnavailable when the engine cannot be reached."""

    async def volumes(self, names: Collection[str] | None = None) -> list[VolumeInfo]:
        """Existing volumes with sizes: all of them, or those among `names`; sorted by name."""
        ...

    async def remove(self, names: Collection[str]) -> Mapping[str, VolumeOutcome]:
        """Remove each volume, reporting removed / not found / in use per name."""
        ...

    async def describe(self, names: Collection[str]) -> list[VolumeInfo]:
        """The existing volumes among `names` with their creation time and owner key, but no
        size (cheap: no disk-usage measurement); sorted by name."""
        ...

    async def provision(self, name: str, *, owner: str | None) -> VolumeInfo:
        """Create a volume marked with `owner` (None: unmarked) unless one of that name
        exists, which is left as it is; either way, describe it."""
        ...
