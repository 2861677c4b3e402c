"""Real engine: the Docker adapters beyond their port contracts (exact names, concurrency, the
refreshers) and what they raise when no engine answers."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator

import docker
import docker.errors
import pytest

from stellars.adapters.docker import (
    ContainerStatsRefresher,
    DockerContainerControl,
    DockerContainerStats,
    DockerEngine,
    DockerVolumeStore,
    VolumeSizeRefresher,
    connect,
)
from stellars.domain.errors import BackendUnavailable, ContainerNotFound
from tests.backends import list_labelled
from tests.backends.dockerhost import SESSION_ID

BUSY_LOOP = ["sh", "-c", "while :; do :; done"]
NO_ENGINE = "unix:///nonexistent/stellars-test/docker.sock"


def unique(label: str) -> str:
    return f"stellars-test-{uuid.uuid4().hex[:8]}-{label}"


@pytest.fixture
def engine(docker_client: docker.DockerClient) -> Iterator[DockerEngine]:
    engine = DockerEngine(docker_client, max_workers=4)
    yield engine
    engine.close()
    assert not list_labelled(docker_client, SESSION_ID), "the test left labelled docker objects"


@pytest.fixture
def run_container(docker_client: docker.DockerClient, tiny_image: str, docker_labels):
    """Factory: start a labelled tiny-image container; all are removed at teardown."""
    started: list[str] = []

    def run(name: str, command: list[str] | None = None, **kwargs) -> str:
        container = docker_client.containers.run(
            tiny_image, command, name=name, labels=docker_labels, detach=True, **kwargs
        )
        started.append(container.id)
        return container.id

    yield run
    for container_id in started:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.api.remove_container(container_id, force=True)


@pytest.mark.real
async def test_a_name_is_never_resolved_as_an_id_prefix(engine, run_container):
    container_id = run_container(unique("lab"))
    id_prefix = container_id[:12]
    control = DockerContainerControl(engine)
    assert not await control.is_running(id_prefix)
    with pytest.raises(ContainerNotFound):
        await control.restart(id_prefix, timeout_seconds=1)
    assert await DockerContainerStats(engine).usage([id_prefix]) == {}


@pytest.mark.real
async def test_concurrent_listings_share_one_disk_usage_request(
    engine, docker_client, docker_labels
):
    # dockerd 20.10 answers a second concurrent df with HTTP 500; the store must not.
    name = unique("shared")
    docker_client.volumes.create(name, labels=docker_labels)
    try:
        store = DockerVolumeStore(engine)
        listings = await asyncio.gather(*(store.volumes([name]) for _ in range(8)))
        assert all([info.name for info in listing] == [name] for listing in listings)
    finally:
        docker_client.api.remove_volume(name, force=True)


@pytest.mark.real
async def test_stats_refresher_keeps_usage_of_running_containers_only(engine, run_container):
    busy, idle = unique("busy"), unique("idle")
    run_container(busy, BUSY_LOOP)
    run_container(idle)
    refresher = ContainerStatsRefresher(
        DockerContainerStats(engine), lambda: [busy, idle], interval_seconds=3600
    )
    refresher.start()
    try:
        snapshot = await refresher.refresh_now()
        assert snapshot.ready
        assert snapshot.error is None
        assert set(snapshot.value) == {busy, idle}
        assert snapshot.value[busy].cpu_percent > snapshot.value[idle].cpu_percent
        assert snapshot.value[busy].memory_bytes > 0

        await asyncio.to_thread(engine.api.kill, idle)
        snapshot = await refresher.refresh_now()
        assert set(snapshot.value) == {busy}
        assert refresher.usage(idle) is None
    finally:
        await refresher.stop()


@pytest.mark.real
async def test_volume_size_refresher_reports_written_data(
    engine, docker_client, tiny_image, docker_labels
):
    name = unique("sized")
    docker_client.volumes.create(name, labels=docker_labels)
    try:
        docker_client.containers.run(
            tiny_image,
            ["sh", "-c", "head -c 2097152 /dev/zero > /data/blob"],
            volumes={name: {"bind": "/data", "mode": "rw"}},
            labels=docker_labels,
            remove=True,
        )
        refresher = VolumeSizeRefresher(
            DockerVolumeStore(engine), names=lambda: [name], interval_seconds=3600
        )
        refresher.request_refresh()  # fire and forget...
        assert not refresher.snapshot().ready  # ...the read did not wait for it
        snapshot = await refresher.refresh_now()  # joins the pass in flight
        assert set(snapshot.value) == {name}
        assert refresher.size_of(name) >= 2097152
    finally:
        docker_client.api.remove_volume(name, force=True)


# --- no engine ----------------------------------------------------------------------------------


@pytest.fixture
def engine_down() -> Iterator[DockerEngine]:
    client = docker.DockerClient(base_url=NO_ENGINE, version="1.41", timeout=2)
    engine = DockerEngine(client, max_workers=2, timeout_seconds=5)
    yield engine
    engine.close()
    client.close()


async def test_no_engine_is_backend_unavailable_everywhere(engine_down):
    store = DockerVolumeStore(engine_down)
    control = DockerContainerControl(engine_down)
    stats = DockerContainerStats(engine_down)
    for attempt in (
        store.volumes(),
        store.remove(["a"]),
        control.restart("a"),
        control.is_running("a"),
        stats.usage(["a"]),
    ):
        with pytest.raises(BackendUnavailable, match="Docker"):
            await attempt


async def test_nothing_to_ask_needs_no_engine(engine_down):
    assert await DockerVolumeStore(engine_down).remove([]) == {}
    assert await DockerContainerStats(engine_down).usage([]) == {}


def test_connect_to_no_engine_is_backend_unavailable():
    with pytest.raises(BackendUnavailable, match="unreachable"):
        connect(NO_ENGINE, timeout_seconds=2)
