"""The activity dashboard's rows and the metrics' background figures, on the in-memory fakes:
statuses, scores, time left, usage and sizes from the snapshots, paging, and event totals."""

from __future__ import annotations

import asyncio
import gc
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
    SequencePasswordGenerator,
)
from stellars.adapters.vault import ProcessMemoryVault
from stellars.domain.activity import ActivityLevel, ActivityPolicy, DailyHours, RecordedSample
from stellars.domain.containers import ContainerUsage
from stellars.domain.credentials import PassphrasePolicy, VaultPolicy
from stellars.domain.errors import BackendUnavailable, InvalidValue
from stellars.domain.events import PlatformEvent
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.services import (
    ActivityService,
    CredentialService,
    DashboardService,
    EventCounter,
    EventTotals,
    Refresher,
    ServerStatus,
    SessionService,
    SnapshotState,
    VolumeService,
    users_by_level,
)
from stellars.domain.services.activity import SCORES_PER_TURN
from stellars.domain.services.dashboard import ROWS_PER_TURN, combined_usage, status_of
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
    def __init__(self, policies: object = None) -> None:
        self.clock = ManualClock(NOW)
        self.directory = InMemoryHubDirectory()
        self.store = InMemoryActivityStore(half_life=timedelta(hours=72))
        self.accounts = InMemoryCredentialStore()
        self.credentials = CredentialService(
            generator=SequencePasswordGenerator(),
            accounts=self.accounts,
            vault=ProcessMemoryVault(clock=self.clock, policy=VaultPolicy()),
            policy=PassphrasePolicy(),
        )
        self.activity = ActivityService(
            store=self.store, directory=self.directory, clock=self.clock, policy=ActivityPolicy()
        )
        self.sessions = SessionService(
            store=InMemorySessionStore(),
            directory=self.directory,
            clock=self.clock,
            policy=SessionPolicy(enabled=True, idle_timeout_seconds=3600),
            policies=policies,  # type: ignore[arg-type]
        )
        self.usage_fails: str | None = None  # the reason the next stats passes fail with
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
        self.volumes = VolumeService(
            store=InMemoryVolumeStore(),
            directory=self.directory,
            volumes=VOLUMES,
            naming=NAMING,
            sizes=self.sizes,
        )
        self.dashboard = DashboardService(
            directory=self.directory,
            activity=self.activity,
            sessions=self.sessions,
            volumes=self.volumes,
            credentials=self.credentials,
            container_stats=self.usage,
            volume_sizes=self.sizes,
            clock=self.clock,
        )

    async def _usage(self):
        if self.usage_fails is not None:
            raise BackendUnavailable(self.usage_fails)
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
    assert page.sampling.text == "3 samples for 2 users"


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


class TestTheExactRules:
    def test_activity_exactly_inactive_after_ago_is_still_active(self):
        policy = ActivityPolicy()
        at_the_edge = NOW - policy.inactive_after
        edge = HubUser(name="ann", servers={"": server("ann", idle=policy.inactive_after)})
        past = HubUser(
            name="bob",
            servers={"": server("bob", idle=policy.inactive_after + timedelta(microseconds=1))},
        )
        assert edge.latest_server_activity() == at_the_edge
        assert status_of(edge, now=NOW, policy=policy) is ServerStatus.ACTIVE
        assert status_of(past, now=NOW, policy=policy) is ServerStatus.IDLE

    def test_combined_cpu_is_rounded_to_one_decimal(self):
        usages = [
            ContainerUsage(cpu_percent=10.12, memory_bytes=1, memory_limit_bytes=10),
            ContainerUsage(cpu_percent=0.14, memory_bytes=2, memory_limit_bytes=20),
        ]
        assert combined_usage(usages) == ContainerUsage(
            cpu_percent=10.3, memory_bytes=3, memory_limit_bytes=30
        )

    async def test_a_user_without_samples_has_no_score_and_not_enough_data(self, world):
        page = await world.dashboard.page()
        cy = page.rows[2]
        assert (cy.username, cy.score, cy.sample_count, cy.enough_data) == ("cy", None, 0, False)
        assert cy.enough_data is False

    async def test_the_page_says_where_it_starts_and_when_it_was_made(self, world):
        page = await world.dashboard.page(offset=2)
        assert [row.username for row in page.rows] == ["cy"]
        assert (page.offset, page.now, page.total) == (2, NOW, 3)

    async def test_a_failed_refresh_is_shown_with_its_error(self, world):
        async def engine_down():
            raise ConnectionError("engine down")

        world.dashboard._volume_sizes = Refresher(
            engine_down,
            empty=MappingProxyType({}),
            interval=timedelta(hours=1),
            clock=world.clock,
            name="volume sizes",
            on_failure=lambda error: None,
        )
        await world.dashboard._volume_sizes.refresh_now()
        page = await world.dashboard.page()
        assert page.volume_sizes == SnapshotState(None, "engine down")
        assert page.container_stats == SnapshotState(None, None)

    async def test_each_server_is_measured_by_its_own_container(self):
        world = World()
        naming = DockerNaming(prefix="lab")  # DockerSpawner's default: lab-ann, lab-ann--gpu
        world.volumes.naming = naming
        world.directory.put(
            HubUser(
                name="ann",
                servers={
                    "": server("ann", idle=timedelta(minutes=5)),
                    "gpu": server("ann", idle=timedelta(minutes=5), name="gpu"),
                },
            )
        )

        async def usage():
            return MappingProxyType(
                {
                    "lab-ann": ContainerUsage(
                        cpu_percent=1.5, memory_bytes=100, memory_limit_bytes=1000
                    ),
                    "lab-ann--gpu": ContainerUsage(
                        cpu_percent=20.0, memory_bytes=5000, memory_limit_bytes=9000
                    ),
                }
            )

        world.dashboard._container_stats = Refresher(
            usage,
            empty=MappingProxyType({}),
            interval=timedelta(seconds=10),
            clock=world.clock,
            name="container stats",
        )
        await world.dashboard._container_stats.refresh_now()
        [ann] = (await world.dashboard.page()).rows
        assert ann.usage == ContainerUsage(
            cpu_percent=21.5, memory_bytes=5100, memory_limit_bytes=10000
        )


class RecordingEventLog(InMemoryEventLog):
    """An event log that records each read: the id after which, and how many at most."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[int, int]] = []

    async def since(self, after_id: int, *, limit: int = 1000) -> list[PlatformEvent]:
        self.reads.append((after_id, limit))
        return await super().since(after_id, limit=limit)


class TestEventTotals:
    def event(self, id: int, kind: str = "cull", outcome: str = "idle") -> PlatformEvent:
        return PlatformEvent(kind=kind, at=NOW, outcome=outcome, seconds=0.25, id=id)

    def test_an_event_at_the_last_id_is_already_counted_and_later_ones_are_not_lost(self):
        totals = EventTotals(last_id=2).add([self.event(1), self.event(2), self.event(3)])
        assert (totals.last_id, dict(totals.counts), dict(totals.seconds)) == (
            3,
            {("cull", "idle"): 1},
            {"cull": 0.25},
        )

    def test_counts_add_to_earlier_counts(self):
        first = EventTotals().add([self.event(1), self.event(2, "sampler-tick", "ok")])
        second = first.add([self.event(3), self.event(4, outcome="max-age")])
        assert dict(second.counts) == {
            ("cull", "idle"): 2,
            ("cull", "max-age"): 1,
            ("sampler-tick", "ok"): 1,
        }
        assert dict(second.seconds) == {"cull": 0.75, "sampler-tick": 0.25}
        assert (second.count("cull"), second.count("sampler-tick"), second.last_id) == (3, 1, 4)
        assert dict(first.counts) == {("cull", "idle"): 1, ("sampler-tick", "ok"): 1}

    async def test_the_log_is_read_in_batches_of_a_thousand_by_default(self):
        log = RecordingEventLog()
        for _ in range(3):
            await log.record(self.event(0))
        counter = EventCounter(log)
        totals = await counter.refresh()
        assert log.reads == [(0, 1000)]
        assert totals.count("cull") == 3

    async def test_a_full_batch_is_followed_by_another_read(self):
        log = RecordingEventLog()
        for _ in range(5):
            await log.record(self.event(0))
        counter = EventCounter(log, batch=2)
        totals = await counter.refresh()
        assert log.reads == [(0, 2), (2, 2), (4, 2)]
        assert (totals.last_id, totals.count("cull")) == (5, 5)
        await log.record(self.event(0))
        assert (await counter.refresh()).count("cull") == 6
        assert log.reads[3:] == [(5, 2)]


async def test_a_day_of_samples_is_enough_data_and_one_fewer_is_not(world):
    # The default policy samples every 10 minutes: 144 samples make a day.
    await world.store.add(
        [RecordedSample("ann", NOW - timedelta(minutes=10 * i), True) for i in range(144)]
        + [RecordedSample("bob", NOW - timedelta(minutes=10 * i), True) for i in range(143)]
    )
    ann, bob, _ = (await world.dashboard.page()).rows
    assert (ann.sample_count, ann.enough_data) == (144, True)
    assert (bob.sample_count, bob.enough_data) == (143, False)


class GroupsSeen:
    """Session policies from group policies, recording the groups each user was judged by."""

    def __init__(self) -> None:
        self.seen: list[dict[str, frozenset[str]]] = []

    async def session_policies(self, groups_of, base):
        self.seen.append({name: frozenset(groups) for name, groups in groups_of.items()})
        return dict.fromkeys(groups_of, base)


async def test_time_left_is_judged_by_the_groups_of_the_users_listed(monkeypatch):
    policies = GroupsSeen()
    world = World(policies)
    world.directory.put(
        HubUser(
            name="ann",
            groups=frozenset({"ml"}),
            servers={"": server("ann", idle=timedelta(minutes=5))},
        )
    )
    world.directory.put(HubUser(name="bob", servers={"": server("bob", idle=timedelta(hours=2))}))

    async def get_user(name: str) -> HubUser | None:
        raise AssertionError(f"{name} looked up one by one")

    monkeypatch.setattr(world.directory, "get_user", get_user)
    page = await world.dashboard.page()
    assert [row.time_remaining for row in page.rows] == [timedelta(minutes=55), timedelta(0)]
    assert policies.seen == [{"ann": frozenset({"ml"}), "bob": frozenset()}]


class TestOneBuildForABurstOfRequests:
    """Polls that arrive while the dashboard is being built share that build; a poll after it
    has finished gets a new one (nothing older than the request is served)."""

    @staticmethod
    def gate_directory(world: World, monkeypatch) -> tuple[list[int], asyncio.Event]:
        calls: list[int] = []
        gate = asyncio.Event()
        listed = world.directory.list_users

        async def list_users():
            calls.append(1)
            await gate.wait()
            return await listed()

        monkeypatch.setattr(world.directory, "list_users", list_users)
        return calls, gate

    async def test_concurrent_pages_share_one_build(self, world, monkeypatch):
        calls, gate = self.gate_directory(world, monkeypatch)
        first = asyncio.ensure_future(world.dashboard.page(offset=0, limit=2))
        second = asyncio.ensure_future(world.dashboard.page(offset=2, limit=2))
        await asyncio.sleep(0)
        gate.set()
        one, two = await asyncio.gather(first, second)
        assert calls == [1]
        assert one.build == two.build == 1
        assert [row.username for row in one.rows] == ["ann", "bob"]
        assert [row.username for row in two.rows] == ["cy"]
        assert (one.offset, two.offset, one.total, two.total) == (0, 2, 3, 3)

    async def test_a_page_after_a_finished_build_builds_again(self, world, monkeypatch):
        calls, gate = self.gate_directory(world, monkeypatch)
        gate.set()
        first = await world.dashboard.page()
        second = await world.dashboard.page()
        assert calls == [1, 1]
        assert (first.build, second.build) == (1, 2)

    async def test_a_caller_that_goes_away_leaves_the_build_to_the_others(self, world, monkeypatch):
        calls, gate = self.gate_directory(world, monkeypatch)
        leaving = asyncio.ensure_future(world.dashboard.page())
        staying = asyncio.ensure_future(world.dashboard.page())
        await asyncio.sleep(0)
        leaving.cancel()
        gate.set()
        assert [row.username for row in (await staying).rows] == ["ann", "bob", "cy"]
        assert leaving.cancelled() and calls == [1]

    async def test_a_failed_build_fails_every_waiter_and_the_next_page_retries(
        self, world, monkeypatch
    ):
        attempts: list[int] = []

        async def broken():
            attempts.append(1)
            await asyncio.sleep(0)
            raise BackendUnavailable("the hub database is locked")

        monkeypatch.setattr(world.directory, "list_users", broken)
        results = await asyncio.gather(
            world.dashboard.page(), world.dashboard.page(), return_exceptions=True
        )
        assert [type(result) for result in results] == [BackendUnavailable] * 2
        assert attempts == [1]
        monkeypatch.undo()
        assert len((await world.dashboard.page()).rows) == 3

    async def test_thousands_of_rows_are_built_in_slices(self, world):
        for index in range(ROWS_PER_TURN * 2 + 1):
            world.directory.put(HubUser(name=f"u{index:04d}"))
        rows = (await world.dashboard.page()).rows
        assert len(rows) == ROWS_PER_TURN * 2 + 4
        assert [row.username for row in rows[:3]] == ["ann", "bob", "cy"]
        assert rows[-1].username == f"u{ROWS_PER_TURN * 2:04d}"


class TestABuildAnswersThePollsThatFollow:
    """With `reuse_for`, a finished build answers later polls until it is that old, unless the
    platform changed what it was built from: samples, deadlines, users, a newer snapshot."""

    @staticmethod
    def reusing(world: World) -> DashboardService:
        world.dashboard.reuse_for = timedelta(seconds=1)
        return world.dashboard

    async def test_polls_within_the_window_get_the_same_build_and_later_ones_a_new(self, world):
        dashboard = self.reusing(world)
        first = await dashboard.page()
        world.clock.advance(timedelta(milliseconds=999))
        assert (await dashboard.page(offset=1, limit=1)).build == first.build
        world.clock.advance(timedelta(milliseconds=1))
        assert (await dashboard.page()).build == first.build + 1

    async def test_a_clock_set_back_does_not_keep_a_build_alive(self, world):
        dashboard = self.reusing(world)
        first = await dashboard.page()
        world.clock.advance(timedelta(seconds=-5))
        assert (await dashboard.page()).build == first.build + 1

    async def test_a_sample_and_a_reset_show_at_once(self, world):
        dashboard = self.reusing(world)
        before = {row.username: row.sample_count for row in (await dashboard.page()).rows}
        await world.activity.tick()
        after_tick = {row.username: row.sample_count for row in (await dashboard.page()).rows}
        assert after_tick == {name: count + 1 for name, count in before.items()}
        await world.activity.reset()
        assert {row.sample_count for row in (await dashboard.page()).rows} == {0}

    async def test_an_extension_shows_at_once(self, world):
        dashboard = self.reusing(world)
        before = {row.username: row.time_remaining for row in (await dashboard.page()).rows}
        assert before["ann"] == timedelta(minutes=10)  # the "gpu" server's, idle for 50
        await world.sessions.extend("ann", 2, "gpu")
        after = {row.username: row.time_remaining for row in (await dashboard.page()).rows}
        assert after["ann"] == timedelta(minutes=55)  # now the default server's

    async def test_an_invalidation_and_a_newer_snapshot_show_at_once(self, world):
        dashboard = self.reusing(world)
        first = await dashboard.page()
        world.directory.put(HubUser(name="dee"))
        assert (await dashboard.page()).build == first.build  # not told: reused
        dashboard.invalidate()
        second = await dashboard.page()
        assert "dee" in [row.username for row in second.rows]
        await world.usage.refresh_now()
        third = await dashboard.page()
        assert third.build == second.build + 1
        assert third.container_stats.age == timedelta(0)

    async def test_without_reuse_every_poll_after_a_build_builds_again(self, world):
        first = await world.dashboard.page()
        assert (await world.dashboard.page()).build == first.build + 1


async def settle() -> None:
    """Turns of the loop enough for a build in the background (all fakes: no I/O) to finish."""
    for _ in range(100):
        await asyncio.sleep(0)


class TestAnOlderBuildAnswersWhileTheNextIsMadeBehindIt:
    """Past `reuse_for`, for `refresh_behind` more, a build from unchanged inputs is served at
    once while the next one is made; a poll waits only after a change of the platform's own or
    when the latest build is older than both windows."""

    @staticmethod
    def refreshing(world: World) -> DashboardService:
        world.dashboard.reuse_for = timedelta(seconds=1)
        world.dashboard.refresh_behind = timedelta(seconds=4)
        return world.dashboard

    async def test_a_poll_in_the_window_gets_the_latest_at_once_and_starts_the_next(
        self, world, monkeypatch
    ):
        dashboard = self.refreshing(world)
        first = await dashboard.page()
        calls, gate = TestOneBuildForABurstOfRequests.gate_directory(world, monkeypatch)
        world.directory.put(HubUser(name="dee"))  # made elsewhere: the platform was not told
        world.clock.advance(timedelta(seconds=1))
        # At once, though the build behind it is held at the gate (a wait would time out).
        served = await asyncio.wait_for(dashboard.page(), timeout=10)
        assert served.build == first.build
        assert "dee" not in [row.username for row in served.rows]
        await settle()  # the build behind it starts, and waits at the gate
        again = await asyncio.wait_for(dashboard.page(offset=1, limit=1), timeout=10)
        await settle()
        assert again.build == first.build and calls == [1]  # one build behind, not two
        gate.set()
        await settle()
        fresh = await dashboard.page()
        assert fresh.build == first.build + 1
        assert "dee" in [row.username for row in fresh.rows]
        assert calls == [1]

    async def test_past_both_windows_a_poll_waits_for_a_new_build(self, world):
        dashboard = self.refreshing(world)
        first = await dashboard.page()
        world.clock.advance(timedelta(seconds=5))
        assert (await dashboard.page()).build == first.build + 1
        world.clock.advance(timedelta(milliseconds=4999))
        behind = await dashboard.page()  # served at once; the next is made behind it
        assert behind.build == first.build + 1
        await settle()
        world.clock.advance(timedelta(seconds=1))  # the build behind is 1 s old: reused
        assert (await dashboard.page()).build == first.build + 2

    async def test_a_change_of_the_platforms_own_is_never_served_behind(self, world):
        dashboard = self.refreshing(world)
        before = {row.username: row.sample_count for row in (await dashboard.page()).rows}
        world.clock.advance(timedelta(seconds=2))
        await world.activity.tick()
        after = {row.username: row.sample_count for row in (await dashboard.page()).rows}
        assert after == {name: count + 1 for name, count in before.items()}

    async def test_each_failed_refresh_shows_at_once(self, world):
        dashboard = self.refreshing(world)
        await world.usage.refresh_now()
        first = await dashboard.page()
        assert first.container_stats.error is None
        world.usage_fails = "the Docker engine does not answer"
        world.clock.advance(timedelta(seconds=2))
        await world.usage.refresh_now()
        failed = await dashboard.page()
        assert failed.build == first.build + 1
        assert failed.container_stats.error == "the Docker engine does not answer"
        assert failed.container_stats.age == timedelta(seconds=2)
        world.clock.advance(timedelta(seconds=2))
        await world.usage.refresh_now()  # the second failure: the value only grows older
        again = await dashboard.page()
        assert (again.build, again.container_stats.age) == (failed.build + 1, timedelta(seconds=4))

    async def test_a_clock_set_back_waits_for_a_new_build(self, world):
        dashboard = self.refreshing(world)
        first = await dashboard.page()
        world.clock.advance(timedelta(seconds=-2))
        assert (await dashboard.page()).build == first.build + 1

    async def test_a_failed_build_behind_is_met_by_the_first_poll_that_must_wait(
        self, world, monkeypatch
    ):
        dashboard = self.refreshing(world)
        first = await dashboard.page()
        attempts: list[int] = []
        reported: list[str] = []  # what asyncio reports of futures nobody looked at
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: reported.append(context["message"]))

        async def broken():
            attempts.append(1)
            raise BackendUnavailable("the hub database is locked")

        monkeypatch.setattr(world.directory, "list_users", broken)
        world.clock.advance(timedelta(seconds=2))
        assert (await dashboard.page()).build == first.build  # served; the build behind fails
        await settle()
        assert attempts == [1]
        assert (await dashboard.page()).build == first.build  # still in the window: retried
        await settle()
        assert attempts == [1, 1]
        world.clock.advance(timedelta(seconds=3))
        with pytest.raises(BackendUnavailable, match=r"^the hub database is locked$"):
            await dashboard.page()
        gc.collect()  # the failed builds behind are gone: none left its error unread
        loop.set_exception_handler(None)
        assert reported == []


def test_the_sampling_status_counts_the_samples_and_users_the_scores_rest_on():
    from stellars.domain.services import SamplingStatus

    assert SamplingStatus(0, 0).text == "No samples yet"
    assert SamplingStatus(12, 3).text == "12 samples for 3 users"
    assert SamplingStatus(1, 1).text == "1 samples for 1 users"  # the original's wording


async def test_with_an_identity_provider_every_user_may_log_in(world):
    world.dashboard._credentials = CredentialService(
        generator=SequencePasswordGenerator(),
        accounts=None,
        vault=ProcessMemoryVault(clock=world.clock, policy=VaultPolicy()),
        policy=PassphrasePolicy(),
    )
    page = await world.dashboard.page()
    assert [row.is_authorized for row in page.rows] == [True, True, True]


class TestTheSecondWriteShowsAtOnceToo:
    """Within `reuse_for`, not only the first sample or extension after a build shows at once:
    the second one too (the services' revisions move on at every write, not just once)."""

    async def test_a_second_tick_shows_at_once(self, world):
        world.dashboard.reuse_for = timedelta(seconds=1)
        await world.activity.tick()
        first = {row.username: row.sample_count for row in (await world.dashboard.page()).rows}
        await world.activity.tick()
        second = {row.username: row.sample_count for row in (await world.dashboard.page()).rows}
        assert second == {name: count + 1 for name, count in first.items()}

    async def test_a_second_extension_shows_at_once(self, world):
        world.dashboard.reuse_for = timedelta(seconds=1)
        await world.sessions.extend("bob", 1)  # idle for 2 h: nothing left, then 1 h
        first = {row.username: row.time_remaining for row in (await world.dashboard.page()).rows}
        await world.sessions.extend("bob", 1)
        second = {row.username: row.time_remaining for row in (await world.dashboard.page()).rows}
        assert (first["bob"], second["bob"]) == (timedelta(hours=1), timedelta(hours=2))


async def test_only_users_with_an_authorized_account_may_log_in(world):
    world.accounts.set_password("bob", "y")
    world.accounts.unauthorized.add("bob")  # signed up, waiting for an admin
    page = await world.dashboard.page()
    assert {row.username: row.is_authorized for row in page.rows} == {
        "ann": True,  # an authorized account
        "bob": False,
        "cy": False,  # no account at all
    }


async def test_every_invalidation_shows_at_once_not_only_the_first(world):
    world.dashboard.reuse_for = timedelta(seconds=1)
    first = await world.dashboard.page()
    for name in ("dee", "eve", "fay"):
        world.directory.put(HubUser(name=name))
        world.dashboard.invalidate()
        page = await world.dashboard.page()
        assert name in [row.username for row in page.rows]
    assert page.build == first.build + 3


async def test_a_long_build_hands_the_loop_back_between_slices_without_waiting(world, monkeypatch):
    for index in range(ROWS_PER_TURN * 2):
        world.directory.put(HubUser(name=f"u{index:04d}"))
    delays: list[float] = []
    sleep = asyncio.sleep

    async def recording_sleep(delay: float, result: object = None) -> object:
        delays.append(delay)
        return await sleep(delay, result)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    rows = (await world.dashboard.page()).rows
    assert len(rows) == ROWS_PER_TURN * 2 + 3
    # Three slices of at most ROWS_PER_TURN rows: the loop is handed back twice, for no time.
    assert delays == [0, 0]


async def test_each_users_volume_names_are_rendered_once_not_on_every_build(world, monkeypatch):
    rendered: list[str] = []
    names_for = world.volumes.names_for

    def counting(username: str) -> dict[str, str]:
        rendered.append(username)
        return names_for(username)

    monkeypatch.setattr(world.volumes, "names_for", counting)
    await world.sizes.refresh_now()
    first = await world.dashboard.page()
    assert sorted(rendered) == ["ann", "bob", "cy"]
    world.directory.put(HubUser(name="dee"))
    world.dashboard.invalidate()
    second = await world.dashboard.page()
    assert second.build == first.build + 1
    assert sorted(rendered) == ["ann", "bob", "cy", "dee"]  # only the new user's
    assert second.rows[0].volume_sizes == {"home": 4 * 1024**2, "cache": None}
    # A user deleted and created again is rendered again (the memo holds the latest build's).
    del world.directory.users["dee"]
    world.dashboard.invalidate()
    await world.dashboard.page()
    world.directory.put(HubUser(name="dee"))
    world.dashboard.invalidate()
    await world.dashboard.page()
    assert sorted(rendered) == ["ann", "bob", "cy", "dee", "dee"]


async def test_many_scores_hand_the_loop_back_between_slices(world, monkeypatch):
    names = [f"u{index:05d}" for index in range(SCORES_PER_TURN * 2 + 1)]
    await world.store.add(
        [RecordedSample(name, NOW - timedelta(minutes=10), True) for name in names]
    )
    delays: list[float] = []
    sleep = asyncio.sleep

    async def recording_sleep(delay: float, result: object = None) -> object:
        delays.append(delay)
        return await sleep(delay, result)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    scores = await world.activity.scores()
    assert sorted(scores) == names
    assert {score.sample_count for score in scores.values()} == {1}
    # Three slices of at most SCORES_PER_TURN scores: the loop is handed back twice.
    assert delays == [0, 0]
