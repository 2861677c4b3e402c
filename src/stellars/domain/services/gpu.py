"""The GPU decision for every spawn, from one probe at most."""

from __future__ import annotations

import asyncio

from stellars.domain.gpu import GpuDecision, GpuMode, GpuProbeResult, decide_gpu
from stellars.ports.gpu import GpuProbe


class GpuService:
    """Runs the probe at most once (only in auto mode) and caches the decision.

    Until the probe has answered, `current` says GPUs are off, so a slow probe never blocks the
    hub's start and never hands out GPUs that may not exist.
    """

    def __init__(self, *, probe: GpuProbe, mode: GpuMode) -> None:
        self._probe = probe
        self.mode = mode
        self._result: GpuProbeResult | None = None
        self._lock = asyncio.Lock()

    @property
    def current(self) -> GpuDecision:
        return decide_gpu(self.mode, self._result)

    async def detect(self) -> GpuDecision:
        """Probe once if the mode needs it, then decide."""
        if self.mode is GpuMode.AUTO:
            async with self._lock:
                if self._result is None:
                    self._result = await self._probe.probe()
        return self.current
