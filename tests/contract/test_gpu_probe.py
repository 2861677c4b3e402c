"""Contract of the GpuProbe port.

A probe never raises: a machine with GPUs yields them (and their use: memory in use and
utilisation), and every failure (no binary, no runtime, a hang, garbage output) yields no GPUs
(no readings) with a reason. Fixtures yield a factory that builds the
implementation for a named scenario; real adapters get scenarios from a fake `nvidia-smi`
executable that prints captured real output, on the host or inside a container.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stellars.adapters.docker import ContainerNvidiaSmiProbe
from stellars.adapters.memory import StaticGpuProbe
from stellars.adapters.nvidia import QUERY_ARGUMENTS, USE_QUERY_ARGUMENTS, HostNvidiaSmiProbe
from stellars.domain.gpu import Gpu, GpuProbeResult, GpuReading, GpuUseResult
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
# Their use as `nvidia-smi --query-gpu=uuid,memory.used,utilization.gpu --format=csv,noheader,
# nounits` prints it (the second GPU a MIG-enabled part that cannot report utilisation).
TWO_GPUS_USE_CSV = (
    "GPU-5a3c1f0e-8d2b-4e61-9a7f-0c1d2e3f4a5b, 40321, 97\n"
    "GPU-0b9e8d7c-6a5f-4e3d-8c2b-1a0f9e8d7c6b, 0, [N/A]\n"
)
TWO_GPUS_USE = (
    GpuReading("GPU-5a3c1f0e-8d2b-4e61-9a7f-0c1d2e3f4a5b", 40321, 97),
    GpuReading("GPU-0b9e8d7c-6a5f-4e3d-8c2b-1a0f9e8d7c6b", 0, None),
)
FAILURES = ["missing", "garbage", "timeout", "failing"]

ProbeFactory = Callable[[str], GpuProbe]


def memory_factory(scenario: str) -> GpuProbe:
    if scenario == "two_gpus":
        return StaticGpuProbe(GpuProbeResult(TWO_GPUS, ""), GpuUseResult(TWO_GPUS_USE, ""))
    return StaticGpuProbe(
        GpuProbeResult.none(f"simulated: {scenario}"),
        GpuUseResult.none(f"simulated: {scenario}"),
    )


# Fake nvidia-smi scripts per scenario. The GPU one checks that it was asked one of the two
# queries, and answers it.
EXPECTED_ARGUMENTS = " ".join(QUERY_ARGUMENTS)
EXPECTED_USE_ARGUMENTS = " ".join(USE_QUERY_ARGUMENTS)
FAKE_NVIDIA_SMI = {
    "two_gpus": (
        "#!/bin/sh\n"
        f'if [ "$*" = "{EXPECTED_USE_ARGUMENTS}" ]; then\n'
        f"cat <<'CSV'\n{TWO_GPUS_USE_CSV}CSV\n"
        "exit 0\n"
        "fi\n"
        f'if [ "$*" != "{EXPECTED_ARGUMENTS}" ]; then\n'
        '  echo "fake nvidia-smi: unexpected arguments: $*" >&2; exit 2\n'
        "fi\n"
        f"cat <<'CSV'\n{TWO_GPUS_CSV}CSV\n"
    ),
    "garbage": "#!/bin/sh\necho '<html><body>502 Bad Gateway</body></html>'\necho 'Segfault?'\n",
    "timeout": "#!/bin/sh\nsleep 60\n",
    "failing": (
        "#!/bin/sh\n"
        'echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver."\n'
        "exit 9\n"
    ),
}
# Short enough that the timeout scenario stays quick, long enough for a container to start.
HOST_TIMEOUT_SECONDS = {"timeout": 0.5}
CONTAINER_TIMEOUT_SECONDS = {"timeout": 2.0}


def host_factory(directory: Path) -> ProbeFactory:
    """Probes running a fake nvidia-smi executable written to `directory`."""

    def make(scenario: str) -> GpuProbe:
        timeout = HOST_TIMEOUT_SECONDS.get(scenario, 20.0)
        if scenario == "missing":
            return HostNvidiaSmiProbe([str(directory / "absent" / "nvidia-smi")])
        script = directory / f"nvidia-smi-{scenario}"
        script.write_text(FAKE_NVIDIA_SMI[scenario])
        script.chmod(0o755)
        return HostNvidiaSmiProbe([str(script)], timeout_seconds=timeout)

    return make


@pytest.fixture(
    params=[
        "memory",
        "host",
        pytest.param("container", marks=pytest.mark.real),
    ]
)
def make_probe(request) -> Iterator[ProbeFactory]:
    if request.param == "memory":
        yield memory_factory
        return
    if request.param == "host":
        yield host_factory(request.getfixturevalue("tmp_path"))
        return
    if request.param == "container":
        # The container path with the engine's default runtime and a fake nvidia-smi image;
        # "missing" is the tiny image, which has no nvidia-smi at all. Probes run on the shared
        # engine fixture, which is closed after the test.
        engine = request.getfixturevalue("docker_engine")
        fake_cuda_image = request.getfixturevalue("fake_cuda_image")
        tiny_image = request.getfixturevalue("tiny_image")
        labels = request.getfixturevalue("docker_labels")

        def make(scenario: str) -> GpuProbe:
            image = (
                tiny_image if scenario == "missing" else fake_cuda_image(FAKE_NVIDIA_SMI[scenario])
            )
            return ContainerNvidiaSmiProbe(
                engine,
                image,
                runtime=None,
                timeout_seconds=CONTAINER_TIMEOUT_SECONDS.get(scenario, 30.0),
                labels=labels,
            )

        yield make
        return
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


async def test_the_use_of_every_gpu_is_reported_by_uuid(make_probe):
    result = await make_probe("two_gpus").use()
    assert result.readings == TWO_GPUS_USE
    assert result.reason == ""


@pytest.mark.parametrize("scenario", FAILURES)
async def test_every_failure_to_read_the_use_is_no_reading_with_a_reason(make_probe, scenario):
    result = await make_probe(scenario).use()
    assert result.readings == ()
    assert result.reason.strip()
