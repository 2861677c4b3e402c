"""Contracts of the ContainerControl and ContainerStats ports.

Fixtures yield a `ContainerHarness`: one object serving both ports plus a backdoor to start a
named container (a busy or idle one, created with some Docker access: the host's socket at
`SOCKET_PATH`, privileged) and to stop it, and to create one with GPUs as the spawn hook asks
for them (created only: an engine without the NVIDIA runtime cannot start it).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import docker
import docker.errors
import pytest

from stellars.adapters.docker import DockerContainerControl, DockerContainerStats
from stellars.adapters.jupyterhub.plugin.spawn_hook import ALL_GPUS_REQUEST, gpus_request
from stellars.adapters.memory import InMemoryContainers
from stellars.domain.containers import ContainerUsage, cpu_percent
from stellars.domain.docker_access import DockerAccess, DockerAccessGroups
from stellars.domain.errors import ContainerNotFound
from stellars.domain.gpu_allocation import ContainerGpus, GpuAssignment
from stellars.domain.policies import GpuSharing
from stellars.ports.containers import ContainerControl, ContainerStats

#: Where the platform mounts the host's Docker socket (the default of the settings).
SOCKET_PATH = DockerAccessGroups().socket_path
NO_ACCESS = DockerAccess(mount_socket=False, privileged=False)


class ContainerHarness(Protocol):
    control: ContainerControl
    stats: ContainerStats

    def name(self, label: str) -> str: ...

    async def start(
        self, name: str, *, busy: bool = False, access: DockerAccess = NO_ACCESS
    ) -> None: ...

    async def stop(self, name: str) -> None: ...

    async def create_with_gpus(self, name: str, gpus: GpuAssignment) -> None:
        """Create (not start) a container with the device request and environment the spawn
        hook gives a server with these GPUs."""
        ...


@dataclass
class MemoryHarness:
    fake: InMemoryContainers = field(default_factory=InMemoryContainers)
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}")

    @property
    def control(self) -> InMemoryContainers:
        return self.fake

    @property
    def stats(self) -> InMemoryContainers:
        return self.fake

    def name(self, label: str) -> str:
        return f"{self.prefix}-{label}"

    async def start(
        self, name: str, *, busy: bool = False, access: DockerAccess = NO_ACCESS
    ) -> None:
        self.fake.start(
            name,
            ContainerUsage(
                cpu_percent=95.0 if busy else 0.0,
                memory_bytes=8 * 1024 * 1024,
                memory_limit_bytes=1024 * 1024 * 1024,
            ),
            access=access,
        )

    async def stop(self, name: str) -> None:
        self.fake.stop(name)

    async def create_with_gpus(self, name: str, gpus: GpuAssignment) -> None:
        self.fake.start(
            name,
            gpus=ContainerGpus(
                devices=gpus.devices,
                every_gpu=gpus.every_gpu,
                sharing=GpuSharing(gpus.environment["STELLARS_GPU_SHARING"])
                if gpus.devices
                else None,
            ),
        )
        self.fake.stop(name)


BUSY_LOOP = ["sh", "-c", "while :; do :; done"]


@dataclass
class DockerHarness:
    """Named tiny-image containers on the real engine (idle ones sleep, busy ones spin),
    labelled for the test session and removed by `cleanup`."""

    control: DockerContainerControl
    stats: DockerContainerStats
    client: docker.DockerClient
    image: str
    labels: dict[str, str]
    prefix: str = field(default_factory=lambda: f"stellars-test-{uuid.uuid4().hex[:8]}")
    started: list[str] = field(default_factory=list)

    def name(self, label: str) -> str:
        return f"{self.prefix}-{label}"

    async def start(
        self, name: str, *, busy: bool = False, access: DockerAccess = NO_ACCESS
    ) -> None:
        self.started.append(name)
        # As the spawner grants it: the socket bound to its own path, the privileged flag. A
        # privileged container runs as uid 1000, as the labs do: an engine that itself runs in
        # a container without every capability cannot give them all to a root process.
        socket = {SOCKET_PATH: {"bind": SOCKET_PATH, "mode": "rw"}} if access.mount_socket else {}
        await asyncio.to_thread(
            self.client.containers.run,
            self.image,
            BUSY_LOOP if busy else None,
            name=name,
            labels=self.labels,
            volumes=socket,
            privileged=access.privileged,
            user="1000" if access.privileged else None,
            detach=True,
        )

    async def stop(self, name: str) -> None:
        # The image's `sleep` is PID 1 and ignores SIGTERM: kill it, keep the container.
        await asyncio.to_thread(self.client.api.kill, name)
        await asyncio.to_thread(self.client.api.wait, name, timeout=30)

    async def create_with_gpus(self, name: str, gpus: GpuAssignment) -> None:
        self.started.append(name)
        if gpus.every_gpu:
            requests = [dict(ALL_GPUS_REQUEST)]
        else:
            requests = [gpus_request(gpus.devices)] if gpus.devices else []
        api = self.client.api
        host_config = api.create_host_config(device_requests=requests or None)
        await asyncio.to_thread(
            api.create_container,
            self.image,
            name=name,
            labels=self.labels,
            environment=gpus.environment,
            host_config=host_config,
        )

    def cleanup(self) -> None:
        for name in self.started:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.api.remove_container(name, force=True)


@pytest.fixture(params=["memory", pytest.param("docker", marks=pytest.mark.real)])
def harness(request) -> Iterator[ContainerHarness]:
    if request.param == "memory":
        yield MemoryHarness()
        return
    if request.param == "docker":
        client = request.getfixturevalue("docker_client")
        engine = request.getfixturevalue("docker_engine")
        docker_harness = DockerHarness(
            control=DockerContainerControl(engine),
            stats=DockerContainerStats(engine, max_parallel=4),
            client=client,
            image=request.getfixturevalue("tiny_image"),
            labels=request.getfixturevalue("docker_labels"),
        )
        try:
            yield docker_harness
        finally:
            docker_harness.cleanup()
        return
    raise AssertionError(request.param)


async def test_restart_keeps_a_running_container_running(harness):
    name = harness.name("lab")
    await harness.start(name)
    await harness.control.restart(name, timeout_seconds=2)
    assert await harness.control.is_running(name)


async def test_restart_of_a_missing_container_is_not_found(harness):
    with pytest.raises(ContainerNotFound):
        await harness.control.restart(harness.name("missing"), timeout_seconds=1)


async def test_is_running_is_false_for_missing_and_stopped_containers(harness):
    name = harness.name("stopping")
    await harness.start(name)
    await harness.stop(name)
    assert not await harness.control.is_running(name)
    assert not await harness.control.is_running(harness.name("never"))


@pytest.mark.parametrize(
    "access",
    [
        NO_ACCESS,
        DockerAccess(mount_socket=True, privileged=False),
        DockerAccess(mount_socket=False, privileged=True),
        DockerAccess(mount_socket=True, privileged=True),
    ],
    ids=["none", "socket", "privileged", "both"],
)
async def test_the_docker_access_a_container_was_created_with_outlives_a_restart(harness, access):
    name = harness.name("granted")
    await harness.start(name, access=access)
    assert await harness.control.docker_access(name, socket_path=SOCKET_PATH) == access
    await harness.control.restart(name, timeout_seconds=2)
    assert await harness.control.docker_access(name, socket_path=SOCKET_PATH) == access
    await harness.stop(name)  # a stopped container still says how it was created
    assert await harness.control.docker_access(name, socket_path=SOCKET_PATH) == access


async def test_the_docker_access_of_a_missing_container_is_not_found(harness):
    with pytest.raises(ContainerNotFound):
        await harness.control.docker_access(harness.name("missing"), socket_path=SOCKET_PATH)


async def test_usage_covers_running_containers_only(harness):
    busy, idle, missing = harness.name("busy"), harness.name("idle"), harness.name("missing")
    await harness.start(busy, busy=True)
    await harness.start(idle)
    usage = await harness.stats.usage([busy, idle, missing])
    assert set(usage) == {busy, idle}
    assert usage[busy].cpu_percent > usage[idle].cpu_percent
    assert usage[idle].cpu_percent < 50
    for figures in usage.values():
        assert figures.memory_bytes > 0
        assert figures.memory_limit_bytes >= figures.memory_bytes
        assert 0 <= figures.memory_percent <= 100


async def test_usage_of_nothing_is_empty(harness):
    assert await harness.stats.usage([]) == {}


async def test_readings_are_cumulative_counters_of_running_containers_only(harness):
    busy, idle, missing = harness.name("busy"), harness.name("idle"), harness.name("missing")
    await harness.start(busy, busy=True)
    await harness.start(idle)
    first = await harness.stats.readings([busy, idle, missing])
    assert set(first) == {busy, idle}
    await asyncio.sleep(1.5)  # the engine's counters move with time
    second = await harness.stats.readings([busy, idle, missing])
    assert set(second) == {busy, idle}
    for name in (busy, idle):
        assert second[name].system_cpu_ns > first[name].system_cpu_ns
        assert second[name].cpu_total_ns >= first[name].cpu_total_ns
        assert second[name].online_cpus >= 1
    spun = cpu_percent(first[busy], second[busy])
    assert spun > 50  # a busy loop keeps about one core busy
    assert cpu_percent(first[idle], second[idle]) < spun
    await harness.stop(busy)
    assert set(await harness.stats.readings([busy, idle])) == {idle}


async def test_readings_of_nothing_are_empty(harness):
    assert await harness.stats.readings([]) == {}


TWO_GPUS = ("GPU-5a3c1f0e-8d2b-4e61-9a7f-0c1d2e3f4a5b", "GPU-0b9e8d7c-6a5f-4e3d-8c2b-1a0f9e8d7c6b")


@pytest.mark.parametrize(
    ("given", "read"),
    [
        (
            GpuAssignment(enabled=True, devices=TWO_GPUS, sharing=GpuSharing.SHARED),
            ContainerGpus(devices=TWO_GPUS, sharing=GpuSharing.SHARED),
        ),
        (
            GpuAssignment(enabled=True, devices=TWO_GPUS[1:], sharing=GpuSharing.EXCLUSIVE),
            ContainerGpus(devices=TWO_GPUS[1:], sharing=GpuSharing.EXCLUSIVE),
        ),
        (GpuAssignment(enabled=True, every_gpu=True), ContainerGpus(every_gpu=True)),
        (GpuAssignment(enabled=True), ContainerGpus()),
        (GpuAssignment(), ContainerGpus()),
    ],
    ids=["two-shared", "one-exclusive", "every-gpu", "none-given", "gpus-off"],
)
async def test_the_gpus_a_container_was_created_with_are_read_back(harness, given, read):
    name = harness.name("gpus")
    await harness.create_with_gpus(name, given)
    assert await harness.control.gpu_devices([name, harness.name("missing")]) == {name: read}


async def test_gpus_are_read_back_from_running_and_stopped_containers_alike(harness):
    created, running, stopped = harness.name("created"), harness.name("up"), harness.name("down")
    given = GpuAssignment(enabled=True, devices=TWO_GPUS[:1], sharing=GpuSharing.EXCLUSIVE)
    await harness.create_with_gpus(created, given)
    await harness.start(running)
    await harness.start(stopped)
    await harness.stop(stopped)
    found = await harness.control.gpu_devices([created, running, stopped])
    assert found == {
        created: ContainerGpus(devices=TWO_GPUS[:1], sharing=GpuSharing.EXCLUSIVE),
        running: ContainerGpus(),
        stopped: ContainerGpus(),
    }


async def test_gpus_of_no_container_are_nothing(harness):
    assert await harness.control.gpu_devices([]) == {}
    assert await harness.control.gpu_devices([harness.name("never")]) == {}
