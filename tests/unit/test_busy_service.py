"""The busy sampler and the session rule with busy servers (issue 21, section 4): readings kept
each window, the culler's verdict ("kept alive: busy computing"), the session card's countdown
and figures, the extension's offer and the activity table's time left all agree."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stellars.adapters.memory import (
    InMemoryBusyStore,
    InMemoryContainers,
    InMemoryHubDirectory,
    InMemorySessionStore,
    ManualClock,
    StaticGpuProbe,
)
from stellars.domain.busy import NOT_BUSY, BusyPolicy, BusyVerdict
from stellars.domain.containers import ContainerUsage
from stellars.domain.gpu import Gpu, GpuMode, GpuProbeResult, GpuReading, GpuUseResult
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.services import GpuService, Refresher, SessionService
from stellars.domain.services.busy import BusySample, BusyService, gpu_percent_of
from stellars.domain.sessions import SessionPolicy
from stellars.domain.volumes import DockerNaming, container_name
from tests.strategies import EPOCH

NOW = EPOCH + timedelta(days=2)
WINDOW = timedelta(seconds=60)
BUSY = BusyPolicy(enabled=True, cpu_percent=50, window_seconds=60)
SESSIONS = SessionPolicy(enabled=True, idle_timeout_seconds=300, max_extension_hours=2)
NAMING = DockerNaming()
STARTED = NOW - timedelta(hours=1)


def usage(cpu: float) -> ContainerUsage:
    return ContainerUsage(cpu_percent=cpu, memory_bytes=1, memory_limit_bytes=2)


class World:
    """Two running labs idle for an hour by the hub's activity: `cruncher` spins, `napper`
    sleeps; `gone` has a running server whose container cannot be read."""

    def __init__(self, busy: BusyPolicy = BUSY) -> None:
        self.clock = ManualClock(NOW)
        self.directory = InMemoryHubDirectory(
            [
                HubUser(name=name, servers={"": self.lab(name)})
                for name in ("cruncher", "napper", "gone")
            ]
        )
        self.containers = InMemoryContainers()
        self.containers.start(container_name("cruncher", NAMING), usage(95.0))
        self.containers.start(container_name("napper", NAMING), usage(2.0))
        self.store = InMemoryBusyStore()
        self.busy = BusyService(
            store=self.store,
            clock=self.clock,
            policy=busy,
            directory=self.directory,
            stats=self.containers,
            naming=NAMING,
        )
        self.sessions = SessionService(
            store=InMemorySessionStore(),
            directory=self.directory,
            clock=self.clock,
            policy=SESSIONS,
            busy=self.busy,
        )

    @staticmethod
    def lab(name: str) -> ServerSnapshot:
        return ServerSnapshot(
            username=name, ready=True, started=STARTED, last_activity=NOW - timedelta(hours=1)
        )

    async def windows(self, count: int) -> BusySample:
        """A first reading, then `count` windows."""
        summary = await self.busy.sample()
        for _ in range(count):
            self.clock.advance(WINDOW)
            summary = await self.busy.sample()
        return summary


async def test_the_first_pass_keeps_a_reading_and_closes_no_window():
    world = World()
    summary = await world.busy.sample()
    assert summary == BusySample(servers=3, read=2, windows=0, busy=0, pruned=0)
    assert summary.line == (
        "busy readings: 2 of 3 running server(s) read, 0 window(s) closed, 0 busy, 0 pruned"
    )
    kept = await world.store.get("cruncher")
    assert kept is not None
    assert kept.started == STARTED and kept.window is None and kept.busy_until is None
    assert kept.reading.taken_at == NOW
    assert await world.store.get("gone") is None


async def test_a_window_later_the_spinning_lab_is_busy_and_the_sleeping_one_is_not():
    world = World()
    summary = await world.windows(1)
    assert summary == BusySample(servers=3, read=2, windows=2, busy=1, pruned=0)
    cruncher = await world.store.get("cruncher")
    napper = await world.store.get("napper")
    assert cruncher is not None and cruncher.window is not None
    assert cruncher.window.busy and round(cruncher.window.cpu_percent, 1) == 95.0
    assert cruncher.busy_until == NOW + WINDOW
    assert napper is not None and napper.window is not None
    assert not napper.window.busy and napper.busy_until is None


async def test_a_pass_sooner_than_half_a_window_writes_nothing():
    world = World()
    await world.busy.sample()
    world.clock.advance(WINDOW / 2 - timedelta(seconds=1))
    summary = await world.busy.sample()
    assert (summary.windows, summary.busy) == (0, 0)
    kept = await world.store.get("cruncher")
    assert kept is not None and kept.reading.taken_at == NOW


async def test_records_of_servers_gone_for_longer_than_kept_are_pruned():
    world = World()
    await world.busy.sample()
    world.directory.put(HubUser(name="napper"))  # its server stopped
    world.clock.advance(BUSY.keep_for)
    summary = await world.busy.sample()
    assert summary.pruned == 1
    assert await world.store.get("napper") is None
    assert await world.store.get("cruncher") is not None


async def test_the_culler_spares_the_busy_lab_and_stops_the_idle_one():
    world = World()
    await world.windows(1)
    cruncher = await world.sessions.decide(World.lab("cruncher"))
    napper = await world.sessions.decide(World.lab("napper"))
    assert not cruncher.cull and cruncher.kept_busy
    assert cruncher.reason == (
        "kept alive: busy computing (CPU 95.0 % of one core over the last 1.0 min)"
    )
    assert napper.cull and "idle beyond" in napper.reason and not napper.kept_busy


async def test_once_the_computation_ends_the_idle_timeout_runs_from_its_end():
    world = World()
    await world.windows(1)
    busy_end = world.clock.now()
    world.containers.running[container_name("cruncher", NAMING)] = usage(0.0)
    await world.windows(1)
    lab = World.lab("cruncher")
    decision = await world.sessions.decide(lab)
    assert not decision.cull
    assert decision.reason == f"last busy computing until {busy_end:%Y-%m-%d %H:%M:%S} UTC"
    world.clock.set(busy_end + SESSIONS.idle_timeout - timedelta(microseconds=1))
    assert not (await world.sessions.decide(lab)).cull
    world.clock.set(busy_end + SESSIONS.idle_timeout)
    assert (await world.sessions.decide(lab)).cull


async def test_stale_readings_stop_counting_the_lab_as_active_now():
    world = World()
    await world.windows(1)
    busy_end = world.clock.now()
    world.clock.advance(BUSY.fresh_for + timedelta(microseconds=1))  # the sampler stopped
    verdict = await world.busy.verdict(World.lab("cruncher"))
    assert not verdict.active_now and verdict.activity_at == busy_end


async def test_nothing_is_spared_while_the_rule_is_off():
    world = World(BusyPolicy(enabled=False, window_seconds=60))
    await world.windows(1)
    assert (await world.sessions.decide(World.lab("cruncher"))).cull
    assert await world.busy.verdict(World.lab("cruncher")) == NOT_BUSY
    assert await world.busy.verdicts([World.lab("cruncher")]) == {}


async def test_a_restarted_server_does_not_inherit_the_busy_record():
    world = World()
    await world.windows(1)
    again = ServerSnapshot(
        username="cruncher", ready=True, started=NOW, last_activity=NOW - timedelta(hours=1)
    )
    assert (await world.sessions.decide(again)).cull


async def test_max_age_stops_a_busy_server():
    world = World()
    world.sessions = SessionService(
        store=InMemorySessionStore(),
        directory=world.directory,
        clock=world.clock,
        policy=SessionPolicy(enabled=True, idle_timeout_seconds=300, max_age_seconds=3600),
        busy=world.busy,
    )
    await world.windows(1)
    decision = await world.sessions.decide(World.lab("cruncher"))
    assert decision.cull and "max age" in decision.reason


async def test_the_session_card_counts_down_from_now_and_shows_the_figures():
    world = World()
    await world.windows(1)
    card = await world.sessions.status("cruncher")
    assert card.busy.active_now
    assert card.busy.message.startswith("kept alive: busy computing (CPU 95.0 % of one core")
    assert card.remaining == SESSIONS.idle_timeout
    assert card.last_activity == NOW - timedelta(hours=1)  # the hub's own, unchanged
    idle = await world.sessions.status("napper")
    assert idle.busy.activity_at is None and idle.busy.message == ""
    assert idle.remaining == timedelta(0)


async def test_the_extension_offer_and_the_activity_table_count_the_busy_activity():
    world = World()
    await world.windows(1)
    extension = await world.sessions.extend("cruncher", 1)
    assert extension.remaining_before == SESSIONS.idle_timeout
    assert extension.granted_hours == 1
    left = await world.sessions.remaining_for([World.lab("cruncher"), World.lab("napper")])
    # The deadline just granted is an hour past the busy activity (now).
    assert left[("cruncher", "")] == SESSIONS.idle_timeout + timedelta(hours=1)
    assert left[("napper", "")] == timedelta(0)


async def test_verdicts_read_every_record_at_once():
    world = World()
    await world.windows(1)
    found = await world.busy.verdicts([World.lab("cruncher"), World.lab("napper")])
    assert found[("cruncher", "")].active_now
    napper = found[("napper", "")]
    assert napper == BusyVerdict(active_now=False, activity_at=None, window=napper.window)


class GpuHost:
    """A hub with two GPUs, "gpu-user" holding GPU-0 and GPU-1 at 30 % and 80 %."""

    def __init__(self, use: GpuUseResult) -> None:
        self.clock = ManualClock(NOW)
        probe = StaticGpuProbe(GpuProbeResult(TWO), use)
        self.readings = Refresher(
            probe.use, empty=GpuUseResult(), interval=WINDOW, clock=self.clock, name="GPU use"
        )
        self.service = GpuService(
            probe=probe, mode=GpuMode.AUTO, per_server=2, readings=self.readings
        )

    async def ready(self) -> GpuService:
        await self.service.detect()
        await self.service.assign(("gpu-user", ""), 2)
        await self.readings.refresh_now()
        return self.service


TWO = tuple(Gpu(index=i, name="A100", memory_mib=40_960, uuid=f"GPU-{i}") for i in range(2))
USE = GpuUseResult((GpuReading("GPU-0", 1, 30), GpuReading("GPU-1", 1, 80)))


async def test_a_servers_gpu_figure_is_the_busiest_of_its_gpus_from_a_fresh_reading():
    host = GpuHost(USE)
    gpus = await host.ready()
    assert gpu_percent_of(("gpu-user", ""), gpus, NOW, 60) == 80
    assert gpu_percent_of(("cpu-user", ""), gpus, NOW, 60) is None  # holds none
    assert gpu_percent_of(("gpu-user", ""), None, NOW, 60) is None  # no GPUs on this hub
    assert gpu_percent_of(("gpu-user", ""), gpus, NOW + timedelta(seconds=60), 60) == 80
    stale = NOW + timedelta(seconds=60, microseconds=1)
    assert gpu_percent_of(("gpu-user", ""), gpus, stale, 60) is None


async def test_gpus_without_a_utilisation_figure_give_none():
    host = GpuHost(GpuUseResult((GpuReading("GPU-0", 1, None), GpuReading("GPU-1", 1, None))))
    assert gpu_percent_of(("gpu-user", ""), await host.ready(), NOW, 60) is None


async def test_no_gpu_figure_before_the_first_reading():
    host = GpuHost(USE)
    await host.service.detect()
    await host.service.assign(("gpu-user", ""), 2)
    assert gpu_percent_of(("gpu-user", ""), host.service, NOW, 60) is None


async def test_a_lab_computing_on_its_gpus_with_an_idle_cpu_is_busy():
    host = GpuHost(USE)
    gpus = await host.ready()
    directory = InMemoryHubDirectory(
        [HubUser(name="gpu-user", servers={"": World.lab("gpu-user")})]
    )
    containers = InMemoryContainers()
    containers.start(container_name("gpu-user", NAMING), usage(0.0))
    store = InMemoryBusyStore()
    busy = BusyService(
        store=store,
        clock=host.clock,
        policy=BUSY,
        directory=directory,
        stats=containers,
        naming=NAMING,
        gpus=lambda: gpus,
    )
    await busy.sample()
    host.clock.advance(WINDOW)
    await host.readings.refresh_now()
    summary = await busy.sample()
    assert (summary.windows, summary.busy) == (1, 1)
    kept = await store.get("gpu-user")
    assert kept is not None and kept.window is not None
    assert kept.window.cpu_percent == 0.0 and kept.window.gpu_percent == 80
    assert kept.reading.gpu_percent == 80


@pytest.mark.parametrize("missing", ["directory", "stats", "naming"])
async def test_sampling_without_what_it_reads_is_refused_by_name(missing):
    world = World()
    reads = {"directory": world.directory, "stats": world.containers, "naming": NAMING}
    reads[missing] = None
    busy = BusyService(store=world.store, clock=world.clock, policy=BUSY, **reads)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError) as caught:
        await busy.sample()
    assert str(caught.value) == "BusyService.sample needs the directory, stats and naming"
    assert await world.store.all() == []


async def test_a_named_server_is_read_from_its_own_container_and_judged_by_its_own_record():
    world = World()
    named = ServerSnapshot(
        username="cruncher",
        name="big",
        ready=True,
        started=STARTED,
        last_activity=NOW - timedelta(hours=1),
    )
    world.directory.put(HubUser(name="cruncher", servers={"big": named}))
    world.containers.remove(container_name("cruncher", NAMING))  # only "big" runs
    world.containers.start(container_name("cruncher", NAMING, "big"), usage(95.0))
    summary = await world.windows(1)
    assert (summary.servers, summary.read, summary.windows, summary.busy) == (3, 2, 2, 1)
    kept = await world.store.get("cruncher", "big")
    assert kept is not None and kept.window is not None and kept.window.busy
    assert await world.store.get("cruncher") is None  # the default server does not run
    verdict = await world.busy.verdict(named)
    assert verdict.active_now and verdict.activity_at == world.clock.now()


async def test_the_activity_table_counts_a_busy_lab_as_active_without_any_extension():
    world = World()
    await world.windows(1)
    labs = [World.lab("cruncher"), World.lab("napper")]
    left = await world.sessions.remaining_for(labs)
    assert left == {("cruncher", ""): SESSIONS.idle_timeout, ("napper", ""): timedelta(0)}


async def test_the_activity_table_judges_busy_ness_at_the_time_it_is_asked_for():
    world = World()
    await world.windows(1)
    later = world.clock.now() + timedelta(minutes=1)  # the window is still fresh then
    left = await world.sessions.remaining_for([World.lab("cruncher")], now=later)
    # Active at `later` itself, not at the clock's now a minute before.
    assert left == {("cruncher", ""): SESSIONS.idle_timeout}
