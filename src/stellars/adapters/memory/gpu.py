from __future__ import annotations

from stellars.domain.gpu import GpuProbeResult


class StaticGpuProbe:
    """A GpuProbe that answers what it was given and counts how often it was asked."""

    def __init__(self, result: GpuProbeResult) -> None:
        self.result = result
        self.calls = 0

    async def probe(self) -> GpuProbeResult:
        self.calls += 1
        return self.result
