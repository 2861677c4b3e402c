"""ActivityService (tick and report) with the in-memory fakes, and the sampler's loop."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from stellars.adapters.memory import InMemoryActivityStore, InMemoryHubDirectory, ManualClock
from stellars.domain.activity import ActivityLevel, ActivityPolicy, RecordedSample, score_samples
from stellars.domain.errors import BackendUnavailable
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.services.activity import ActivityService, TickSummary
from stellars.entrypoints.activity_sampler import SamplerLoop
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

    async def test_a_week_of_ticks_scores_like_the_definition(
        self, service, store, directory, clock
    ):
        for _ in range(POLICY.samples_per_day * 8):
            clock.advance(POLICY.sample_interval)
            # alice keeps working; bob's activity stays hours old
            directory.put(user("alice", active_ago=START - clock.now() + timedelta(minutes=5)))
            await service.tick()
        scores = await service.scores()
        now = clock.now()
        for name in ["alice", "bob", "carol"]:
            mine = [r for r in store.rows if r.username == name]
            assert scores[name] == score_samples(mine, now=now, policy=POLICY)
        assert scores["alice"].value == 100
        assert scores["bob"].value == 0
        # 8 days of samples, 7 kept: the window holds exactly a week's worth.
        assert scores["alice"].sample_count == POLICY.samples_per_day * 7

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

    async def test_reset_forgets_every_sample(self, service, store):
        await service.tick()
        assert await service.reset() == 3
        assert store.rows == []
        assert all(r.score is None for r in await service.report())


class TestSamplerLoop:
    @staticmethod
    def summary() -> TickSummary:
        return TickSummary(users=1, active=1, idle=0, offline=0, pruned=0)

    async def test_a_successful_tick_logs_its_summary_line(self, caplog):
        async def tick():
            return self.summary()

        sampler = SamplerLoop(tick, interval_seconds=600)
        with caplog.at_level(logging.INFO, logger="stellars.activity_sampler"):
            assert await sampler.tick_once()
        assert self.summary().line in caplog.messages
        assert (sampler.succeeded, sampler.failed) == (1, 0)

    async def test_failures_are_logged_and_the_loop_goes_on(self, caplog):
        calls = []

        async def tick():
            calls.append(len(calls))
            sampler.tick_now()  # no waiting for the interval in a test
            if len(calls) == 1:
                raise BackendUnavailable("hub API http://hub/users unreachable")
            if len(calls) == 2:
                raise RuntimeError("something unexpected")
            if len(calls) == 4:
                sampler.stop()
            return self.summary()

        sampler = SamplerLoop(tick, interval_seconds=3600)
        with caplog.at_level(logging.INFO, logger="stellars.activity_sampler"):
            await sampler.run()
        assert len(calls) == 4
        assert (sampler.succeeded, sampler.failed) == (2, 2)
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert "hub API http://hub/users unreachable" in errors[0].getMessage()
        assert errors[1].exc_info is not None

    async def test_a_loop_stopped_before_it_runs_never_ticks(self):
        calls = []

        async def tick():
            calls.append(1)
            return self.summary()

        sampler = SamplerLoop(tick, interval_seconds=3600)
        sampler.stop()
        await sampler.run()
        assert calls == []
