"""The node sampler on fakes: what a tick reports and records, the volume sizes it measures
only when due, the hourly prune, the loop's rhythm (middle of each slot), failed ticks, the
stop, and the command line."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from stellars.adapters.memory import InMemoryContainers, InMemoryVolumeStore, ManualClock
from stellars.adapters.memory.node_reports import InMemoryNodeReportStore
from stellars.domain.containers import ContainerUsage
from stellars.domain.errors import BackendUnavailable
from stellars.domain.node_reports import LabReport, report_slot
from stellars.domain.volumes import VolumeInfo
from stellars.entrypoints import node_sampler
from stellars.entrypoints.node_sampler import (
    DEFAULT_RETENTION_HOURS,
    NodeSampler,
    lab_names,
    node_name_of,
    parse_settings,
)
from tests.strategies import EPOCH

TEN = timedelta(seconds=10)
START = EPOCH + timedelta(seconds=3)  # 3 s into a slot
USAGE = ContainerUsage(cpu_percent=25.0, memory_bytes=2**20, memory_limit_bytes=2**30)


class FakeListing:
    """A node's engine as the sampler lists it; `failing` makes every call fail."""

    def __init__(self, name: str = "node-a") -> None:
        self.name = name
        self.labs_running: dict[str, str] = {}
        self.volume_names: list[str] = []
        self.failing: str | None = None
        self.name_asked = 0

    def _check(self) -> None:
        if self.failing:
            raise BackendUnavailable(self.failing)

    async def node_name(self) -> str:
        self._check()
        self.name_asked += 1
        return self.name

    async def labs(self) -> dict[str, str]:
        self._check()
        return dict(self.labs_running)

    async def volumes(self) -> list[VolumeInfo]:
        self._check()
        return [VolumeInfo(name) for name in sorted(self.volume_names)]


class CountingVolumes(InMemoryVolumeStore):
    def __init__(self) -> None:
        super().__init__()
        self.measured: list[list[str]] = []

    async def volumes(self, names=None):
        self.measured.append(sorted(names or ()))
        return await super().volumes(names)


@pytest.fixture
def clock():
    return ManualClock(START)


@pytest.fixture
def listing():
    return FakeListing()


@pytest.fixture
def containers():
    return InMemoryContainers()


@pytest.fixture
def volumes():
    return CountingVolumes()


@pytest.fixture
def store():
    return InMemoryNodeReportStore()


def sampler(listing, containers, volumes, store, clock, **options) -> NodeSampler:
    values = {
        "interval": TEN,
        "volume_sizes_every": timedelta(hours=1),
        "retention": timedelta(hours=3),
    }
    values.update(options)
    return NodeSampler(
        listing=listing, stats=containers, volumes=volumes, store=store, clock=clock, **values
    )


# --- one tick ------------------------------------------------------------------------------


async def test_a_tick_records_the_nodes_labs_and_volumes_for_the_current_slot(
    listing, containers, volumes, store, clock
):
    containers.start("lab-b.1.xyz", USAGE)
    containers.start("lab-a.1.abc", USAGE)
    containers.start("not-a-lab", USAGE)
    listing.labs_running = {"lab-b.1.xyz": "lab-b", "lab-a.1.abc": "lab-a"}
    volumes.create("vol-2", 2048, owner="bob")
    volumes.create("vol-1", 1024)
    volumes.create("not-the-platforms", 7)
    listing.volume_names = ["vol-2", "vol-1"]
    outcome = await sampler(listing, containers, volumes, store, clock).tick()
    report = outcome.report
    assert outcome.stored is True
    assert report.node == "node-a"
    assert report.slot == EPOCH
    assert report.taken_at == START
    assert [lab.name for lab in report.labs] == ["lab-a", "lab-b"]
    assert all(lab.usage == USAGE and lab.reading is not None for lab in report.labs)
    assert report.labs[0].reading == containers.counters["lab-a.1.abc"]
    assert report.volumes == (VolumeInfo("vol-1", 1024), VolumeInfo("vol-2", 2048, owner="bob"))
    assert await store.latest() == [report]
    assert outcome.line.startswith(
        "node node-a slot 2026-01-01 00:00:00: 2 labs, 2 volumes, stored"
    )
    assert outcome.line.endswith(", 0 old reports pruned")


async def test_a_lab_stopped_since_the_listing_is_left_out(
    listing, containers, volumes, store, clock
):
    containers.start("lab-a.1.abc", USAGE)
    listing.labs_running = {"lab-a.1.abc": "lab-a", "gone.1.x": "gone"}
    report = (await sampler(listing, containers, volumes, store, clock).tick()).report
    assert [lab.name for lab in report.labs] == ["lab-a"]


async def test_a_lab_the_readings_miss_is_left_out(listing, volumes, store, clock):
    class NoReadings(InMemoryContainers):
        async def readings(self, names):
            return {}  # stopped between the listing and the reading

    containers = NoReadings()
    containers.start("lab-a", USAGE)
    listing.labs_running = {"lab-a": "lab-a"}
    report = (await sampler(listing, containers, volumes, store, clock).tick()).report
    assert report.labs == ()


class CountingStats(InMemoryContainers):
    """Counts the stats' full usage reads, by container."""

    def __init__(self) -> None:
        super().__init__()
        self.usage_asked: list[list[str]] = []

    async def usage(self, names):
        self.usage_asked.append(sorted(names))
        return await super().usage(names)


async def test_usage_after_the_first_tick_is_over_the_interval_from_one_reading_per_lab(
    listing, volumes, store, clock
):
    containers = CountingStats()
    containers.start("lab-a.1.x", USAGE)
    listing.labs_running = {"lab-a.1.x": "lab-a"}
    tick = sampler(listing, containers, volumes, store, clock).tick
    first = (await tick()).report.labs
    assert first == (LabReport("lab-a", USAGE, containers.counters["lab-a.1.x"]),)
    # The next ticks: the usage between this tick's reading and the last one's.
    half = ContainerUsage(cpu_percent=50.0, memory_bytes=2**21, memory_limit_bytes=2**30)
    containers.running["lab-a.1.x"] = half
    containers.start("lab-b.1.y", USAGE)  # new: a full usage read, this once
    listing.labs_running["lab-b.1.y"] = "lab-b"
    clock.advance(TEN)
    second = (await tick()).report.labs
    assert [lab.name for lab in second] == ["lab-a", "lab-b"]
    assert second[0].usage == ContainerUsage(
        cpu_percent=50.0, memory_bytes=2**20, memory_limit_bytes=2**30
    )  # memory from the reading, which the fake keeps from the first usage's
    assert second[0].reading == containers.counters["lab-a.1.x"]
    assert second[1].usage == USAGE
    clock.advance(TEN)
    await tick()
    assert containers.usage_asked == [["lab-a.1.x"], ["lab-b.1.y"]]


async def test_a_restarted_task_is_a_new_lab_container(listing, volumes, store, clock):
    containers = CountingStats()
    containers.start("lab-a.1.x", USAGE)
    listing.labs_running = {"lab-a.1.x": "lab-a"}
    tick = sampler(listing, containers, volumes, store, clock).tick
    await tick()
    containers.running.pop("lab-a.1.x")
    containers.start("lab-a.1.z", USAGE)
    listing.labs_running = {"lab-a.1.z": "lab-a"}
    clock.advance(TEN)
    assert [lab.name for lab in (await tick()).report.labs] == ["lab-a"]
    assert containers.usage_asked == [["lab-a.1.x"], ["lab-a.1.z"]]


async def test_a_node_without_labs_or_volumes_asks_no_stats_and_no_sizes(
    listing, volumes, store, clock
):
    class NoStats(InMemoryContainers):
        async def usage(self, names):
            raise AssertionError("no stats for no labs")

    outcome = await sampler(listing, NoStats(), volumes, store, clock).tick()
    assert outcome.report.labs == () and outcome.report.volumes == ()
    assert volumes.measured == []
    assert outcome.stored


async def test_the_node_name_is_asked_once_or_never_when_given(
    listing, containers, volumes, store, clock
):
    named = sampler(listing, containers, volumes, store, clock)
    await named.tick()
    clock.advance(TEN)
    await named.tick()
    assert listing.name_asked == 1
    assert named.node == "node-a"
    given = sampler(listing, containers, volumes, store, clock, node="worker-1")
    assert (await given.tick()).report.node == "worker-1"
    assert listing.name_asked == 1


async def test_a_second_tick_in_one_slot_is_not_stored(listing, containers, volumes, store, clock):
    first = sampler(listing, containers, volumes, store, clock)
    second = sampler(listing, containers, volumes, store, clock)  # a restarted sampler
    assert (await first.tick()).stored is True
    clock.advance(TEN - timedelta(seconds=4))  # 9 s into the slot
    outcome = await second.tick()
    assert outcome.stored is False
    assert "already reported" in outcome.line
    assert await store.slots("node-a", EPOCH) == [EPOCH]


# --- volume sizes --------------------------------------------------------------------------


async def test_sizes_are_measured_when_due_and_for_new_volumes_only(
    listing, containers, volumes, store, clock
):
    volumes.create("vol-1", 1)
    listing.volume_names = ["vol-1"]
    tick = sampler(listing, containers, volumes, store, clock, volume_sizes_every=3 * TEN).tick
    assert (await tick()).report.volumes == (VolumeInfo("vol-1", 1),)
    volumes.sizes["vol-1"] = 2
    clock.advance(TEN)
    # Not due: the last size measured.
    assert (await tick()).report.volumes == (VolumeInfo("vol-1", 1),)
    volumes.create("vol-2", 5)
    listing.volume_names = ["vol-1", "vol-2"]
    clock.advance(TEN)
    # A new volume: measured at once, with the others.
    assert (await tick()).report.volumes == (VolumeInfo("vol-1", 2), VolumeInfo("vol-2", 5))
    volumes.sizes["vol-1"] = 3
    clock.advance(3 * TEN - timedelta(microseconds=1))
    assert (await tick()).report.volumes[0] == VolumeInfo("vol-1", 2)
    clock.advance(timedelta(microseconds=1))  # due
    assert (await tick()).report.volumes[0] == VolumeInfo("vol-1", 3)
    assert volumes.measured == [["vol-1"], ["vol-1", "vol-2"], ["vol-1", "vol-2"]]


async def test_a_volume_gone_from_the_listing_is_not_reported(
    listing, containers, volumes, store, clock
):
    volumes.create("vol-1", 1)
    volumes.create("vol-2", 2)
    listing.volume_names = ["vol-1", "vol-2"]
    tick = sampler(listing, containers, volumes, store, clock).tick
    await tick()
    listing.volume_names = ["vol-2"]
    clock.advance(TEN)
    assert (await tick()).report.volumes == (VolumeInfo("vol-2", 2),)


async def test_a_volume_the_measurement_missed_is_reported_without_size(
    listing, containers, volumes, store, clock
):
    listing.volume_names = ["new"]  # listed, but not in the disk usage yet
    report = (await sampler(listing, containers, volumes, store, clock).tick()).report
    assert report.volumes == (VolumeInfo("new", None),)


# --- pruning -------------------------------------------------------------------------------


async def test_old_reports_are_pruned_at_the_first_tick_and_then_hourly(
    listing, containers, volumes, store, clock
):
    retention = timedelta(hours=3)
    tick = sampler(listing, containers, volumes, store, clock, retention=retention).tick
    assert (await tick()).pruned == 0
    for _ in range(359):  # one hour of ticks less one
        clock.advance(TEN)
        assert (await tick()).pruned is None
    clock.advance(TEN)
    assert (await tick()).pruned == 0
    assert len(await store.slots("node-a", EPOCH)) == 361
    clock.advance(retention - timedelta(minutes=30))  # 03:30:03: up to 00:30:00 is too old
    assert (await tick()).pruned == 181
    left = await store.slots("node-a", EPOCH)
    assert left[0] == EPOCH + timedelta(minutes=30) + TEN
    assert len(left) == 361 - 181 + 1


# --- the loop ------------------------------------------------------------------------------


class Pauses:
    """A pause that moves the manual clock instead of sleeping, and stops after `ticks`."""

    def __init__(self, clock: ManualClock, ticks: int, *, late: timedelta = timedelta(0)):
        self.clock = clock
        self.left = ticks
        self.late = late
        self.delays: list[float] = []

    async def __call__(self, seconds: float, stopping: asyncio.Event) -> None:
        self.delays.append(seconds)
        self.clock.advance(timedelta(seconds=seconds) + self.late)
        self.left -= 1
        if self.left <= 0:
            stopping.set()


async def test_the_loop_reports_at_once_then_in_the_middle_of_each_slot(
    listing, containers, volumes, store, clock
):
    pauses = Pauses(clock, 4)
    looping = sampler(listing, containers, volumes, store, clock)
    await looping.run(asyncio.Event(), pause=pauses)
    assert pauses.delays == [12.0, 10.0, 10.0, 10.0]  # from 3 s in, to 5 s into the next slot
    # The stop came during the last pause: no tick after it.
    assert await store.slots("node-a", EPOCH) == [EPOCH + n * TEN for n in range(4)]
    assert (looping.ticks, looping.failed_ticks) == (4, 0)


async def test_late_ticks_still_land_one_in_each_slot(listing, containers, volumes, store, clock):
    # Each pause overshoots by 4.9 s (the host busy): every slot still gets its report.
    pauses = Pauses(clock, 6, late=timedelta(seconds=4.9))
    await sampler(listing, containers, volumes, store, clock).run(asyncio.Event(), pause=pauses)
    assert await store.slots("node-a", EPOCH) == [EPOCH + n * TEN for n in range(6)]


async def test_a_failed_tick_is_logged_and_the_next_one_runs(
    listing, containers, volumes, store, clock, caplog
):
    listing.failing = "engine down"
    looping = sampler(listing, containers, volumes, store, clock)

    async def pause(seconds: float, stopping: asyncio.Event) -> None:
        clock.advance(timedelta(seconds=seconds))
        if looping.ticks == 2:
            listing.failing = None  # back
        if looping.ticks == 3:
            stopping.set()

    with caplog.at_level(logging.INFO, logger="stellars.node_sampler"):
        await looping.run(asyncio.Event(), pause=pause)
    assert (looping.ticks, looping.failed_ticks) == (3, 2)
    assert "Tick failed, retrying at the next tick: engine down" in caplog.text
    assert await store.slots("node-a", EPOCH) == [EPOCH + 2 * TEN]


async def test_an_unexpected_error_is_logged_with_its_traceback(
    listing, containers, volumes, store, clock, caplog
):
    class Broken(InMemoryContainers):
        async def readings(self, names):
            raise KeyError("bug")

    listing.labs_running = {"a": "a"}
    stopping = asyncio.Event()

    async def pause(seconds: float, event: asyncio.Event) -> None:
        event.set()

    with caplog.at_level(logging.ERROR, logger="stellars.node_sampler"):
        await sampler(listing, Broken(), volumes, store, clock).run(stopping, pause=pause)
    assert "Tick failed unexpectedly" in caplog.text
    assert caplog.records[0].exc_info is not None


async def test_a_stop_during_a_tick_finishes_that_tick_and_ends(listing, volumes, store, clock):
    stopping = asyncio.Event()

    class SlowStats(InMemoryContainers):
        async def readings(self, names):
            stopping.set()  # SIGTERM arrives mid-tick
            await asyncio.sleep(0)
            return await super().readings(names)

    containers = SlowStats()
    containers.start("lab-a", USAGE)
    listing.labs_running = {"lab-a": "lab-a"}

    async def pause(seconds: float, event: asyncio.Event) -> None:
        raise AssertionError("no pause after a stop")

    looping = sampler(listing, containers, volumes, store, clock)
    await looping.run(stopping, pause=pause)
    assert looping.ticks == 1
    assert [report.labs for report in await store.latest()] == [(LabReport("lab-a", USAGE,
        containers.counters["lab-a"]),)]  # fmt: skip


async def test_a_stopped_sampler_does_not_tick(listing, containers, volumes, store, clock):
    stopping = asyncio.Event()
    stopping.set()
    looping = sampler(listing, containers, volumes, store, clock)
    await looping.run(stopping)
    assert looping.ticks == 0 and await store.latest() == []


async def test_the_real_pause_ends_early_on_a_stop():
    stopping = asyncio.Event()
    asyncio.get_running_loop().call_later(0.01, stopping.set)
    await asyncio.wait_for(node_sampler._pause(3600, stopping), timeout=5)
    await node_sampler._pause(0.001, asyncio.Event())  # and ends by itself


def test_the_interval_must_be_positive(listing, containers, volumes, store, clock):
    with pytest.raises(ValueError, match="interval"):
        sampler(listing, containers, volumes, store, clock, interval=timedelta(0))


# --- engine answers ------------------------------------------------------------------------


def test_lab_names_are_service_names_or_the_containers_own():
    listing = [
        {"Names": ["/lab-a.1.abc"], "Labels": {"com.docker.swarm.service.name": "lab-a"}},
        {"Names": ["/jupyter-bob"], "Labels": {"stellars.lab": "bob"}},
        {"Names": ["/c", "/other/alias"], "Labels": {"com.docker.swarm.service.name": ""}},
        {"Names": ["/x/alias-only"], "Labels": {}},
        {"Names": None, "Labels": None},
        {"Names": ["/d"], "Labels": None},
    ]
    assert lab_names(listing) == {
        "lab-a.1.abc": "lab-a",
        "jupyter-bob": "jupyter-bob",
        "c": "c",
        "d": "d",
    }


def test_the_node_name_is_the_engines_host_name():
    assert node_name_of({"Name": "worker-1", "Swarm": {"NodeID": "abc"}}) == "worker-1"
    for answer in ({}, {"Name": ""}, {"Name": None}):
        with pytest.raises(BackendUnavailable, match="host name"):
            node_name_of(answer)


# --- command line --------------------------------------------------------------------------


def test_the_defaults_come_from_the_platforms_stats_settings():
    settings = parse_settings([], {"STELLARS_DB_URL": "sqlite:////d/s.sqlite"})
    assert settings.db_url == "sqlite:////d/s.sqlite"
    assert settings.db_url_origin == "STELLARS_DB_URL"
    assert settings.engine_url == "unix:///var/run/docker.sock"
    assert settings.interval == timedelta(seconds=10)
    assert settings.volume_sizes_every == timedelta(hours=1)
    assert settings.retention == timedelta(hours=DEFAULT_RETENTION_HOURS)
    assert settings.node is None and settings.once is False


def test_options_and_docker_host():
    settings = parse_settings(
        ["--interval-seconds", "3", "--volume-sizes-seconds", "60", "--retention-hours", "5",
         "--node", " w1 ", "--once"],
        {"STELLARS_DB_URL": "sqlite://", "DOCKER_HOST": "tcp://10.0.0.2:2375"},
    )  # fmt: skip
    assert settings.interval == timedelta(seconds=3)
    assert settings.volume_sizes_every == timedelta(seconds=60)
    assert settings.retention == timedelta(hours=5)
    assert settings.node == "w1"
    assert settings.once is True
    assert settings.engine_url == "tcp://10.0.0.2:2375"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--interval-seconds", "1"], "argument --interval-seconds: must be"),
        (["--interval-seconds", "3601"], "argument --interval-seconds: must be"),
        (["--volume-sizes-seconds", "9"], "argument --volume-sizes-seconds: must be"),
        (["--retention-hours", "0"], "argument --retention-hours: must be at least 1"),
        (["--node", " "], "argument --node: must not be empty"),
    ],
)
def test_a_bad_option_stops_naming_it(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        parse_settings(argv, {"STELLARS_DB_URL": "sqlite://"})
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_no_database_stops_naming_the_variable(capsys):
    with pytest.raises(SystemExit):
        parse_settings([], {})
    assert "STELLARS_DB_URL" in capsys.readouterr().err


def test_the_slot_of_the_first_tick_is_the_current_one():
    assert report_slot(START, TEN) == EPOCH


async def test_a_tick_that_runs_into_the_next_slot_is_followed_at_once(
    listing, volumes, store, clock
):
    class SlowStats(InMemoryContainers):
        async def readings(self, names):
            clock.advance(timedelta(seconds=13))  # past the middle of the next slot
            return await super().readings(names)

    containers = SlowStats()
    containers.start("lab-a", USAGE)
    listing.labs_running = {"lab-a": "lab-a"}
    pauses = Pauses(clock, 3)
    await sampler(listing, containers, volumes, store, clock).run(asyncio.Event(), pause=pauses)
    # 3 s -> 16 s (slot 1, past its middle): slot 1's tick at once, 16 s -> 29 s: slot 2's.
    assert pauses.delays == [0.0, 0.0, 0.0]
    assert await store.slots("node-a", EPOCH) == [EPOCH + n * TEN for n in range(3)]
