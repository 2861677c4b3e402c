from __future__ import annotations

from typing import Protocol

from stellars.domain.disk import DiskMeasurement


class HostDisk(Protocol):
    """The free space of the container engine's data directory (where images, containers and
    the users' volumes live). Never raises: every failure becomes a measurement without space
    whose reason says why."""

    async def measure(self) -> DiskMeasurement:
        """The directory measured and its filesystem's total and free bytes right now."""
        ...
