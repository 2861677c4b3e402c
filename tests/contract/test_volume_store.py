"""Contract of the VolumeStore port.

Fixtures yield a `VolumeHarness`: the store plus backdoors to create a volume with data in it
and to hold a volume in use, so the same tests run on the fake and on the Docker engine.
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

from stellars.adapters.docker import DockerVolumeStore
from stellars.adapters.memory import InMemoryVolumeStore
from stellars.domain.volumes import VolumeOutcome
from stellars.ports.volumes import VolumeStore

# How long the Docker harness waits for the engine to report the size of a fresh volume.
SIZE_REPORT_SECONDS = 15.0


class VolumeHarness(Protocol):
    store: VolumeStore

    def name(self, label: str) -> str:
        """A volume name unique to this test."""
        ...

    async def create(self, name: str, *, data_bytes: int = 0) -> None: ...

    async def hold(self, name: str) -> None:
        """Make `name` in use (attached to a container)."""
        ...


@dataclass
class MemoryHarness:
    store: InMemoryVolumeStore = field(default_factory=InMemoryVolumeStore)
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}")

    def name(self, label: str) -> str:
        return f"{self.prefix}-{label}"

    async def create(self, name: str, *, data_bytes: int = 0) -> None:
        self.store.create(name, data_bytes)

    async def hold(self, name: str) -> None:
        self.store.in_use.add(name)


@dataclass
class DockerHarness:
    """Volumes on the real engine; data is written and volumes are held by tiny-image
    containers, everything labelled for the test session and removed by `cleanup`."""

    store: DockerVolumeStore
    client: docker.DockerClient
    image: str
    labels: dict[str, str]
    prefix: str = field(default_factory=lambda: f"stellars-test-{uuid.uuid4().hex[:8]}")
    volumes: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)

    def name(self, label: str) -> str:
        return f"{self.prefix}-{label}"

    async def create(self, name: str, *, data_bytes: int = 0) -> None:
        await asyncio.to_thread(self._create, name, data_bytes)
        await self._wait_for_size(name)

    def _create(self, name: str, data_bytes: int) -> None:
        self.client.volumes.create(name, labels=self.labels)
        self.volumes.append(name)
        if data_bytes:
            writer = self.client.containers.run(
                self.image,
                ["sh", "-c", f"head -c {data_bytes} /dev/zero > /data/blob && sync"],
                volumes={name: {"bind": "/data", "mode": "rw"}},
                labels=self.labels,
                detach=True,
            )
            try:
                assert writer.wait(timeout=60)["StatusCode"] == 0, writer.logs()
            finally:
                writer.remove(force=True)

    async def _wait_for_size(self, name: str) -> None:
        # The engine may report a fresh volume as not measured yet (size -1, None here).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SIZE_REPORT_SECONDS
        while loop.time() < deadline:
            if any(v.size_bytes is not None for v in await self.store.volumes([name])):
                return
            await asyncio.sleep(0.2)

    async def hold(self, name: str) -> None:
        holder = await asyncio.to_thread(
            self.client.containers.run,
            self.image,
            volumes={name: {"bind": "/data", "mode": "rw"}},
            labels=self.labels,
            detach=True,
        )
        self.containers.append(holder.id)

    def cleanup(self) -> None:
        for container_id in self.containers:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.api.remove_container(container_id, force=True)
        for name in self.volumes:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.api.remove_volume(name, force=True)


@pytest.fixture(params=["memory", pytest.param("docker", marks=pytest.mark.real)])
def harness(request) -> Iterator[VolumeHarness]:
    if request.param == "memory":
        yield MemoryHarness()
        return
    if request.param == "docker":
        client = request.getfixturevalue("docker_client")
        engine = request.getfixturevalue("docker_engine")
        docker_harness = DockerHarness(
            store=DockerVolumeStore(engine),
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


async def test_listing_by_names_returns_only_existing_ones(harness):
    a, b, missing = harness.name("a"), harness.name("b"), harness.name("missing")
    await harness.create(b)
    await harness.create(a)
    listed = await harness.store.volumes([a, b, missing])
    assert [v.name for v in listed] == sorted([a, b])


async def test_listing_everything_includes_our_volumes(harness):
    a = harness.name("all")
    await harness.create(a)
    assert a in {v.name for v in await harness.store.volumes()}


async def test_sizes_reflect_the_data_in_a_volume(harness):
    small, big = harness.name("small"), harness.name("big")
    await harness.create(small)
    await harness.create(big, data_bytes=3 * 1024 * 1024)
    sizes = {v.name: v.size_bytes for v in await harness.store.volumes([small, big])}
    assert sizes[big] is not None
    assert sizes[big] >= 3 * 1024 * 1024
    assert sizes[small] is not None
    assert sizes[small] < 1024 * 1024


async def test_remove_reports_an_outcome_per_volume(harness):
    free, busy, missing = harness.name("free"), harness.name("busy"), harness.name("gone")
    await harness.create(free)
    await harness.create(busy)
    await harness.hold(busy)
    outcomes = await harness.store.remove([free, busy, missing])
    assert outcomes == {
        free: VolumeOutcome.REMOVED,
        busy: VolumeOutcome.IN_USE,
        missing: VolumeOutcome.NOT_FOUND,
    }
    assert [v.name for v in await harness.store.volumes([free, busy])] == [busy]


async def test_a_name_given_twice_is_removed_once(harness):
    name = harness.name("twice")
    await harness.create(name)
    assert await harness.store.remove([name, name]) == {name: VolumeOutcome.REMOVED}
    assert await harness.store.volumes([name]) == []


async def test_removing_nothing_is_fine(harness):
    assert await harness.store.remove([]) == {}
