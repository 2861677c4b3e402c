"""Real engine: the Docker adapters beyond their port contracts (exact names, one disk-usage
request at a time, CPU measured since the previous pass, the adapters feeding a `Refresher`)
and what they answer when no engine listens, including an engine that comes up later."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import docker
import docker.errors
import pytest
from docker.utils import version_gte

from stellars.adapters.docker import (
    DEFAULT_SOCKET,
    DockerContainerControl,
    DockerContainerStats,
    DockerEngine,
    DockerVolumeStore,
    connect,
)
from stellars.adapters.system import SystemClock
from stellars.domain.containers import ContainerUsage
from stellars.domain.errors import BackendUnavailable, ContainerNotFound
from stellars.domain.services.refresh import Refresher
from stellars.domain.volumes import VolumeInfo
from tests.backends import list_labelled
from tests.backends.dockerhost import SESSION_ID

BUSY_LOOP = ["sh", "-c", "while :; do :; done"]
# Spins for BURST_SECONDS after the start, then idles.
BURST_SECONDS = 5
BURST_THEN_IDLE = ["sh", "-c", f"while :; do :; done & sleep {BURST_SECONDS}; kill $!; sleep 3600"]
# About 90 000 directory entries: enough for dockerd to spend ~0.5 s on each disk-usage request.
MANY_FILES = (
    "mkdir /data/0 && cd /data/0 && seq 1 1500 | xargs touch"
    " && cd /data && for i in $(seq 1 59); do cp -al 0 $i; done"
)
HOUR = timedelta(hours=1)


def unique(label: str) -> str:
    return f"stellars-test-{uuid.uuid4().hex[:8]}-{label}"


def engine_url() -> str:
    """Where the test engine listens (the fixtures' client reads DOCKER_HOST the same way)."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET


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


@pytest.fixture
def volume(docker_client: docker.DockerClient, docker_labels) -> Iterator[str]:
    """A fresh labelled volume, removed at teardown."""
    name = unique("vol")
    docker_client.volumes.create(name, labels=docker_labels)
    yield name
    with contextlib.suppress(docker.errors.NotFound):
        docker_client.api.remove_volume(name, force=True)


def fill(client: docker.DockerClient, image: str, name: str, script: str, labels) -> None:
    """Run `script` in a tiny-image container with volume `name` at /data."""
    client.containers.run(
        image,
        ["sh", "-c", script],
        volumes={name: {"bind": "/data", "mode": "rw"}},
        labels=labels,
        remove=True,
    )


# --- exact names --------------------------------------------------------------------------------


@pytest.mark.real
async def test_a_name_is_never_resolved_as_an_id_prefix(engine, run_container):
    container_id = run_container(unique("lab"))
    id_prefix = container_id[:12]
    control = DockerContainerControl(engine)
    assert not await control.is_running(id_prefix)
    with pytest.raises(ContainerNotFound):
        await control.restart(id_prefix, timeout_seconds=1)
    assert await DockerContainerStats(engine).usage([id_prefix]) == {}


# --- disk usage: one request at a time ----------------------------------------------------------


@pytest.mark.real
async def test_concurrent_listings_share_one_disk_usage_request(engine, volume):
    # dockerd 20.10 answers a second concurrent df with HTTP 500; the store must not.
    store = DockerVolumeStore(engine)
    listings = await asyncio.gather(*(store.volumes([volume]) for _ in range(8)))
    assert all([info.name for info in listing] == [volume] for listing in listings)


def df_elsewhere(client: docker.DockerClient) -> bool:
    """A disk-usage request of another process's; False when the engine refused it as busy."""
    try:
        client.api.df()
    except docker.errors.APIError:
        return False
    return True


async def refusal_of(listing: Awaitable[object]) -> BackendUnavailable | None:
    try:
        await listing
    except BackendUnavailable as exc:
        return exc
    return None


@pytest.mark.real
async def test_an_engine_busy_with_another_df_is_asked_again(
    engine, docker_client, tiny_image, docker_labels, volume
):
    if version_gte(docker_client.api.api_version, "1.42"):
        pytest.skip("this engine shares a running disk-usage computation instead of refusing")
    await asyncio.to_thread(fill, docker_client, tiny_image, volume, MANY_FILES, docker_labels)
    impatient = DockerVolumeStore(engine, df_attempts=1)
    patient = DockerVolumeStore(engine, df_attempts=50, df_retry_seconds=0.02)
    for _ in range(5):
        other = asyncio.ensure_future(asyncio.to_thread(df_elsewhere, docker_client))
        try:
            await asyncio.sleep(0.1)  # the other df is under way (it takes ~0.5 s)
            refusal = await refusal_of(impatient.volumes([volume]))
            if refusal is None:
                continue  # ours came first: try again
            assert "already running" in str(refusal)
            assert not other.done(), "the engine should still be busy"
            listed = await patient.volumes([volume])
            break
        finally:
            await other
    else:
        pytest.fail("the engine never reported a disk usage operation already running")
    assert [info.name for info in listed] == [volume]
    assert listed[0].size_bytes is not None


# --- container stats: CPU since the previous pass -----------------------------------------------


@pytest.mark.real
async def test_cpu_is_averaged_since_the_previous_pass_while_it_is_remembered(
    engine, run_container
):
    name = unique("burst")
    run_container(name, BURST_THEN_IDLE)
    started = time.monotonic()
    now = 0.0
    remembering = DockerContainerStats(engine, reading_memo_seconds=60)
    forgetting = DockerContainerStats(engine, reading_memo_seconds=60, monotonic=lambda: now)
    # API 1.40 has no one-shot stats: every request brings the engine's own two samples.
    old_client = await asyncio.to_thread(docker.from_env, version="1.40", timeout=30)
    old_engine = DockerEngine(old_client, max_workers=2)
    old_api = DockerContainerStats(old_engine, reading_memo_seconds=60)
    adapters = (remembering, forgetting, old_api)
    try:
        during = await asyncio.gather(*(stats.usage([name]) for stats in adapters))
        # First passes measure over the engine's own last second, inside the burst.
        assert [usage[name].cpu_percent > 15 for usage in during] == [True] * 3, during
        await asyncio.sleep(max(0.0, started + BURST_SECONDS + 2 - time.monotonic()))
        now = 61.0  # `forgetting` finds its reading too old now
        after = await asyncio.gather(*(stats.usage([name]) for stats in adapters))
    finally:
        old_engine.close()
        old_client.close()
    since_first, last_second, old_engine_answer = (usage[name].cpu_percent for usage in after)
    assert since_first > 15, after  # most of the burst lies between the two passes
    assert last_second < 5, after  # the container has been idle for two seconds
    assert old_engine_answer < 5, after


# --- refreshers over the real adapters ----------------------------------------------------------


@pytest.mark.real
async def test_stats_refresher_keeps_usage_of_running_containers_only(
    engine, run_container, docker_client
):
    busy, idle = unique("busy"), unique("idle")
    run_container(busy, BUSY_LOOP)
    run_container(idle)
    stats = DockerContainerStats(engine)
    refresher: Refresher[Mapping[str, ContainerUsage]] = Refresher(
        lambda: stats.usage([busy, idle]),
        empty={},
        interval=HOUR,
        clock=SystemClock(),
        name="container stats",
    )
    refresher.start()
    try:
        snapshot = await refresher.refresh_now()
        assert snapshot.ready
        assert snapshot.error is None
        assert set(snapshot.value) == {busy, idle}
        assert snapshot.value[busy].cpu_percent > snapshot.value[idle].cpu_percent
        assert snapshot.value[busy].memory_bytes > 0

        await asyncio.to_thread(docker_client.api.kill, idle)
        snapshot = await refresher.refresh_now()
        assert set(snapshot.value) == {busy}
        assert refresher.snapshot().value.get(idle) is None
    finally:
        await refresher.stop()
    assert not refresher.running


@pytest.mark.real
async def test_volume_size_refresher_reports_written_data(
    engine, docker_client, tiny_image, docker_labels, volume
):
    script = "head -c 2097152 /dev/zero > /data/blob"
    await asyncio.to_thread(fill, docker_client, tiny_image, volume, script, docker_labels)
    store = DockerVolumeStore(engine)
    refresher: Refresher[Sequence[VolumeInfo]] = Refresher(
        lambda: store.volumes([volume]),
        empty=(),
        interval=HOUR,
        clock=SystemClock(),
        name="volume sizes",
    )
    refresher.request_refresh()  # fire and forget...
    assert not refresher.snapshot().ready  # ...the read did not wait for it
    snapshot = await refresher.refresh_now()  # joins the pass in flight
    assert refresher.passes == 1
    (info,) = snapshot.value
    assert info.name == volume
    assert info.size_bytes is not None
    assert info.size_bytes >= 2097152


# --- no engine ----------------------------------------------------------------------------------


def refusing_socket(directory: Path) -> str:
    """A unix socket path where a socket was bound and closed: connecting is refused."""
    path = directory / "docker.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bound:
        bound.bind(str(path))
    return f"unix://{path}"


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    # Unix socket paths must stay short (108 bytes): pytest's tmp_path can be longer.
    with tempfile.TemporaryDirectory(prefix="stellars-", dir="/tmp") as directory:
        yield Path(directory)


@dataclass
class DownEngine:
    """An engine over a socket nothing answers on, and the connects it attempted."""

    engine: DockerEngine
    lazy: bool
    connects: list[str] = field(default_factory=list)


@pytest.fixture(params=["client", "connect-missing", "connect-refused"])
def engine_down(request, short_tmp: Path) -> Iterator[DownEngine]:
    """`client`: an SDK client made for a missing socket (the version given, so it was made
    without asking); the others: the lazy `connect` of a missing socket, or of a socket path
    where connections are refused."""
    if request.param == "client":
        client = docker.DockerClient(
            base_url=f"unix://{short_tmp}/missing.sock", version="1.41", timeout=2
        )
        down = DownEngine(DockerEngine(client, max_workers=2, timeout_seconds=5), lazy=False)
        yield down
        down.engine.close()
        client.close()
        return
    url = (
        f"unix://{short_tmp}/missing.sock"
        if request.param == "connect-missing"
        else refusing_socket(short_tmp)
    )
    attempts: list[str] = []

    def connect_to_nothing() -> docker.DockerClient:
        attempts.append(url)
        return connect(url, timeout_seconds=2)

    engine = DockerEngine(connect_to_nothing, max_workers=2, timeout_seconds=5)
    down = DownEngine(engine, lazy=True, connects=attempts)
    yield down
    down.engine.close()


async def test_no_engine_is_backend_unavailable_everywhere(engine_down):
    store = DockerVolumeStore(engine_down.engine)
    control = DockerContainerControl(engine_down.engine)
    stats = DockerContainerStats(engine_down.engine)
    for attempt in (
        store.volumes(),
        store.volumes(["a"]),
        store.remove(["a"]),
        control.restart("a"),
        control.is_running("a"),
        stats.usage(["a"]),
    ):
        with pytest.raises(BackendUnavailable, match="Docker"):
            await attempt


async def test_each_call_connects_again_until_the_engine_answers(engine_down):
    stats = DockerContainerStats(engine_down.engine)
    for _ in range(2):
        with pytest.raises(BackendUnavailable, match="Docker"):
            await stats.usage(["a"])
    assert len(engine_down.connects) == (2 if engine_down.lazy else 0)


async def test_nothing_to_ask_needs_no_engine(engine_down):
    assert await DockerVolumeStore(engine_down.engine).remove([]) == {}
    assert await DockerContainerStats(engine_down.engine).usage([]) == {}
    assert engine_down.connects == []


async def test_a_refresher_over_no_engine_keeps_going_and_says_why(engine_down):
    store = DockerVolumeStore(engine_down.engine)
    failures: list[Exception] = []
    refresher: Refresher[list[VolumeInfo]] = Refresher(
        store.volumes,
        empty=[],
        interval=HOUR,
        clock=SystemClock(),
        name="volume sizes",
        on_failure=failures.append,
    )
    for _ in range(2):
        snapshot = await refresher.refresh_now()
    assert not snapshot.ready
    assert snapshot.value == []
    assert snapshot.error is not None
    assert "Docker" in snapshot.error
    assert snapshot.failures == 2
    assert all(isinstance(failure, BackendUnavailable) for failure in failures)


def test_connect_to_no_engine_is_backend_unavailable(short_tmp):
    for url in (f"unix://{short_tmp}/missing.sock", refusing_socket(short_tmp)):
        with pytest.raises(BackendUnavailable, match="unreachable"):
            connect(url, timeout_seconds=2)


@pytest.mark.real
async def test_an_engine_that_answers_later_is_used_without_a_restart(docker_client, short_tmp):
    urls = [refusing_socket(short_tmp), engine_url()]
    attempts: list[str] = []
    made: list[docker.DockerClient] = []

    def connect_next() -> docker.DockerClient:
        url = urls[min(len(attempts), len(urls) - 1)]
        attempts.append(url)
        made.append(connect(url, timeout_seconds=10))
        return made[-1]

    engine = DockerEngine(connect_next, max_workers=2, timeout_seconds=15)
    control = DockerContainerControl(engine)
    try:
        with pytest.raises(BackendUnavailable, match="unreachable"):
            await control.is_running(unique("lab"))
        assert not await control.is_running(unique("lab"))  # the engine answered this time
        assert not await control.is_running(unique("lab"))
    finally:
        engine.close()
        for client in made:
            client.close()
    assert attempts == urls
