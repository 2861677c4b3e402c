"""GPU support: the configured mode, what a probe found, and the decision for every spawn.

The decision says whether user servers get GPUs and which lab environment variables announce
it; how GPUs are requested from the container engine is the spawner adapter's business. Which
GPUs one server gets is `stellars.domain.gpu_allocation`'s rule.

A probe answers two questions: the inventory (which GPUs the host has, asked once) and their
use right now (memory in use and utilisation, asked again and again for the activity page).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType

from .errors import InvalidValue


class GpuMode(IntEnum):
    OFF = 0
    FORCED = 1
    AUTO = 2

    @classmethod
    def parse(cls, value: object, field_name: str = "gpu_mode") -> GpuMode:
        """Exactly 0, 1 or 2, as an int or its decimal text; 1.5, 0.9, True or "2.0" are refused."""
        if isinstance(value, GpuMode):
            return value
        if isinstance(value, str) and value.strip() in {"0", "1", "2"}:
            return cls(int(value.strip()))
        if isinstance(value, int) and not isinstance(value, bool) and value in {0, 1, 2}:
            return cls(value)
        raise InvalidValue(field_name, f"must be 0 (off), 1 (forced) or 2 (auto), got {value!r}")


@dataclass(frozen=True, slots=True)
class Gpu:
    """One GPU as nvidia-smi lists it."""

    index: int
    name: str
    memory_mib: int
    uuid: str


@dataclass(frozen=True, slots=True)
class GpuProbeResult:
    """What a probe found; without GPUs, `reason` says why (binary missing, timeout, ...)."""

    gpus: tuple[Gpu, ...] = ()
    reason: str = ""

    @property
    def found(self) -> bool:
        return bool(self.gpus)

    @staticmethod
    def none(reason: str) -> GpuProbeResult:
        return GpuProbeResult((), reason)


@dataclass(frozen=True, slots=True)
class GpuReading:
    """How busy one GPU (by UUID) is as nvidia-smi last saw it; None where it cannot say
    (nvidia-smi prints "[N/A]" for some parts, MIG devices among them)."""

    uuid: str
    memory_used_mib: int | None
    utilization_percent: int | None


@dataclass(frozen=True, slots=True)
class GpuUseResult:
    """What a probe of the GPUs' use found; without readings, `reason` says why."""

    readings: tuple[GpuReading, ...] = ()
    reason: str = ""

    @staticmethod
    def none(reason: str) -> GpuUseResult:
        return GpuUseResult((), reason)

    def by_device(self) -> Mapping[str, GpuReading]:
        """The readings by UUID (the last one wins if a UUID came twice)."""
        return MappingProxyType({reading.uuid: reading for reading in self.readings})


@dataclass(frozen=True, slots=True)
class GpuDecision:
    """Whether user servers get all GPUs, whether a probe found any, why, and the lab's view."""

    enabled: bool
    detected: bool
    reason: str
    gpus: tuple[Gpu, ...] = ()

    @property
    def environment(self) -> dict[str, str]:
        """Variables the lab image reads to switch its GPU tooling on."""
        flag = "1" if self.enabled else "0"
        return {
            "ENABLE_GPU_SUPPORT": flag,
            "ENABLE_GPUSTAT": flag,
            "NVIDIA_DETECTED": "1" if self.detected else "0",
        }


def decide_gpu(mode: GpuMode, probe: GpuProbeResult | None) -> GpuDecision:
    """Mode 0: off. Mode 1: on without asking. Mode 2: on only when the probe found a GPU."""
    if mode is GpuMode.OFF:
        return GpuDecision(False, False, "GPU support is off (mode 0)")
    detected = probe is not None and probe.found
    gpus = probe.gpus if probe is not None else ()
    if mode is GpuMode.FORCED:
        return GpuDecision(True, detected, "GPU support is forced on (mode 1)", gpus)
    if probe is None:
        return GpuDecision(False, False, "GPU auto-detection has not finished yet")
    if not probe.found:
        return GpuDecision(False, False, f"no GPU detected: {probe.reason}")
    names = ", ".join(gpu.name for gpu in probe.gpus)
    return GpuDecision(True, True, f"detected {len(probe.gpus)} GPU(s): {names}", gpus)
