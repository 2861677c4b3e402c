"""ActivityService (tick and report) with the in-memory fakes; the sampler's loop is a Refresher
(tests/unit/test_refresh.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stellars.adapters.memory import InMemoryActivityStore, InMemoryHubDirectory, ManualClock
from stellars.domain.activity import (
    ActivityLevel,
    ActivityPolicy,
    ActivitySample,
    ActivityStoreSummary,
    RecordedSample,
    score_samples,
)
from stellars.domain.errors import BackendUnavailable
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.services.activity import ActivityService, TickSummary, UserActivity
from tests.strategies import EPOCH

POLICY = ActivityPolicy()
START = EPOCH + timedelta(days=10)


def user(name: str, *, active_ago: timedelta | None = None, ready: bool = True, **kw) -> HubUser:
    """A user whose default server last saw activity `active_ago` before START (None: no
    server at all)."""
    if active_ago is None:
        return HubUser(name=name, **kw)
    server = ServerSnapshot(
        username=name, ready=ready, started=START - timedelta(days=1),
        last_activity=START - active_ago, url=f"/user/{name}/",
    )  # fmt: skip
    return HubUser(name=name, servers={"": server}, **kw)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def store() -> InMemoryActivityStore:
    return InMemoryActivityStore(half_life=POLICY.half_life)


@pytest.fixture
def directory() -> InMemoryHubDirectory:
    return InMemoryHubDirectory(
        [
            user("alice", active_ago=timedelta(minutes=5)),
            user("bob", active_ago=timedelta(hours=3)),
            user("carol"),
        ]
    )


@pytest.fixture
def service(store, directory, clock) -> ActivityService:
    return ActivityService(store=store, directory=directory, clock=clock, policy=POLICY)


class TestTick:
    async def test_records_one_sample_per_user_at_the_clocks_now(self, service, store):
        await service.tick()
        assert sorted((r.username, r.taken_at, r.active) for r in store.rows) == [
            ("alice", START, True),
            ("bob", START, False),
            ("carol", START, False),
        ]

    async def test_keeps_the_servers_activity_with_the_sample(self, service, store):
        await service.tick()
        by_name = {r.username: r for r in store.rows}
        assert by_name["alice"].server_last_activity == START - timedelta(minutes=5)
        assert by_name["carol"].server_last_activity is None

    async def test_summarises_active_idle_and_offline_users(self, service):
        summary = await service.tick()
        assert (summary.users, summary.active, summary.idle, summary.offline) == (3, 1, 1, 1)
        assert summary.levels == {ActivityLevel.VERY_HIGH: 1, ActivityLevel.NONE: 2}
        assert summary.line == (
            "Tick: 3 users (active=1, idle=1, offline=1) | levels: very-high(1), none(2) | pruned 0"
        )

    async def test_the_users_own_activity_never_counts(self, service, store, directory):
        # A hub page view moves the user's last_activity, not the server's: no server, no work.
        directory.put(HubUser(name="carol", last_activity=START))
        await service.tick()
        assert not next(r for r in store.rows if r.username == "carol").active

    async def test_activity_just_inside_inactive_after_is_active(self, service, store, directory):
        directory.put(user("dave", active_ago=POLICY.inactive_after))
        directory.put(user("erin", active_ago=POLICY.inactive_after + timedelta(microseconds=1)))
        await service.tick()
        verdicts = {r.username: r.active for r in store.rows}
        assert (verdicts["dave"], verdicts["erin"]) == (True, False)

    async def test_a_pending_server_counts_as_running_but_idle(self, service, directory):
        directory.users.clear()
        pending = ServerSnapshot(username="fay", pending="spawn", started=START)
        directory.put(HubUser(name="fay", servers={"": pending}))
        summary = await service.tick()
        assert (summary.active, summary.idle, summary.offline) == (0, 1, 0)

    async def test_prunes_what_left_the_retention_window(self, service, store, clock):
        old = RecordedSample("alice", START - POLICY.retention, True)
        kept = RecordedSample("alice", START - POLICY.retention + timedelta(seconds=1), True)
        await store.add([old, kept])
        summary = await service.tick()
        assert summary.pruned == 1
        assert old not in store.rows
        assert kept in store.rows

    async def test_a_week_of_ticks_scores_like_the_definition(self, store, directory, clock):
        hourly = ActivityPolicy(sample_interval_seconds=3600)  # 24 a day keeps the test quick
        service = ActivityService(store=store, directory=directory, clock=clock, policy=hourly)
        for _ in range(hourly.samples_per_day * 8):
            clock.advance(hourly.sample_interval)
            # alice keeps working; bob's activity stays hours old
            directory.put(user("alice", active_ago=START - clock.now() + timedelta(minutes=5)))
            await service.tick()
        scores = await service.scores()
        now = clock.now()
        for name in ["alice", "bob", "carol"]:
            mine = [r for r in store.rows if r.username == name]
            assert scores[name] == score_samples(mine, now=now, policy=hourly)
        assert scores["alice"].value == 100
        assert scores["bob"].value == 0
        # 8 days of samples, 7 kept: the window holds exactly a week's worth.
        assert scores["alice"].sample_count == 24 * 7
        assert len(store.rows) == 3 * 24 * 7

    async def test_levels_of_mixed_scores(self, service, store, clock):
        # with the tick's samples at START: alice 3 of 4 active, the older three weighing a hair
        # less than 1 -> just over 75 (high); bob 1 of 4, the active one older -> 24 (low)
        await store.add(
            [
                RecordedSample("alice", START - timedelta(minutes=1), True),
                RecordedSample("alice", START - timedelta(minutes=1), True),
                RecordedSample("alice", START - timedelta(minutes=1), False),
                *(RecordedSample("bob", START - timedelta(minutes=1), i == 0) for i in range(3)),
            ]
        )
        summary = await service.tick()  # adds one sample each at START
        assert summary.levels == {
            ActivityLevel.HIGH: 1,
            ActivityLevel.LOW: 1,
            ActivityLevel.NONE: 1,
        }
        scores = await service.scores()
        assert (scores["alice"].value, scores["bob"].value) == (75, 24)
        assert summary.line.endswith("| levels: high(1), low(1), none(1) | pruned 0")

    async def test_every_user_is_counted(self, service, directory):
        directory.put(user("dave", active_ago=timedelta(minutes=1)))
        directory.put(user("erin", active_ago=timedelta(hours=5)))
        directory.put(HubUser(name="fay"))
        summary = await service.tick()
        assert (summary.users, summary.active, summary.idle, summary.offline) == (6, 2, 2, 2)

    async def test_a_tick_without_users(self, store, clock):
        service = ActivityService(
            store=store, directory=InMemoryHubDirectory(), clock=clock, policy=POLICY
        )
        summary = await service.tick()
        assert summary == TickSummary(0, 0, 0, 0, 0, {})
        assert summary.line == (
            "Tick: 0 users (active=0, idle=0, offline=0) | levels: none | pruned 0"
        )

    async def test_the_sample_of_a_user(self, service):
        alice = user("alice", active_ago=timedelta(minutes=5))
        assert service.sample_of(alice, START) == ActivitySample(
            "alice", START, START - timedelta(minutes=5)
        )
        assert service.sample_of(HubUser(name="carol"), START) == ActivitySample(
            "carol", START, None
        )

    async def test_an_unreachable_hub_records_nothing(self, store, clock):
        class DownDirectory(InMemoryHubDirectory):
            async def list_users(self):
                raise BackendUnavailable("hub down")

        service = ActivityService(
            store=store, directory=DownDirectory(), clock=clock, policy=POLICY
        )
        with pytest.raises(BackendUnavailable):
            await service.tick()
        assert store.rows == []


class TestReport:
    async def test_every_hub_user_has_a_row_even_without_samples(self, service):
        rows = await service.report()
        assert [r.username for r in rows] == ["alice", "bob", "carol"]
        assert all(r.score is None and r.sample_count == 0 for r in rows)
        assert all(r.level is ActivityLevel.NONE and not r.enough_data for r in rows)

    async def test_rows_carry_scores_counts_and_server_state(self, service, clock):
        for _ in range(3):
            await service.tick()
            clock.advance(POLICY.sample_interval)
        rows = {r.username: r for r in await service.report()}
        alice, bob, carol = rows["alice"], rows["bob"], rows["carol"]
        assert (alice.score, alice.level, alice.sample_count) == (100, ActivityLevel.VERY_HIGH, 3)
        assert (bob.score, bob.level, bob.sample_count) == (0, ActivityLevel.NONE, 3)
        assert alice.server_active and bob.server_active and not carol.server_active
        assert alice.last_activity == START - timedelta(minutes=5)
        assert carol.last_activity is None

    async def test_recently_active_means_a_running_server_used_within_inactive_after(
        self, service, directory, clock
    ):
        directory.put(user("dave", active_ago=timedelta(minutes=1), ready=False))
        rows = {r.username: r for r in await service.report()}
        assert rows["alice"].recently_active
        assert not rows["bob"].recently_active  # running, idle for hours
        assert not rows["carol"].recently_active  # no server
        assert not rows["dave"].recently_active  # stopped (not ready, not pending)
        clock.advance(POLICY.inactive_after)
        rows = {r.username: r for r in await service.report()}
        assert not rows["alice"].recently_active

    async def test_enough_data_once_a_day_of_samples_exists(self, service, clock):
        for _ in range(POLICY.samples_per_day - 1):
            await service.tick()
            clock.advance(POLICY.sample_interval)
        assert not (await service.report())[0].enough_data
        await service.tick()
        assert (await service.report())[0].enough_data

    async def test_the_score_of_mixed_activity(self, service, store, directory, clock):
        # alice works for the newest half of the samples, which weigh more than the oldest.
        directory.users.pop("bob")
        directory.users.pop("carol")
        for index in range(10):
            ago = timedelta(minutes=5) if index >= 5 else timedelta(hours=5)
            directory.put(user("alice", active_ago=ago - (clock.now() - START)))
            await service.tick()
            clock.advance(timedelta(hours=12))
        (row,) = await service.report()
        expected = score_samples(store.rows, now=clock.now(), policy=POLICY)
        assert row.score == expected.value
        assert 50 < row.score < 100

    async def test_a_full_row(self, service, clock):
        await service.tick()
        clock.advance(timedelta(minutes=10))
        rows = await service.report()
        assert rows[0] == UserActivity(
            username="alice",
            score=100,
            level=ActivityLevel.VERY_HIGH,
            sample_count=1,
            enough_data=False,
            last_activity=START - timedelta(minutes=5),
            server_active=True,
            recently_active=True,
        )
        assert rows[2] == UserActivity(
            username="carol",
            score=0,
            level=ActivityLevel.NONE,
            sample_count=1,
            enough_data=False,
            last_activity=None,
            server_active=False,
            recently_active=False,
        )

    async def test_recently_active_up_to_inactive_after_inclusive(self, service, directory, clock):
        directory.put(user("dave", active_ago=timedelta(0)))
        clock.advance(POLICY.inactive_after)
        rows = {r.username: r for r in await service.report()}
        assert rows["dave"].recently_active
        clock.advance(timedelta(microseconds=1))
        rows = {r.username: r for r in await service.report()}
        assert not rows["dave"].recently_active

    async def test_scores_of_users_with_samples(self, service, clock):
        assert await service.scores() == {}
        await service.tick()
        scores = await service.scores()
        assert sorted(scores) == ["alice", "bob", "carol"]
        assert [scores[name].value for name in sorted(scores)] == [100, 0, 0]

    async def test_summary_counts_samples_and_users(self, service, store):
        assert await service.summary() == ActivityStoreSummary(0, 0)
        await service.tick()
        await store.add([RecordedSample("alice", START - timedelta(hours=1), True)])
        assert await service.summary() == ActivityStoreSummary(samples=4, users=3)

    async def test_history_of_chosen_users_over_a_range(self, service, store, clock):
        today = START.date()
        await store.add(
            [
                RecordedSample("alice", START - timedelta(hours=12), True),  # START is midnight
                RecordedSample("alice", START - timedelta(hours=12, minutes=10), True),
                RecordedSample("bob", START - timedelta(hours=12), True),
                RecordedSample("alice", START - timedelta(days=3), True),
            ]
        )
        yesterday = today - timedelta(days=1)
        history = await service.history(yesterday, today, usernames={"alice"})
        assert (history.start, history.end) == (yesterday, today)
        assert [(d.username, d.day, d.hours) for d in history.days] == [
            ("alice", yesterday, 0.33)  # two samples of 10 minutes
        ]
        everyone = await service.history(yesterday, yesterday)
        assert [d.username for d in everyone.days] == ["alice", "bob"]

    async def test_reset_forgets_every_sample(self, service, store):
        await service.tick()
        assert await service.reset() == 3
        assert store.rows == []
        assert all(r.score is None for r in await service.report())


class TestLevelsOfUsersWhoseSamplesWentMidTick:
    """The tick scores after it adds its samples; a reset, a rename or a prune by someone else
    in between leaves users without a tally. They count as level "none", like users who never
    had a sample, and the tick still summarises every user."""

    async def test_a_reset_between_the_add_and_the_scores(self, directory, clock):
        class ResetWhilePruning(InMemoryActivityStore):
            async def prune(self, *, older_than):
                await self.reset()  # an admin's reset lands between the tick's steps
                return 0

        store = ResetWhilePruning(half_life=POLICY.half_life)
        service = ActivityService(store=store, directory=directory, clock=clock, policy=POLICY)
        summary = await service.tick()
        assert summary.levels == {ActivityLevel.NONE: 3}
        assert summary.line == (
            "Tick: 3 users (active=1, idle=1, offline=1) | levels: none(3) | pruned 0"
        )

    async def test_a_rename_between_the_add_and_the_scores(self, directory, clock):
        class RenameWhilePruning(InMemoryActivityStore):
            async def prune(self, *, older_than):
                await self.rename_user("alice", "alicia")  # renamed while the tick ran
                return 0

        store = RenameWhilePruning(half_life=POLICY.half_life)
        service = ActivityService(store=store, directory=directory, clock=clock, policy=POLICY)
        summary = await service.tick()
        # alice (listed before the rename) has no tally any more: none, like idle bob and carol
        assert summary.levels == {ActivityLevel.NONE: 3}
        assert summary.line.endswith("| levels: none(3) | pruned 0")
