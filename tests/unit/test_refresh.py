"""Tests for `stellars.domain.services.refresh.Refresher`, and the activity sampler's loop that
is one.

No test really waits: the timer is injected and fires only when the test says so, fetches block
on events the test sets, and the event loop's clock is virtual where a delay is checked.
Ordering relies only on documented asyncio guarantees (callbacks run in the order scheduled).
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import timedelta

import pytest

from stellars.adapters.memory import InMemoryEventLog, ManualClock
from stellars.domain.activity import ActivityPolicy
from stellars.domain.errors import BackendUnavailable, InvalidValue
from stellars.domain.services import Refresher, Snapshot, TickSummary
from stellars.domain.services.refresh import _sleep
from stellars.entrypoints.activity_sampler import sampler_loop
from tests.strategies import EPOCH

T0 = EPOCH + timedelta(days=3)
INTERVAL = timedelta(minutes=10)
GUARD_SECONDS = 5  # only reached when a test is broken


class ManualTimer:
    """A Refresher timer that never fires by itself: `fire()` ends the current wait."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.cancelled = 0
        self._waits: list[asyncio.Future[None]] = []
        self._called = asyncio.Condition()

    async def __call__(self, seconds: float) -> None:
        waiting = asyncio.get_running_loop().create_future()
        self._waits.append(waiting)
        async with self._called:
            self.delays.append(seconds)
            self._called.notify_all()
        try:
            await waiting
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    def fire(self) -> None:
        self._waits[-1].set_result(None)

    async def calls(self, count: int, *, guard: float | None = GUARD_SECONDS) -> None:
        """Until the refresher has started waiting `count` times (after `count` passes).

        `guard` bounds the wait on the loop's clock: None where the test moves that clock."""

        async def reached() -> None:
            async with self._called:
                await self._called.wait_for(lambda: len(self.delays) >= count)

        await asyncio.wait_for(reached(), guard)


class Fetch:
    """Returns (or raises) the scripted outcomes in turn; can hold a pass until released."""

    def __init__(self, *outcomes: object, clock: ManualClock | None = None) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0
        self.cancelled = 0
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.clock = clock
        self.step: timedelta | None = None  # how far a pass moves the clocks
        self.virtual: VirtualTime | None = None

    def hold(self) -> asyncio.Event:
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        return self.gate

    async def __call__(self) -> object:
        self.calls += 1
        self.entered.set()
        try:
            if self.gate is not None:
                await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.step is not None:
            if self.clock is not None:
                self.clock.advance(self.step)
            if self.virtual is not None:
                self.virtual.advance(self.step.total_seconds())
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class VirtualTime:
    """The running loop's clock, moved only by the test (from a whole second, so that delays
    computed from it are exact)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.now = float(math.ceil(loop.time()))

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def timer() -> ManualTimer:
    return ManualTimer()


@pytest.fixture
async def virtual(monkeypatch) -> VirtualTime:
    loop = asyncio.get_running_loop()
    time = VirtualTime(loop)
    monkeypatch.setattr(loop, "time", time.time)
    return time


def refresher(fetch, clock, timer=None, **kw) -> Refresher:
    options = {"timer": timer} if timer is not None else {}
    return Refresher(
        fetch, empty=kw.pop("empty", "nothing yet"), interval=kw.pop("interval", INTERVAL),
        clock=clock, name=kw.pop("name", "stats"), **options, **kw,
    )  # fmt: skip


class TestSnapshot:
    def test_before_the_first_pass(self):
        snapshot = Snapshot({})
        assert (snapshot.value, snapshot.refreshed_at, snapshot.error, snapshot.failures) == (
            {},
            None,
            None,
            0,
        )
        assert snapshot.ready is False
        assert snapshot.age(T0) is None

    def test_age_of_a_refreshed_value(self):
        snapshot = Snapshot(1, T0)
        assert snapshot.ready is True
        assert snapshot.age(T0 + timedelta(seconds=42)) == timedelta(seconds=42)


class TestRefresher:
    @pytest.mark.parametrize("interval", [timedelta(0), timedelta(seconds=-1)])
    def test_the_interval_must_be_positive(self, clock, interval):
        with pytest.raises(InvalidValue) as error:
            refresher(Fetch(), clock, interval=interval)
        assert str(error.value) == f"interval: must be positive, got {interval}"

    async def test_nothing_runs_before_start(self, clock, timer):
        fetch = Fetch(1)
        r = refresher(fetch, clock, timer)
        assert r.snapshot() == Snapshot("nothing yet")
        assert (r.running, r.passes, r.failed_passes, fetch.calls) == (False, 0, 0, 0)
        assert (r.name, r.interval) == ("stats", INTERVAL)

    async def test_the_first_pass_runs_at_once_then_waits_an_interval(self, clock, timer, virtual):
        fetch = Fetch({"a": 1})
        r = refresher(fetch, clock, timer)
        r.start()
        assert r.running
        await timer.calls(1, guard=None)
        assert r.snapshot() == Snapshot({"a": 1}, T0, None, 0)
        assert timer.delays == [600.0]
        assert (r.passes, r.failed_passes) == (1, 0)
        await r.stop()
        assert not r.running

    async def test_the_interval_is_measured_from_the_start_of_a_pass(self, clock, timer, virtual):
        fetch = Fetch(1, 2, 3, clock=clock)
        fetch.virtual, fetch.step = virtual, timedelta(seconds=3)
        r = refresher(fetch, clock, timer)
        r.start()
        await timer.calls(1, guard=None)
        assert timer.delays == [597.0]  # the pass took 3 s of the 600
        assert r.snapshot().refreshed_at == T0 + timedelta(seconds=3)
        fetch.step = timedelta(seconds=700)  # a pass longer than the interval
        timer.fire()
        await timer.calls(2, guard=None)
        assert timer.delays == [597.0, 0.0]
        fetch.step = timedelta(seconds=600)  # exactly the interval
        timer.fire()
        await timer.calls(3, guard=None)
        assert timer.delays == [597.0, 0.0, 0.0]
        await r.stop()

    async def test_each_pass_replaces_the_value(self, clock, timer):
        fetch = Fetch(1, 2)
        r = refresher(fetch, clock, timer)
        r.start()
        await timer.calls(1)
        clock.advance(timedelta(minutes=10))
        timer.fire()
        await timer.calls(2)
        assert r.snapshot() == Snapshot(2, T0 + timedelta(minutes=10), None, 0)
        assert (r.passes, fetch.calls) == (2, 2)
        await r.stop()

    async def test_a_failed_pass_keeps_the_last_good_value(self, clock, timer):
        seen: list[Exception] = []
        boom, bare = RuntimeError("boom"), ValueError()
        fetch = Fetch(1, boom, bare, 2)
        r = refresher(fetch, clock, timer, on_failure=seen.append)
        r.start()
        await timer.calls(1)
        clock.advance(timedelta(minutes=10))
        timer.fire()
        await timer.calls(2)
        assert r.snapshot() == Snapshot(1, T0, "boom", 1)
        clock.advance(timedelta(minutes=10))
        timer.fire()
        await timer.calls(3)
        assert r.snapshot() == Snapshot(1, T0, "ValueError", 2)  # no message: the type
        assert seen == [boom, bare]
        assert (r.passes, r.failed_passes) == (3, 2)
        clock.advance(timedelta(minutes=10))
        timer.fire()
        await timer.calls(4)
        assert r.snapshot() == Snapshot(2, T0 + timedelta(minutes=30), None, 0)
        assert (r.passes, r.failed_passes) == (4, 2)
        await r.stop()

    async def test_a_failure_before_any_success_keeps_the_empty_value(self, clock, timer):
        r = refresher(Fetch(BackendUnavailable("engine down")), clock, timer, on_failure=print)
        assert await r.refresh_now() == Snapshot("nothing yet", None, "engine down", 1)
        assert not r.snapshot().ready

    async def test_failures_are_logged_without_a_handler(self, clock, timer, caplog):
        mine = logging.getLogger("tests.refresh")
        r = refresher(Fetch(RuntimeError("boom")), clock, timer, log=mine, name="volume sizes")
        with caplog.at_level(logging.WARNING):
            await r.refresh_now()
        assert [(rec.name, rec.levelno, rec.getMessage()) for rec in caplog.records] == [
            ("tests.refresh", logging.WARNING, "volume sizes: refresh failed: boom")
        ]

    async def test_the_default_log(self, clock, timer, caplog):
        r = refresher(Fetch(KeyError()), clock, timer)
        with caplog.at_level(logging.WARNING):
            await r.refresh_now()
        assert [(rec.name, rec.getMessage()) for rec in caplog.records] == [
            ("stellars.domain.services.refresh", "stats: refresh failed: KeyError")
        ]

    async def test_a_failure_handler_replaces_the_log(self, clock, timer, caplog):
        seen: list[Exception] = []
        r = refresher(Fetch(RuntimeError("boom")), clock, timer, on_failure=seen.append)
        with caplog.at_level(logging.DEBUG):
            await r.refresh_now()
        assert caplog.records == []
        assert [str(error) for error in seen] == ["boom"]

    async def test_passes_never_overlap(self, clock, timer):
        fetch = Fetch("first", "second")
        gate = fetch.hold()
        r = refresher(fetch, clock, timer)
        r.request_refresh()
        await asyncio.wait_for(fetch.entered.wait(), GUARD_SECONDS)
        waiters = [asyncio.create_task(r.refresh_now()) for _ in range(3)]  # join it
        gate.set()
        results = await asyncio.wait_for(asyncio.gather(*waiters), GUARD_SECONDS)
        assert results == [Snapshot("first", T0, None, 0)] * 3
        assert (fetch.calls, r.passes) == (1, 1)
        assert await r.refresh_now() == Snapshot("second", T0, None, 0)  # a new pass
        assert fetch.calls == 2

    async def test_a_refresh_requested_during_a_pass_gets_a_pass_of_its_own_after_it(
        self, clock, timer
    ):
        """The pass in flight may have read the backend before the requester's change (the
        volumes a spawn just created): one more pass follows it, whatever the requests."""
        fetch = Fetch("before the change", "after the change", "unused")
        gate = fetch.hold()
        r = refresher(fetch, clock, timer)
        r.request_refresh()
        await asyncio.wait_for(fetch.entered.wait(), GUARD_SECONDS)
        for _ in range(3):
            r.request_refresh()  # three requests while it runs: one pass owed, not three
        owed_gate = fetch.hold()  # the owed pass waits on this one
        gate.set()
        await asyncio.wait_for(fetch.entered.wait(), GUARD_SECONDS)  # the owed pass started
        assert r.snapshot().value == "before the change"
        waiter = asyncio.create_task(r.refresh_now())  # joins it
        owed_gate.set()
        assert await asyncio.wait_for(waiter, GUARD_SECONDS) == Snapshot(
            "after the change", T0, None, 0
        )
        assert (fetch.calls, r.passes) == (2, 2)

    async def test_a_later_request_during_a_later_pass_is_owed_a_pass_too(self, clock, timer):
        fetch = Fetch(1, 2, 3, 4, "unused")
        r = refresher(fetch, clock, timer)
        for first in (1, 3):
            gate = fetch.hold()
            r.request_refresh()
            await asyncio.wait_for(fetch.entered.wait(), GUARD_SECONDS)
            r.request_refresh()
            owed_gate = fetch.hold()
            gate.set()
            await asyncio.wait_for(fetch.entered.wait(), GUARD_SECONDS)
            waiter = asyncio.create_task(r.refresh_now())
            owed_gate.set()
            assert (await asyncio.wait_for(waiter, GUARD_SECONDS)).value == first + 1
        assert fetch.calls == 4

    async def test_no_owed_pass_once_stopped(self, clock, timer):
        fetch = Fetch("first", "never")
        fetch.hold()
        r = refresher(fetch, clock, timer)
        r.request_refresh()
        await asyncio.wait_for(fetch.entered.wait(), GUARD_SECONDS)
        r.request_refresh()
        await r.stop()
        for _ in range(3):
            await asyncio.sleep(0)
        assert (fetch.calls, fetch.cancelled) == (1, 1)

    async def test_the_loop_joins_a_pass_already_in_flight(self, clock, timer):
        fetch = Fetch("only")
        gate = fetch.hold()
        r = refresher(fetch, clock, timer)
        waiter = asyncio.create_task(r.refresh_now())
        await asyncio.wait_for(fetch.entered.wait(), GUARD_SECONDS)
        r.start()
        gate.set()
        await timer.calls(1)
        assert await waiter == Snapshot("only", T0, None, 0)
        assert fetch.calls == 1
        await r.stop()

    async def test_wake_starts_the_next_pass_now(self, clock, timer):
        fetch = Fetch(1, 2, 3)
        r = refresher(fetch, clock, timer)
        r.start()
        await timer.calls(1)
        r.wake()
        await timer.calls(2)
        assert (fetch.calls, timer.cancelled) == (2, 1)
        assert r.snapshot().value == 2
        timer.fire()  # and the timer still works after a wake
        await timer.calls(3)
        assert r.snapshot().value == 3
        await r.stop()

    async def test_stop_cancels_a_pass_in_flight(self, clock, timer):
        fetch = Fetch(1, 2)
        r = refresher(fetch, clock, timer)
        r.start()
        await timer.calls(1)
        fetch.hold()
        timer.fire()
        await asyncio.wait_for(fetch.entered.wait(), GUARD_SECONDS)
        await asyncio.wait_for(r.stop(), GUARD_SECONDS)
        assert fetch.cancelled == 1
        assert r.snapshot() == Snapshot(1, T0, None, 0)
        assert not r.running

    async def test_stop_does_not_wait_for_the_pass_in_flight(self, clock, timer):
        fetch = Fetch(1, 2)
        r = refresher(fetch, clock, timer)
        r.start()
        await timer.calls(1)
        gate = fetch.hold()
        timer.fire()
        await asyncio.wait_for(fetch.entered.wait(), GUARD_SECONDS)
        stopping = asyncio.create_task(r.stop())
        # the gate opens after the stop task's first step: by then the pass must be cancelled
        asyncio.get_running_loop().call_soon(gate.set)
        await asyncio.wait_for(stopping, GUARD_SECONDS)
        assert fetch.cancelled == 1
        assert r.snapshot() == Snapshot(1, T0, None, 0)

    async def test_a_stop_waiting_for_a_pass_ends_quietly_when_another_stop_cancels_it(
        self, clock, timer
    ):
        fetch = Fetch(1)
        fetch.hold()
        r = refresher(fetch, clock, timer)
        r.request_refresh()
        await asyncio.wait_for(fetch.entered.wait(), GUARD_SECONDS)
        patient = asyncio.create_task(r.stop(finish_pass=True))
        impatient = asyncio.create_task(r.stop())  # runs after the patient one started waiting
        await asyncio.wait_for(asyncio.gather(patient, impatient), GUARD_SECONDS)
        assert fetch.cancelled == 1
        assert r.snapshot() == Snapshot("nothing yet", None, None, 0)

    async def test_stop_with_finish_pass_waits_for_the_pass_in_flight(self, clock, timer):
        fetch = Fetch(1, 2)
        r = refresher(fetch, clock, timer)
        r.start()
        await timer.calls(1)
        gate = fetch.hold()
        timer.fire()
        await asyncio.wait_for(fetch.entered.wait(), GUARD_SECONDS)
        stopping = asyncio.create_task(r.stop(finish_pass=True))
        # runs after the stop task's first step, which is where stop() starts to wait
        asyncio.get_running_loop().call_soon(gate.set)
        await asyncio.wait_for(stopping, GUARD_SECONDS)
        assert fetch.cancelled == 0
        assert r.snapshot().value == 2
        assert (r.passes, fetch.calls, len(timer.delays)) == (2, 2, 1)  # no pass after stop
        assert not r.running

    async def test_stop_with_finish_pass_and_no_pass_in_flight(self, clock, timer):
        fetch = Fetch(1)
        r = refresher(fetch, clock, timer)
        r.start()
        await timer.calls(1)
        await asyncio.wait_for(r.stop(finish_pass=True), GUARD_SECONDS)
        assert (fetch.calls, timer.cancelled, r.running) == (1, 1, False)

    async def test_a_refresher_stopped_before_it_runs_never_passes(self, clock, timer):
        fetch = Fetch(1)
        r = refresher(fetch, clock, timer)
        await r.stop()
        await r.run()
        assert fetch.calls == 0

    async def test_stop_during_a_pass_of_run_ends_the_loop_after_it(self, clock, timer):
        fetch = Fetch(1)
        gate = fetch.hold()
        r = refresher(fetch, clock, timer)
        running = asyncio.create_task(r.run())
        await asyncio.wait_for(fetch.entered.wait(), GUARD_SECONDS)
        stopping = asyncio.create_task(r.stop(finish_pass=True))
        asyncio.get_running_loop().call_soon(gate.set)
        await asyncio.wait_for(stopping, GUARD_SECONDS)
        await asyncio.wait_for(running, GUARD_SECONDS)
        assert (fetch.calls, timer.delays) == (1, [])  # no wait after the last pass

    async def test_start_is_idempotent_and_restarts_after_stop(self, clock, timer):
        fetch = Fetch(1, 2)
        r = refresher(fetch, clock, timer)
        r.start()
        r.start()
        await timer.calls(1)
        assert fetch.calls == 1
        await r.stop()
        r.start()
        assert r.running
        await timer.calls(2)
        assert (fetch.calls, r.snapshot().value) == (2, 2)
        await r.stop()

    async def test_a_stop_wakes_a_refresher_waiting_for_its_timer(self, clock, timer):
        r = refresher(Fetch(1), clock, timer)
        running = asyncio.create_task(r.run())
        await timer.calls(1)
        await asyncio.wait_for(r.stop(), GUARD_SECONDS)
        await asyncio.wait_for(running, GUARD_SECONDS)  # the timer never fired: stop woke it
        assert timer.cancelled == 1

    async def test_the_default_timer_sleeps(self):
        assert await _sleep(0) is None


class TickingService:
    """Stands in for ActivityService: each tick returns a summary or raises the next error."""

    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.ticks = 0

    async def tick(self) -> TickSummary:
        self.ticks += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class TestSamplerLoop:
    summary = TickSummary(users=1, active=1, idle=0, offline=0, pruned=0)

    def test_it_samples_at_the_policys_interval(self, clock):
        policy = ActivityPolicy(sample_interval_seconds=120)
        loop = sampler_loop(TickingService(), policy, InMemoryEventLog(), clock)
        assert (loop.name, loop.interval) == ("activity sampler", timedelta(seconds=120))
        assert loop.snapshot().value is None

    async def test_a_successful_tick_logs_its_summary_line(self, caplog, clock):
        events = InMemoryEventLog()
        loop = sampler_loop(TickingService(self.summary), ActivityPolicy(), events, clock)
        with caplog.at_level(logging.INFO, logger="stellars.activity_sampler"):
            snapshot = await loop.refresh_now()
        assert snapshot.value == self.summary
        assert self.summary.line in caplog.messages
        assert (loop.passes, loop.failed_passes) == (1, 0)
        assert [(e.outcome, e.at) for e in events.events] == [("ok", T0)]

    async def test_failures_are_logged_and_the_loop_goes_on(self, caplog, clock):
        events = InMemoryEventLog()
        service = TickingService(
            BackendUnavailable("hub API http://hub/users unreachable"),
            RuntimeError("something unexpected"),
            self.summary,
        )
        loop = sampler_loop(service, ActivityPolicy(), events, clock)
        with caplog.at_level(logging.INFO, logger="stellars.activity_sampler"):
            for _ in range(3):
                await loop.refresh_now()
        assert (service.ticks, loop.passes, loop.failed_passes) == (3, 3, 1 + 1)
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert [r.getMessage() for r in errors] == [
            "Tick failed, retrying at the next tick: hub API http://hub/users unreachable",
            "Tick failed unexpectedly, retrying at the next tick",
        ]
        assert errors[0].exc_info is None
        assert errors[1].exc_info is not None
        assert loop.snapshot().value == self.summary
        assert [e.outcome for e in events.events] == ["failed", "failed", "ok"]
