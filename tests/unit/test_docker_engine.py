"""DockerEngine without an engine: calls run on its pool, SDK errors and deadlines become
BackendUnavailable, domain errors pass through, and the client is made lazily, on the pool, on
first use, with a failed connect tried again on the next call.

No test here reaches a Docker engine: the clients made point at a socket path that does not
exist, with the API version given so that making one sends no request. What the adapters do on
a real engine, or with nothing listening, is in tests/integration/test_docker_adapters.py."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import CodeType, FrameType

import docker
import docker.errors
import pytest
import requests

from stellars.adapters.docker import DockerEngine, connect
from stellars.adapters.docker.engine import describe, host_resources, probe_engine
from stellars.domain.errors import BackendUnavailable, ContainerNotFound
from stellars.domain.limits import HostResources

NOWHERE = "unix:///nonexistent/stellars-test/docker.sock"


def client_for_nowhere() -> docker.DockerClient:
    """A real SDK client; with the version pinned, making it contacts nothing."""
    return docker.DockerClient(base_url=NOWHERE, version="1.41", timeout=2)


def never_connect() -> docker.DockerClient:
    raise AssertionError("this test must not reach the engine")


@pytest.fixture
def engine() -> Iterator[DockerEngine]:
    engine = DockerEngine(never_connect, max_workers=2, timeout_seconds=0.5)
    yield engine
    engine.close()


class CountingConnect:
    """A connect function: fails with BackendUnavailable while `refuse` is set, otherwise makes
    a client; records the thread of each call and may hold each call until `release` is set."""

    def __init__(self, *, refuse: bool = True, hold: bool = False) -> None:
        self.refuse = refuse
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.threads: list[int] = []
        self.made: list[docker.DockerClient] = []

    def __call__(self) -> docker.DockerClient:
        self.threads.append(threading.get_ident())
        if not self.release.wait(timeout=5):
            raise AssertionError("the test never released the connect")
        if self.refuse:
            raise BackendUnavailable(f"Docker engine at {NOWHERE} unreachable: refused")
        client = client_for_nowhere()
        self.made.append(client)
        return client

    def close(self) -> None:
        for client in self.made:
            client.close()


# --- calls off the loop, errors mapped ---------------------------------------------------------


async def test_engine_runs_calls_off_the_event_loop(engine):
    loop_thread = threading.get_ident()
    assert await engine.run(threading.get_ident, what="a call") != loop_thread


@pytest.mark.parametrize(
    "error",
    [
        requests.exceptions.ConnectionError("connection refused"),
        requests.exceptions.ReadTimeout("read timed out"),
        docker.errors.APIError("500 Server Error", explanation="engine is shutting down"),
        FileNotFoundError(2, "No such file or directory", "/var/run/docker.sock"),
    ],
)
async def test_engine_maps_sdk_errors_to_backend_unavailable(engine, error):
    def fail():
        raise error

    with pytest.raises(BackendUnavailable, match="a listing"):
        await engine.run(fail, what="a listing")


async def test_engine_maps_a_slow_call_to_backend_unavailable(engine):
    release = threading.Event()
    try:
        with pytest.raises(BackendUnavailable, match=r"within 0\.05 s"):
            await engine.run(release.wait, what="a slow call", timeout_seconds=0.05)
    finally:
        release.set()


async def test_engine_lets_domain_errors_through(engine):
    def missing():
        raise ContainerNotFound("No container named 'x'")

    with pytest.raises(ContainerNotFound):
        await engine.run(missing, what="an inspection")


async def test_engine_lets_programming_errors_through(engine):
    def broken():
        raise KeyError("Id")

    with pytest.raises(KeyError):
        await engine.run(broken, what="an inspection")


def test_errors_are_described_in_the_engines_own_words():
    api_error = docker.errors.APIError("500 Server Error", explanation="volume is in use")
    assert describe(api_error) == "volume is in use"
    assert describe(requests.exceptions.ConnectionError("refused")) == "refused"
    assert describe(requests.exceptions.ReadTimeout()) == "ReadTimeout"


def test_a_pool_needs_a_worker():
    with pytest.raises(ValueError, match="max_workers"):
        DockerEngine(never_connect, max_workers=0)


async def test_closing_leaves_a_pool_passed_in_to_its_owner():
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        engine = DockerEngine(never_connect, executor=pool)
        assert await engine.run(lambda: 42, what="a call") == 42
        engine.close()
        assert pool.submit(lambda: 7).result(timeout=5) == 7
    finally:
        pool.shutdown()


def test_a_client_passed_in_is_used_as_it_is():
    client = client_for_nowhere()
    try:
        engine = DockerEngine(client)
        assert engine.client is client
        assert engine.api is client.api
        engine.close()
    finally:
        client.close()


# --- lazy connect ------------------------------------------------------------------------------


async def test_making_an_engine_does_not_connect():
    connect = CountingConnect()
    engine = DockerEngine(connect)
    engine.close()
    assert connect.threads == []


async def test_a_failed_connect_is_backend_unavailable_off_the_loop_and_tried_again():
    connect = CountingConnect(refuse=True, hold=True)
    engine = DockerEngine(connect, max_workers=2, timeout_seconds=5)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    beating = asyncio.ensure_future(ticker())
    try:
        pending = asyncio.ensure_future(engine.run(lambda: engine.api.ping(), what="a ping"))
        # The connect is held: the loop must keep running meanwhile.
        for _ in range(200):
            if connect.threads and ticks >= 5:
                break
            await asyncio.sleep(0.005)
        assert connect.threads, "the connect was not attempted"
        assert ticks >= 5, "the event loop stalled while the engine connected"
        assert not pending.done()
        connect.release.set()
        with pytest.raises(BackendUnavailable, match="unreachable"):
            await pending
        assert connect.threads[0] != threading.get_ident()

        # Not remembered as failed: the next call connects again.
        with pytest.raises(BackendUnavailable, match="unreachable"):
            await engine.run(lambda: engine.api.ping(), what="a ping")
        assert len(connect.threads) == 2

        # Once the engine answers, the client is made and kept.
        connect.refuse = False
        made = await engine.run(lambda: engine.client, what="a connect")
        assert await engine.run(lambda: engine.client, what="a connect") is made
        assert len(connect.threads) == 3
    finally:
        beating.cancel()
        engine.close()
        connect.close()


def threads_running(code: CodeType) -> int:
    """How many threads have `code` on their stack right now."""
    count = 0
    for frame in sys._current_frames().values():
        walking: FrameType | None = frame
        while walking is not None and walking.f_code is not code:
            walking = walking.f_back
        count += walking is not None
    return count


async def test_concurrent_first_calls_connect_once():
    connect = CountingConnect(refuse=False, hold=True)
    engine = DockerEngine(connect, max_workers=4, timeout_seconds=5)
    client_code = DockerEngine.client.fget.__code__
    try:
        calls = [engine.run(lambda: engine.client, what="a call") for _ in range(4)]
        gathered = asyncio.gather(*calls)
        # The connect is held, so no worker can leave `client` yet: wait until all four are in
        # it (one connecting, the others waiting their turn) before letting the connect finish.
        for _ in range(1000):
            if threads_running(client_code) == 4:
                break
            await asyncio.sleep(0.005)
        assert threads_running(client_code) == 4, "the four calls never all reached the client"
        connect.release.set()
        clients = await gathered
    finally:
        engine.close()
        connect.close()
    assert len(connect.threads) == 1
    assert all(client is clients[0] for client in clients)


@pytest.mark.parametrize(
    ("info", "host"),
    [
        ({"NCPU": 16, "MemTotal": 2**37, "Name": "gpu-1"}, HostResources(16, 2**37)),
        ({"NCPU": 1, "MemTotal": 1}, HostResources(1, 1)),
        ({"NCPU": 16}, None),  # an engine that does not say its memory
        ({"MemTotal": 2**30}, None),
        ({"NCPU": 0, "MemTotal": 2**30}, None),
        ({"NCPU": "16", "MemTotal": 2**30}, None),
        ({"NCPU": 16, "MemTotal": None}, None),
        ({}, None),
    ],
)  # fmt: skip
def test_the_engines_host_is_read_from_docker_info(info, host):
    assert host_resources(info) == host


def test_a_probe_that_finds_no_engine_knows_no_host():
    probe = probe_engine(NOWHERE, "lab:latest", timeout_seconds=1)
    assert probe.problem is not None and probe.problem.startswith("no Docker engine answers")
    assert (probe.image_present, probe.host) == (False, None)


def test_connect_keeps_as_many_connections_as_asked_and_the_sdks_ten_by_default():
    # A fixed API version: no request is made, so no engine is needed.
    pooled = connect(NOWHERE, version="1.41", max_pool_size=37)
    default = connect(NOWHERE, version="1.41")
    try:
        assert pooled.api._custom_adapter.max_pool_size == 37
        assert default.api._custom_adapter.max_pool_size == 10
    finally:
        pooled.close()
        default.close()
