from __future__ import annotations

from typing import Protocol

from stellars.domain.gpu import GpuProbeResult, GpuUseResult


class GpuProbe(Protocol):
    """Finds the GPUs that user servers could use, and how busy they are. Never raises: every
    failure becomes a result without GPUs (or readings) whose reason says why."""

    async def probe(self) -> GpuProbeResult:
        """The inventory: every GPU's index, name, memory and UUID."""
        ...

    async def use(self) -> GpuUseResult:
        """Every GPU's memory in use and utilisation right now, by UUID."""
        ...
