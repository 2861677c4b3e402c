"""The activity dashboard's rows and the metrics' background figures, on the in-memory fakes:
statuses, scores, time left, usage and sizes from the snapshots, paging, and event totals."""

from __future__ import annotations

from datetime import date, timedelta
from types import MappingProxyType

import pytest

from stellars.adapters.memory import (
    InMemoryActivityStore,
    InMemoryCredentialStore,
    InMemoryEventLog,
    InMemoryHubDirectory,
    InMemorySessionStore,
    InMemoryVolumeStore,
    ManualClock,
)
from stellars.domain.activity import ActivityLevel, ActivityPolicy, DailyHours, RecordedSample
from stellars.domain.containers import ContainerUsage
from stellars.domain.errors import InvalidValue
from stellars.domain.events import PlatformEvent
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.services import (
    ActivityService,
    DashboardService,
    EventCounter,
    EventTotals,
    Refresher,
    ServerStatus,
    SessionService,
    VolumeService,
    users_by_level,
)
from stellars.domain.services.dashboard import combined_usage
from stellars.domain.sessions import SessionPolicy
from stellars.domain.volumes import DockerNaming, VolumeInfo, user_volumes
from tests.strategies import EPOCH

NOW = EPOCH + timedelta(days=3, hours=12)
NAMING = DockerNaming(prefix="lab", name_template="lab-{username}")
VOLUMES = user_volumes({"lab-{username}_home": "/home/jovyan", "lab-{username}_cache": "/c"})
USAGE = ContainerUsage(cpu_percent=12.5, memory_bytes=300 * 1024 * 1024, memory_limit_bytes=2**30)


def server(user: str, *, idle: timedelta, name: str = "") -> ServerSnapshot:
    return ServerSnapshot(
        username=user,
        name=name,
        ready=True,
        started=NOW - timedelta(hours=5),
        last_activity=NOW - idle,
    )


class World:
    def __init__(self) -> None:
        self.clock = ManualClock(NOW)
        self.directory = InMemoryHubDirectory()
        self.store = InMemoryActivityStore(half_life=timedelta(hours=72))
        self.accounts = InMemoryCredentialStore()
        self.activity = ActivityService(
            store=self.store, directory=self.directory, clock=self.clock, policy=ActivityPolicy()
        )
        self.sessions = SessionService(
            store=InMemorySessionStore(),
            directory=self.directory,
            clock=self.clock,
            policy=SessionPolicy(enabled=True, idle_timeout_seconds=3600),
        )
        self.volumes = VolumeService(
            store=InMemoryVolumeStore(), directory=self.directory, volumes=VOLUMES, naming=NAMING
        )
        self.usage = Refresher(
            self._usage,
            empty=MappingProxyType({}),
            interval=timedelta(seconds=10),
            clock=self.clock,
            name="container stats",
        )
        self.sizes = Refresher(
            self._sizes,
            empty=MappingProxyType({}),
            interval=timedelta(hours=1),
            clock=self.clock,
            name="volume sizes",
        )
        self.dashboard = DashboardService(
            directory=self.directory,
            activity=self.activity,
            sessions=self.sessions,
            volumes=self.volumes,
            accounts=self.accounts,
            container_stats=self.usage,
            volume_sizes=self.sizes,
            clock=self.clock,
        )

    async def _usage(self):
        return MappingProxyType({"lab-ann": USAGE, "lab-ann--gpu": USAGE})

    async def _sizes(self):
        return MappingProxyType(
            {
                "lab-ann_home": VolumeInfo("lab-ann_home", 4 * 1024**2),
                "lab-ann_cache": VolumeInfo("lab-ann_cache", None),
            }
        )


@pytest.fixture
def world() -> World:
    w = World()
    w.directory.put(
        HubUser(
            name="ann",
            servers={
                "": server("ann", idle=timedelta(minutes=5)),
                "gpu": server("ann", idle=timedelta(minutes=50), name="gpu"),
            },
        )
    )
    w.directory.put(HubUser(name="bob", servers={"": server("bob", idle=timedelta(hours=2))}))
    w.directory.put(HubUser(name="cy", last_activity=NOW - timedelta(days=1)))
    w.accounts.set_password("ann", "x")
    return w


async def test_rows_combine_scores_time_left_usage_and_sizes(world):
    await world.store.add(
        [
            # The newer sample weighs a hair more: an active newer one makes just over half.
            RecordedSample("ann", NOW - timedelta(minutes=20), False),
            RecordedSample("ann", NOW - timedelta(minutes=10), True),
            RecordedSample("bob", NOW - timedelta(minutes=10), False),
        ]
    )
    await world.usage.refresh_now()
    await world.sizes.refresh_now()
    world.clock.advance(timedelta(seconds=30))
    page = await world.dashboard.page()
    ann, bob, cy = page.rows
    assert (ann.username, ann.status, ann.is_authorized) == ("ann", ServerStatus.ACTIVE, True)
    assert ann.score == 50 and ann.level is ActivityLevel.NORMAL and ann.sample_count == 2
    assert ann.usage == ContainerUsage(
        cpu_percent=25.0, memory_bytes=600 * 1024 * 1024, memory_limit_bytes=2 * 2**30
    )
    assert ann.volume_sizes == {"home": 4 * 1024**2, "cache": None}
    assert ann.time_remaining == timedelta(minutes=55) - timedelta(seconds=30) - timedelta(
        minutes=45
    )
    assert (bob.status, bob.score, bob.usage, bob.volume_sizes) == (ServerStatus.IDLE, 0, None, {})
    assert bob.time_remaining == timedelta(0)
    assert (cy.status, cy.score, cy.level, cy.time_remaining) == (
        ServerStatus.OFFLINE,
        None,
        ActivityLevel.NONE,
        None,
    )
    assert cy.last_activity == NOW - timedelta(days=1)
    assert page.container_stats.age == timedelta(seconds=30)
    assert page.volume_sizes.error is None and page.total == 3


async def test_a_page_is_a_slice_of_the_users_sorted_by_name(world):
    page = await world.dashboard.page(offset=1, limit=1)
    assert [row.username for row in page.rows] == ["bob"] and page.total == 3
    assert page.container_stats.age is None  # never refreshed


def test_combined_usage_is_none_without_measurements():
    assert combined_usage([]) is None


async def test_history_turns_active_samples_into_hours_inside_the_window(world):
    day = NOW.date()
    await world.store.add(
        [RecordedSample("ann", NOW - timedelta(minutes=m), True) for m in (1, 11)]
    )
    history = await world.activity.history(day, day)
    assert history.days == (DailyHours("ann", day, 0.33),)
    with pytest.raises(InvalidValue, match="start"):
        await world.activity.history(day - timedelta(days=7), day)
    with pytest.raises(InvalidValue, match="end"):
        await world.activity.history(day, day + timedelta(days=1))
    assert isinstance(day, date)


async def test_event_totals_count_each_event_once():
    log = InMemoryEventLog()
    counter = EventCounter(log, batch=2)
    for outcome, seconds in [("ok", 0.5), ("ok", 1.5), ("failed", 2.0)]:
        await log.record(
            PlatformEvent(kind="sampler-tick", at=NOW, outcome=outcome, seconds=seconds)
        )
    await log.record(PlatformEvent(kind="cull", at=NOW, outcome="idle"))
    totals = await counter.refresh()
    assert dict(totals.counts) == {
        ("sampler-tick", "ok"): 2,
        ("sampler-tick", "failed"): 1,
        ("cull", "idle"): 1,
    }
    assert totals.seconds["sampler-tick"] == 4.0 and totals.count("sampler-tick") == 3
    assert await counter.refresh() == totals  # nothing new: nothing counted twice
    assert EventTotals().count("cull") == 0


async def test_users_by_level_counts_users_without_samples_as_none(world):
    await world.store.add([RecordedSample("ann", NOW - timedelta(minutes=5), True)])
    levels = await users_by_level(world.directory, world.activity)
    assert dict(levels) == {ActivityLevel.VERY_HIGH: 1, ActivityLevel.NONE: 2}
