"""Docker adapters without an engine: translating the engine's JSON (captured from dockerd 20.10
on cgroup v1, and the cgroup v2 shape), error mapping, and the background refreshers over fakes."""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import docker.errors
import pytest
import requests

from stellars.adapters.docker import (
    ContainerStatsRefresher,
    DockerContainerStats,
    DockerEngine,
    DockerVolumeStore,
    VolumeSizeRefresher,
    readings_from_stats,
    running_names,
    volumes_from_disk_usage,
)
from stellars.adapters.memory import InMemoryContainers, InMemoryVolumeStore, ManualClock
from stellars.domain.containers import ContainerReading, ContainerUsage, usage_between
from stellars.domain.errors import BackendUnavailable, ContainerNotFound
from stellars.domain.volumes import VolumeOutcome
from stellars.ports.volumes import VolumeInfo

# `GET /containers/{id}/stats?stream=false` of a busy container, dockerd 20.10, cgroup v1
# (blkio, network, pids and storage blocks left out).
CGROUP_V1_BUSY = {
    "read": "2026-11-25T17:44:41.198530617Z",
    "preread": "2026-11-25T17:44:40.195007703Z",
    "num_procs": 0,
    "cpu_stats": {
        "cpu_usage": {
            "total_usage": 2030964457,
            "percpu_usage": [22794551, 2008169906],
            "usage_in_kernelmode": 10000000,
            "usage_in_usermode": 2010000000,
        },
        "system_cpu_usage": 3384580000000,
        "online_cpus": 2,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "precpu_stats": {
        "cpu_usage": {
            "total_usage": 1031185883,
            "percpu_usage": [22794551, 1008391332],
            "usage_in_kernelmode": 10000000,
            "usage_in_usermode": 1010000000,
        },
        "system_cpu_usage": 3382570000000,
        "online_cpus": 2,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "memory_stats": {
        "usage": 4014080,
        "max_usage": 4333568,
        "stats": {
            "active_anon": 4096,
            "active_file": 245760,
            "cache": 3248128,
            "inactive_file": 3002368,
            "rss": 61440,
            "total_active_file": 245760,
            "total_cache": 3248128,
            "total_inactive_anon": 57344,
            "total_inactive_file": 3002368,
            "total_rss": 61440,
        },
        "limit": 25276514304,
    },
    "name": "/serene_lewin",
    "id": "10ec7d94c026502894c89d1bee52b8b49757fc4a9f2b57954be219796d1dfe66",
}
# The same endpoint for a container that has stopped.
STOPPED = {
    "read": "0001-01-01T00:00:00Z",
    "preread": "0001-01-01T00:00:00Z",
    "cpu_stats": {"cpu_usage": {"total_usage": 0}, "throttling_data": {}},
    "precpu_stats": {"cpu_usage": {"total_usage": 0}, "throttling_data": {}},
    "memory_stats": {},
}
# cgroup v2: no percpu_usage, no total_* memory counters (inactive_file is the cache).
CGROUP_V2 = {
    "cpu_stats": {
        "cpu_usage": {"total_usage": 2_500_000_000, "usage_in_usermode": 2_400_000_000},
        "system_cpu_usage": 100_004_000_000_000,
        "online_cpus": 4,
    },
    "precpu_stats": {
        "cpu_usage": {"total_usage": 1_500_000_000, "usage_in_usermode": 1_400_000_000},
        "system_cpu_usage": 100_000_000_000_000,
        "online_cpus": 4,
    },
    "memory_stats": {
        "usage": 52_428_800,
        "stats": {"anon": 20_971_520, "file": 31_457_280, "inactive_file": 10_485_760},
        "limit": 8_589_934_592,
    },
}


def test_cgroup_v1_answer_gives_two_readings_like_docker_stats():
    earlier, later = readings_from_stats(CGROUP_V1_BUSY)
    assert earlier == ContainerReading(
        cpu_total_ns=1031185883,
        system_cpu_ns=3382570000000,
        online_cpus=2,
        memory_usage_bytes=4014080,
        memory_limit_bytes=25276514304,
        memory_inactive_file_bytes=3002368,
    )
    assert later.cpu_total_ns == 2030964457
    usage = usage_between(earlier, later)
    # (2030964457 - 1031185883) / (3384580000000 - 3382570000000) * 2 CPUs * 100
    assert usage.cpu_percent == 99.5
    assert usage.memory_bytes == 4014080 - 3002368  # total_inactive_file is not in use
    assert usage.memory_limit_bytes == 25276514304


def test_cgroup_v2_answer_uses_inactive_file():
    earlier, later = readings_from_stats(CGROUP_V2)
    usage = usage_between(earlier, later)
    assert usage.cpu_percent == 100.0  # 1 s of CPU over 4 s of system time on 4 CPUs
    assert usage.memory_bytes == 52_428_800 - 10_485_760


def test_online_cpus_fall_back_to_the_per_cpu_list_then_one():
    old_engine = copy.deepcopy(CGROUP_V1_BUSY)
    del old_engine["cpu_stats"]["online_cpus"]
    assert readings_from_stats(old_engine)[1].online_cpus == 2
    bare = copy.deepcopy(CGROUP_V2)
    del bare["cpu_stats"]["online_cpus"]
    assert readings_from_stats(bare)[1].online_cpus == 1


def test_one_shot_answer_has_no_earlier_reading():
    one_shot = copy.deepcopy(CGROUP_V1_BUSY)
    one_shot["precpu_stats"] = {"cpu_usage": {"total_usage": 0}, "throttling_data": {}}
    earlier, later = readings_from_stats(one_shot)
    assert earlier is None
    assert later.system_cpu_ns == 3384580000000


def test_stopped_container_has_no_readings():
    assert readings_from_stats(STOPPED) is None
    assert readings_from_stats({}) is None


def test_running_names_keeps_own_names_not_link_aliases():
    listing = [
        {"Id": "aaa", "Names": ["/jupyter-alice"]},
        {"Id": "bbb", "Names": ["/jupyter-bob", "/jupyter-alice/bob-alias"]},
        {"Id": "ccc", "Names": None},
    ]
    assert running_names(listing) == {"jupyter-alice": "aaa", "jupyter-bob": "bbb"}


def test_disk_usage_sizes_minus_one_means_not_measured():
    payload = {
        "Volumes": [
            {"Name": "b", "UsageData": {"RefCount": 1, "Size": 4096}},
            {"Name": "a", "UsageData": {"RefCount": 0, "Size": -1}},
            {"Name": "c", "UsageData": None},
            {"Name": "d"},
            {"UsageData": {"Size": 1}},  # no name: not a volume we can address
        ]
    }
    assert volumes_from_disk_usage(payload) == [
        VolumeInfo("a", None),
        VolumeInfo("b", 4096),
        VolumeInfo("c", None),
        VolumeInfo("d", None),
    ]
    assert volumes_from_disk_usage({"Volumes": None}) == []


# --- DockerEngine: calls off the loop, errors mapped --------------------------------------------


@pytest.fixture
def engine():
    # No engine is contacted: the client is never used by these tests.
    engine = DockerEngine(client=None, max_workers=2, timeout_seconds=0.5)  # type: ignore[arg-type]
    yield engine
    engine.close()


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


# --- refreshers over the in-memory fakes --------------------------------------------------------

START = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def usage(cpu: float) -> ContainerUsage:
    return ContainerUsage(cpu_percent=cpu, memory_bytes=1024, memory_limit_bytes=4096)


class FlakyStats:
    """A ContainerStats over the fake whose engine can be taken down."""

    def __init__(self, inner: InMemoryContainers) -> None:
        self.inner = inner
        self.down = False

    async def usage(self, names: Collection[str]) -> Mapping[str, ContainerUsage]:
        if self.down:
            raise BackendUnavailable("Docker engine unreachable")
        return await self.inner.usage(names)


async def test_stats_snapshot_is_empty_and_not_ready_before_the_first_pass():
    refresher = ContainerStatsRefresher(InMemoryContainers(), lambda: ["a"])
    snapshot = refresher.snapshot()
    assert dict(snapshot.value) == {}
    assert not snapshot.ready
    assert refresher.usage("a") is None


async def test_stats_pass_covers_the_named_running_containers():
    containers = InMemoryContainers()
    containers.start("a", usage(10.0))
    containers.start("b", usage(20.0))
    clock = ManualClock(START)
    refresher = ContainerStatsRefresher(containers, lambda: ["a", "missing"], clock=clock)
    snapshot = await refresher.refresh_now()
    assert dict(snapshot.value) == {"a": usage(10.0)}
    assert snapshot.refreshed_at == START
    assert snapshot.error is None
    assert refresher.usage("a") == usage(10.0)


async def test_stats_pass_drops_containers_that_stopped():
    containers = InMemoryContainers()
    containers.start("a", usage(10.0))
    containers.start("b", usage(20.0))
    refresher = ContainerStatsRefresher(containers, lambda: ["a", "b"])
    await refresher.refresh_now()
    containers.stop("b")
    assert set((await refresher.refresh_now()).value) == {"a"}


async def test_stats_names_may_come_from_a_coroutine():
    containers = InMemoryContainers()
    containers.start("a", usage(1.0))

    async def running_servers() -> list[str]:
        return ["a"]

    refresher = ContainerStatsRefresher(containers, running_servers)
    assert set((await refresher.refresh_now()).value) == {"a"}


async def test_failed_pass_keeps_the_last_complete_one_and_says_why():
    containers = InMemoryContainers()
    containers.start("a", usage(5.0))
    clock = ManualClock(START)
    stats = FlakyStats(containers)
    refresher = ContainerStatsRefresher(stats, lambda: ["a"], clock=clock)
    await refresher.refresh_now()
    stats.down = True
    clock.advance(timedelta(minutes=1))
    snapshot = await refresher.refresh_now()
    assert dict(snapshot.value) == {"a": usage(5.0)}
    assert snapshot.refreshed_at == START
    assert snapshot.error == "Docker engine unreachable"


class GatedStats:
    """A ContainerStats that answers only when the test opens the gate, counting calls."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.calls = 0

    async def usage(self, names: Collection[str]) -> Mapping[str, ContainerUsage]:
        self.calls += 1
        await self.gate.wait()
        return {name: usage(1.0) for name in names}


async def test_snapshot_reads_never_wait_for_a_pass_and_passes_do_not_overlap():
    stats = GatedStats()
    refresher = ContainerStatsRefresher(stats, lambda: ["a"], interval_seconds=3600)
    refresher.start()
    try:
        await asyncio.sleep(0)  # let the first pass begin and block on the gate
        assert not refresher.snapshot().ready  # answered at once, without the engine
        joined = asyncio.ensure_future(refresher.refresh_now())
        refresher.request_refresh()
        await asyncio.sleep(0)
        assert stats.calls == 1
        stats.gate.set()
        snapshot = await joined
        assert set(snapshot.value) == {"a"}
        assert stats.calls == 1
    finally:
        await refresher.stop()
    assert not refresher.running


async def test_stop_cancels_a_pass_in_flight_and_start_again_works():
    stats = GatedStats()
    refresher = ContainerStatsRefresher(stats, lambda: ["a"], interval_seconds=3600)
    refresher.start()
    refresher.start()  # idempotent
    await asyncio.sleep(0)
    assert refresher.running
    await refresher.stop()
    assert not refresher.running
    assert not refresher.snapshot().ready
    stats.gate.set()
    refresher.start()
    try:
        for _ in range(10):
            await asyncio.sleep(0)
        assert refresher.snapshot().ready
    finally:
        await refresher.stop()


async def test_periodic_passes_follow_the_interval():
    containers = InMemoryContainers()
    containers.start("a", usage(1.0))
    passes = 0

    def names() -> list[str]:
        nonlocal passes
        passes += 1
        return ["a"]

    refresher = ContainerStatsRefresher(containers, names, interval_seconds=0.01)
    refresher.start()
    try:
        for _ in range(200):
            if passes >= 3:
                break
            await asyncio.sleep(0.01)
    finally:
        await refresher.stop()
    assert passes >= 3


def test_interval_must_be_positive():
    with pytest.raises(ValueError, match="interval"):
        ContainerStatsRefresher(InMemoryContainers(), list, interval_seconds=0)


async def test_volume_sizes_snapshot_lists_every_volume_or_the_named_ones():
    store = InMemoryVolumeStore()
    store.create("jupyterlab-alice_home", 4096)
    store.create("jupyterlab-bob_home", None)
    everything = VolumeSizeRefresher(store)
    await everything.refresh_now()
    assert everything.size_of("jupyterlab-alice_home") == 4096
    assert everything.size_of("jupyterlab-bob_home") is None
    assert everything.size_of("unknown") is None
    only_alice = VolumeSizeRefresher(store, names=lambda: ["jupyterlab-alice_home"])
    assert set((await only_alice.refresh_now()).value) == {"jupyterlab-alice_home"}


class FlakyVolumes:
    """A VolumeStore over the fake whose engine can be taken down."""

    def __init__(self, inner: InMemoryVolumeStore) -> None:
        self.inner = inner
        self.down = False

    async def volumes(self, names: Collection[str] | None = None) -> list[VolumeInfo]:
        if self.down:
            raise BackendUnavailable("Docker disk usage failed (HTTP 500)")
        return await self.inner.volumes(names)

    async def remove(self, names: Collection[str]) -> Mapping[str, VolumeOutcome]:
        return await self.inner.remove(names)


async def test_volume_sizes_keep_the_last_complete_pass():
    store = InMemoryVolumeStore()
    store.create("v", 10)
    flaky = FlakyVolumes(store)
    refresher = VolumeSizeRefresher(flaky)
    await refresher.refresh_now()
    flaky.down = True
    snapshot = await refresher.refresh_now()
    assert snapshot.value["v"] == VolumeInfo("v", 10)
    assert "HTTP 500" in snapshot.error


# --- disk usage: the request, and an engine busy with another df -------------------------------


class DiskUsageAnswer:
    def __init__(self, status_code: int, payload: object) -> None:
        self.status_code = status_code
        self.payload = payload
        self.text = str(payload)

    def json(self) -> object:
        return self.payload


class ScriptedApi:
    """The low-level client's `get`, answering from a script and recording the requests."""

    base_url = "http+docker://localhost"
    api_version = "1.41"

    def __init__(self, *answers: DiskUsageAnswer) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[str, dict[str, str]]] = []

    def get(self, url: str, *, params: dict[str, str], timeout: float) -> DiskUsageAnswer:
        self.requests.append((url, params))
        return self.answers.pop(0)


BUSY = DiskUsageAnswer(500, {"message": "a disk usage operation is already running"})
ONE_VOLUME = DiskUsageAnswer(200, {"Volumes": [{"Name": "v", "UsageData": {"Size": 7}}]})


def store_over(api: ScriptedApi, attempts: int = 3) -> tuple[DockerVolumeStore, DockerEngine]:
    engine = DockerEngine(SimpleNamespace(api=api), max_workers=1)  # type: ignore[arg-type]
    return DockerVolumeStore(engine, df_attempts=attempts, df_retry_seconds=0.001), engine


async def test_volume_sizes_come_from_one_typed_disk_usage_request():
    api = ScriptedApi(ONE_VOLUME)
    store, engine = store_over(api)
    try:
        assert await store.volumes() == [VolumeInfo("v", 7)]
    finally:
        engine.close()
    assert api.requests == [("http+docker://localhost/v1.41/system/df", {"type": "volume"})]


async def test_an_engine_busy_with_another_df_is_asked_again():
    api = ScriptedApi(BUSY, BUSY, ONE_VOLUME)
    store, engine = store_over(api, attempts=3)
    try:
        assert await store.volumes(["v", "w"]) == [VolumeInfo("v", 7)]
    finally:
        engine.close()
    assert len(api.requests) == 3


async def test_an_engine_busy_for_too_long_is_backend_unavailable():
    store, engine = store_over(ScriptedApi(BUSY, BUSY), attempts=2)
    try:
        with pytest.raises(BackendUnavailable, match="already running"):
            await store.volumes()
    finally:
        engine.close()


async def test_other_disk_usage_failures_are_not_retried():
    api = ScriptedApi(DiskUsageAnswer(500, {"message": "layer store broken"}), ONE_VOLUME)
    store, engine = store_over(api)
    try:
        with pytest.raises(BackendUnavailable, match="layer store broken"):
            await store.volumes()
    finally:
        engine.close()
    assert len(api.requests) == 1


# --- container stats: two readings, the second from memory when the engine sends one ----------


def stats_answer(cpu_ns: int, system_ns: int, *, previous: tuple[int, int] | None) -> dict:
    def block(cpu: int, system: int) -> dict:
        return {"cpu_usage": {"total_usage": cpu}, "system_cpu_usage": system, "online_cpus": 2}

    return {
        "cpu_stats": block(cpu_ns, system_ns),
        "precpu_stats": block(*previous) if previous else {"cpu_usage": {"total_usage": 0}},
        "memory_stats": {"usage": 1000, "limit": 4000, "stats": {"inactive_file": 100}},
    }


class ScriptedStatsApi:
    """The low-level client's container listing and stats, scripted; records stats options."""

    api_version = "1.41"

    def __init__(self, running: dict[str, str], *answers: dict) -> None:
        self.running = running
        self.answers = list(answers)
        self.calls: list[tuple[str, dict[str, object]]] = []

    def containers(self, filters: dict[str, str]) -> list[dict]:
        assert filters == {"status": "running"}
        return [{"Id": cid, "Names": [f"/{name}"]} for name, cid in self.running.items()]

    def stats(self, container_id: str, **options: object) -> dict:
        self.calls.append((container_id, options))
        return self.answers.pop(0)


async def test_first_measure_uses_the_engines_two_samples_then_one_shot_readings():
    seconds = 0.0
    api = ScriptedStatsApi(
        {"lab": "id-lab"},
        stats_answer(2_000, 20_000, previous=(1_000, 10_000)),  # full answer: 1000 / 10000
        stats_answer(5_000, 30_000, previous=None),  # one-shot: compared with 2000 / 20000
        stats_answer(9_000, 50_000, previous=(8_000, 40_000)),  # memo too old: full again
    )
    engine = DockerEngine(SimpleNamespace(api=api), max_workers=1)  # type: ignore[arg-type]
    stats = DockerContainerStats(engine, reading_memo_seconds=60, monotonic=lambda: seconds)
    try:
        first = await stats.usage(["lab", "not-running"])
        assert set(first) == {"lab"}
        assert first["lab"].cpu_percent == 20.0  # 1000 / 10000 * 2 CPUs * 100
        assert first["lab"].memory_bytes == 900
        seconds = 30.0
        assert (await stats.usage(["lab"]))["lab"].cpu_percent == 60.0  # 3000 / 10000 * 200
        seconds = 100.0
        assert (await stats.usage(["lab"]))["lab"].cpu_percent == 20.0
    finally:
        engine.close()
    assert [options for _, options in api.calls] == [
        {"stream": False},
        {"stream": False, "one_shot": True},
        {"stream": False},
    ]


async def test_an_empty_previous_sample_without_memory_means_a_second_request():
    api = ScriptedStatsApi(
        {"lab": "id-lab"},
        stats_answer(2_000, 20_000, previous=None),
        stats_answer(4_000, 30_000, previous=None),
    )
    engine = DockerEngine(SimpleNamespace(api=api), max_workers=1)  # type: ignore[arg-type]
    try:
        usage = await DockerContainerStats(engine).usage(["lab"])
    finally:
        engine.close()
    assert usage["lab"].cpu_percent == 40.0  # 2000 / 10000 * 200
    assert len(api.calls) == 2
