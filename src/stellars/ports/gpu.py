from __future__ import annotations

from typing import Protocol

from stellars.domain.gpu import GpuProbeResult


class GpuProbe(Protocol):
    """Finds the GPUs that user containers could use. Never raises: every failure becomes a
    result without GPUs whose reason says why."""

    async def probe(self) -> GpuProbeResult: ...
