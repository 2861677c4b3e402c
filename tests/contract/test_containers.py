"""Contracts of the ContainerControl and ContainerStats ports.

Fixtures yield a `ContainerHarness`: one object serving both ports plus a backdoor to start a
named container (a busy or idle one, created with some Docker access: the host's socket at
`SOCKET_PATH`, privileged) and to stop it.
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
from stellars.adapters.memory import InMemoryContainers
from stellars.domain.containers import ContainerUsage
from stellars.domain.docker_access import DockerAccess, DockerAccessGroups
from stellars.domain.errors import ContainerNotFound
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
