"""Turns: the requests of a burst start one at a time, each once the event loop has caught up
with what the last one started, with whatever else is waiting run between them."""

from __future__ import annotations

import asyncio
import itertools

from stellars.adapters.jupyterhub.web.turns import Turns


async def burst(turns: Turns | None, size: int = 4) -> list[str]:
    """`size` requests arriving together beside a task that notes every pass of the loop."""
    events: list[str] = []
    running = True

    async def other_work() -> None:
        while running:
            events.append("pass")
            await asyncio.sleep(0)

    async def request(name: str) -> None:
        if turns is not None:
            await turns.take()
        events.append(name)

    watcher = asyncio.ensure_future(other_work())
    await asyncio.sleep(0)
    await asyncio.gather(*(request(f"request {index}") for index in range(size)))
    running = False
    await watcher
    return events


def starts(events: list[str]) -> list[str]:
    return [event for event in events if event.startswith("request")]


def test_a_burst_starts_in_order_with_other_work_between_each_request():
    events = asyncio.run(burst(Turns()))
    assert starts(events) == [f"request {index}" for index in range(4)]
    positions = [events.index(name) for name in starts(events)]
    for before, after in itertools.pairwise(positions):
        assert "pass" in events[before + 1 : after]


def test_without_turns_the_whole_burst_starts_in_one_pass():
    events = asyncio.run(burst(None))
    positions = [events.index(name) for name in starts(events)]
    assert positions == list(range(positions[0], positions[0] + 4))


def test_a_cancelled_waiter_gives_up_its_turn_and_the_next_one_goes():
    async def scenario() -> list[str]:
        turns = Turns()
        admitted: list[str] = []

        async def request(name: str) -> None:
            await turns.take()
            admitted.append(name)

        first = asyncio.ensure_future(request("first"))
        gone = asyncio.ensure_future(request("gone"))
        last = asyncio.ensure_future(request("last"))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.gather(first, last)
        assert turns.waiting == 0
        return admitted

    assert asyncio.run(scenario()) == ["first", "last"]


def test_turns_are_taken_again_after_the_queue_has_emptied():
    async def scenario() -> int:
        turns = Turns()
        for _ in range(3):
            await asyncio.wait_for(turns.take(), timeout=5)
        return turns.waiting

    assert asyncio.run(scenario()) == 0


class PassCountingLoop(asyncio.SelectorEventLoop):
    """An event loop that counts its passes (CPython runs one `_run_once` per pass), so a test
    can say which pass each step ran in."""

    passes = 0

    def _run_once(self) -> None:
        self.passes += 1
        super()._run_once()


def test_what_a_request_hands_to_a_task_runs_in_a_pass_without_the_next_request():
    """JupyterHub's spawn handler starts the spawn in a task of its own; that task's first step
    must not share a pass with the next request's start."""
    loop = PassCountingLoop()
    steps: list[tuple[str, int]] = []

    async def follow_up(name: str) -> None:
        steps.append((f"follow-up of {name}", loop.passes))

    async def request(turns: Turns, name: str) -> None:
        await turns.take()
        steps.append((name, loop.passes))
        loop.create_task(follow_up(name))
        await asyncio.sleep(0.01)

    async def scenario() -> None:
        turns = Turns()
        await asyncio.gather(*(request(turns, f"request {index}") for index in range(5)))

    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert [name for name, _ in steps if name.startswith("request")] == [
        f"request {index}" for index in range(5)
    ]
    passes = [at for _, at in steps]
    assert len(set(passes)) == len(passes), steps  # every step in a pass of its own


class ClockedLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock moves only when a test's work says it took time, so a test can
    say how long each pass ran (the tests below use no timers)."""

    now = 0.0

    def time(self) -> float:
        return self.now


def admissions_beside_busy_work(
    busy_passes: int, pass_seconds: float, *, first_is_a_change: bool = True
) -> list[tuple[str, float]]:
    """Two requests arrive together beside work that runs `busy_passes` passes of
    `pass_seconds` each; returns each request's start and the work's end, with the loop's time."""
    loop = ClockedLoop()
    events: list[tuple[str, float]] = []

    async def busy() -> None:
        for _ in range(busy_passes):
            loop.now += pass_seconds
            await asyncio.sleep(0)
        events.append(("work done", loop.now))

    async def request(turns: Turns, name: str, change: bool) -> None:
        await turns.take(change=change)
        events.append((name, loop.now))

    async def scenario() -> None:
        turns = Turns(caught_up=0.005, longest_hold=0.1)
        work = loop.create_task(busy())
        await asyncio.gather(
            request(turns, "first", first_is_a_change), request(turns, "second", True)
        )
        await work

    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()
    return events


def test_the_next_request_waits_until_a_pass_of_the_loop_runs_nothing_heavy():
    events = admissions_beside_busy_work(busy_passes=3, pass_seconds=0.02)
    names = [name for name, _ in events]
    assert names == ["first", "work done", "second"], events


def test_light_passes_do_not_hold_the_next_request_back():
    events = admissions_beside_busy_work(busy_passes=50, pass_seconds=0.001)
    names = [name for name, _ in events]
    assert names == ["first", "second", "work done"], events
    assert dict(events)["second"] < 0.01


def test_a_loop_that_stays_busy_still_lets_the_next_request_through_after_the_longest_hold():
    events = admissions_beside_busy_work(busy_passes=50, pass_seconds=0.02)
    times = dict(events)
    assert [name for name, _ in events] == ["first", "second", "work done"], events
    assert 0.1 <= times["second"] - times["first"] <= 0.1 + 0.02


def test_after_a_read_the_next_request_starts_two_passes_on_however_busy_the_loop():
    events = admissions_beside_busy_work(busy_passes=5, pass_seconds=0.02, first_is_a_change=False)
    assert [name for name, _ in events] == ["first", "second", "work done"], events
    assert dict(events)["second"] - dict(events)["first"] <= 3 * 0.02
