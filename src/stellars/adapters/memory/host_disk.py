from __future__ import annotations

from stellars.domain.disk import DiskMeasurement


class StaticHostDisk:
    """A HostDisk that answers what it was given (tests change `measurement` to make the disk
    fill up) and counts how often it was asked."""

    def __init__(self, measurement: DiskMeasurement) -> None:
        self.measurement = measurement
        self.calls = 0

    async def measure(self) -> DiskMeasurement:
        self.calls += 1
        return self.measurement
