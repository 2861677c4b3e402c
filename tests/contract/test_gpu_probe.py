"""Contract of the GpuProbe port.

A probe never raises: a machine with GPUs yields them, and every failure (no binary, no runtime,
a hang, garbage output) yields no GPUs with a reason. Fixtures yield a factory that builds the
implementation for a named scenario; real adapters get scenarios from a fake `nvidia-smi`
executable that prints captured real output, on the host or inside a container.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stellars.adapters.memory import StaticGpuProbe
from stellars.domain.gpu import Gpu, GpuProbeResult
from stellars.ports.gpu import GpuProbe

# Two GPUs as `nvidia-smi --query-gpu=index,name,memory.total,uuid --format=csv,noheader,nounits`
# prints them.
TWO_GPUS_CSV = (
    "0, NVIDIA H100 80GB HBM3, 81559, GPU-5a3c1f0e-8d2b-4e61-9a7f-0c1d2e3f4a5b\n"
    "1, NVIDIA H100 80GB HBM3, 81559, GPU-0b9e8d7c-6a5f-4e3d-8c2b-1a0f9e8d7c6b\n"
)
TWO_GPUS = (
    Gpu(0, "NVIDIA H100 80GB HBM3", 81559, "GPU-5a3c1f0e-8d2b-4e61-9a7f-0c1d2e3f4a5b"),
    Gpu(1, "NVIDIA H100 80GB HBM3", 81559, "GPU-0b9e8d7c-6a5f-4e3d-8c2b-1a0f9e8d7c6b"),
)
FAILURES = ["missing", "garbage", "timeout", "failing"]

ProbeFactory = Callable[[str], GpuProbe]


def memory_factory(scenario: str) -> GpuProbe:
    if scenario == "two_gpus":
        return StaticGpuProbe(GpuProbeResult(TWO_GPUS, ""))
    return StaticGpuProbe(GpuProbeResult.none(f"simulated: {scenario}"))


@pytest.fixture(params=["memory"])
def make_probe(request) -> ProbeFactory:
    if request.param == "memory":
        return memory_factory
    raise AssertionError(request.param)


async def test_gpus_are_reported_with_index_name_memory_and_uuid(make_probe):
    result = await make_probe("two_gpus").probe()
    assert result.found
    assert result.gpus == TWO_GPUS


@pytest.mark.parametrize("scenario", FAILURES)
async def test_every_failure_is_no_gpu_with_a_reason(make_probe, scenario):
    result = await make_probe(scenario).probe()
    assert not result.found
    assert result.gpus == ()
    assert result.reason.strip()
