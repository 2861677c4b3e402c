"""GPU probes beyond the contract: the reason each failure gives, the NVIDIA runtime this engine
lacks, a missing image, no engine at all (a client for a dead socket, or a lazy connect that
fails), and that nothing is left running afterwards."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from stellars.adapters.docker import ContainerNvidiaSmiProbe, DockerEngine, connect
from stellars.adapters.nvidia import HostNvidiaSmiProbe
from tests.backends import list_labelled
from tests.backends.dockerhost import SESSION_ID
from tests.contract.test_gpu_probe import FAKE_NVIDIA_SMI, TWO_GPUS


def fake_nvidia_smi(directory: Path, scenario: str) -> str:
    script = directory / f"nvidia-smi-{scenario}"
    script.write_text(FAKE_NVIDIA_SMI[scenario])
    script.chmod(0o755)
    return str(script)


# --- on the host ---------------------------------------------------------------------------------


async def test_host_probe_reasons_name_what_went_wrong(tmp_path: Path) -> None:
    missing = await HostNvidiaSmiProbe([str(tmp_path / "nvidia-smi")]).probe()
    assert "not found" in missing.reason

    not_executable = tmp_path / "plain-file"
    not_executable.write_text("#!/bin/sh\n")
    assert "not executable" in (await HostNvidiaSmiProbe([str(not_executable)]).probe()).reason

    failing = await HostNvidiaSmiProbe([fake_nvidia_smi(tmp_path, "failing")]).probe()
    assert "exited with status 9" in failing.reason
    assert "couldn't communicate with the NVIDIA driver" in failing.reason

    garbage = await HostNvidiaSmiProbe([fake_nvidia_smi(tmp_path, "garbage")]).probe()
    assert "no GPU record" in garbage.reason
    assert "502 Bad Gateway" in garbage.reason


async def test_host_probe_argv_may_wrap_the_command(tmp_path: Path) -> None:
    wrapped = HostNvidiaSmiProbe(["/bin/sh", fake_nvidia_smi(tmp_path, "two_gpus")])
    assert (await wrapped.probe()).gpus == TWO_GPUS


def _group_gone(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return True
    return False


async def test_host_probe_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = tmp_path / "nvidia-smi-hanging"
    # The shell starts a child that would outlive a kill of the shell alone (its output goes
    # elsewhere, so it does not hold the probe's pipes open).
    script.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nsleep 600 >/dev/null 2>&1 &\nwait\n")
    script.chmod(0o755)
    result = await HostNvidiaSmiProbe([str(script)], timeout_seconds=0.5).probe()
    assert not result.found
    assert "did not answer within 0.5 s" in result.reason
    group = int(pid_file.read_text())
    for _ in range(200):  # the kernel may need a moment to reap them
        if _group_gone(group):
            break
        await asyncio.sleep(0.05)
    assert _group_gone(group), "the probe left nvidia-smi's children running"


# --- in a container ------------------------------------------------------------------------------


@pytest.fixture
def engine(docker_client: docker.DockerClient) -> Iterator[DockerEngine]:
    """The engine the probes run on; closed afterwards, and no labelled container may remain."""
    engine = DockerEngine(docker_client, max_workers=2)
    yield engine
    engine.close()
    assert not list_labelled(docker_client, SESSION_ID).containers


@pytest.mark.real
async def test_without_the_nvidia_runtime_there_is_no_gpu_and_the_reason_says_so(
    docker_client, engine, fake_cuda_image, docker_labels
) -> None:
    runtimes = docker_client.info().get("Runtimes", {})
    image = fake_cuda_image(FAKE_NVIDIA_SMI["two_gpus"])
    probe = ContainerNvidiaSmiProbe(engine, image, runtime="nvidia", labels=docker_labels)
    result = await probe.probe()
    if "nvidia" in runtimes:  # an engine with the runtime runs the fake nvidia-smi under it
        assert result.gpus == TWO_GPUS
        return
    assert not result.found
    assert "'nvidia' runtime" in result.reason
    assert "Unknown runtime" in result.reason  # the engine's own words follow


@pytest.mark.real
async def test_container_probe_reasons(engine, fake_cuda_image, tiny_image, docker_labels) -> None:
    def probe_of(image: str, timeout: float = 30.0) -> ContainerNvidiaSmiProbe:
        return ContainerNvidiaSmiProbe(
            engine, image, runtime=None, labels=docker_labels, timeout_seconds=timeout
        )

    no_binary = await probe_of(tiny_image).probe()
    assert "did not start" in no_binary.reason
    assert "nvidia-smi" in no_binary.reason

    no_image = await probe_of("stellars-test-no-such-image:0").probe()
    assert "is not on the engine" in no_image.reason

    failing = await probe_of(fake_cuda_image(FAKE_NVIDIA_SMI["failing"])).probe()
    assert "exited with status 9" in failing.reason

    hanging = await probe_of(fake_cuda_image(FAKE_NVIDIA_SMI["timeout"]), timeout=1.0).probe()
    assert "did not answer within 1 s" in hanging.reason


@pytest.mark.real
async def test_container_probe_can_request_gpus_by_device_request(
    engine, fake_cuda_image, docker_labels
) -> None:
    image = fake_cuda_image(FAKE_NVIDIA_SMI["two_gpus"])
    probe = ContainerNvidiaSmiProbe(
        engine, image, runtime=None, request_gpus=True, labels=docker_labels
    )
    result = await probe.probe()
    if result.found:  # an engine with the NVIDIA container toolkit
        assert result.gpus == TWO_GPUS
    else:
        assert "device driver" in result.reason


@pytest.mark.real
async def test_one_probe_may_run_twice_at_once(engine, fake_cuda_image, docker_labels) -> None:
    # A startup check and an admin's page may probe together: each run has its own container
    # (the fixture checks that both are gone afterwards).
    image = fake_cuda_image(FAKE_NVIDIA_SMI["two_gpus"])
    probe = ContainerNvidiaSmiProbe(engine, image, runtime=None, labels=docker_labels)
    results = await asyncio.gather(probe.probe(), probe.probe())
    assert [result.gpus for result in results] == [TWO_GPUS, TWO_GPUS]


@pytest.fixture(params=["client", "connect"])
def engine_down(request) -> Iterator[DockerEngine]:
    """No engine: an SDK client made (without asking) for a missing socket, or a lazy connect
    to it that fails on first use."""
    with tempfile.TemporaryDirectory(prefix="stellars-", dir="/tmp") as directory:
        url = f"unix://{directory}/missing.sock"
        client = docker.DockerClient(base_url=url, version="1.41", timeout=2)
        if request.param == "client":
            engine = DockerEngine(client, max_workers=1, timeout_seconds=5)
        else:
            engine = DockerEngine(
                lambda: connect(url, timeout_seconds=2), max_workers=1, timeout_seconds=5
            )
        yield engine
        engine.close()
        client.close()


async def test_container_probe_without_an_engine_is_no_gpu(engine_down) -> None:
    result = await ContainerNvidiaSmiProbe(engine_down, "cuda:12", timeout_seconds=5).probe()
    assert not result.found
    assert "Docker engine unreachable" in result.reason
