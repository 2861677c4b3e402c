from __future__ import annotations

from stellars.domain.gpu import GpuProbeResult, GpuUseResult


class StaticGpuProbe:
    """A GpuProbe that answers what it was given and counts how often it was asked (the
    inventory and the use apart)."""

    def __init__(self, result: GpuProbeResult, use: GpuUseResult | None = None) -> None:
        self.result = result
        self.use_result = use if use is not None else GpuUseResult.none("no readings given")
        self.calls = 0
        self.use_calls = 0

    async def probe(self) -> GpuProbeResult:
        self.calls += 1
        return self.result

    async def use(self) -> GpuUseResult:
        self.use_calls += 1
        return self.use_result
