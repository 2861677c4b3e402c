"""The hub's event-loop monitor: the lag it keeps, and the stall report that says where the
loop was blocked."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import sys
import threading
import time

import pytest

from stellars.adapters.jupyterhub.hub_process.loop_watch import (
    LoopLagMonitor,
    ThreadTimes,
    where_the_time_went,
)

LOGGER = "stellars.adapters.jupyterhub.hub_process.loop_watch"


def block_the_loop_for(seconds: float) -> None:
    """Code that holds the loop's thread the way a synchronous call on the loop would."""
    time.sleep(seconds)


async def run_with(monitor: LoopLagMonitor, blocking_seconds: float) -> None:
    monitor.start()
    try:
        await asyncio.sleep(0.15)  # a few beats on an idle loop
        block_the_loop_for(blocking_seconds)
        await asyncio.sleep(0.15)  # the monitor wakes and records the lag
    finally:
        await monitor.stop()


def test_the_worst_lag_covers_a_blocking_call():
    monitor = LoopLagMonitor(interval=0.01)
    asyncio.run(run_with(monitor, 0.3))
    assert 0.25 <= monitor.worst < 5


def test_a_stall_is_reported_once_with_the_stack_that_blocks(caplog):
    monitor = LoopLagMonitor(interval=0.01, report_after=0.1)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        asyncio.run(run_with(monitor, 0.5))
    reports = [
        record for record in caplog.records if "event loop has been blocked" in record.message
    ]
    assert len(reports) == 1 and monitor.reported == 1
    assert "block_the_loop_for" in reports[0].message
    assert "time.sleep(seconds)" in reports[0].message
    # Once the loop wakes, how late it ran: the whole stall, not the part before the report.
    lengths = [
        int(match.group(1))
        for record in caplog.records
        if (match := re.search(r"the event loop ran (\d+) ms late", record.message))
    ]
    assert len(lengths) == 1 and 450 <= lengths[0] < 5000


def test_short_lags_and_a_monitor_without_threshold_report_nothing(caplog):
    quiet = LoopLagMonitor(interval=0.01, report_after=2.0)
    silent = LoopLagMonitor(interval=0.01)
    with caplog.at_level(logging.WARNING):
        asyncio.run(run_with(quiet, 0.2))
        asyncio.run(run_with(silent, 0.3))
    assert quiet.reported == silent.reported == 0
    assert not [record for record in caplog.records if "event loop" in record.message]


def test_stop_ends_the_watchdog_thread():
    monitor = LoopLagMonitor(interval=0.01, report_after=0.1)
    asyncio.run(run_with(monitor, 0.0))
    assert monitor._watchdog is None


def test_a_long_garbage_collection_is_reported(caplog):
    monitor = LoopLagMonitor(interval=0.01, report_after=0.0005)

    async def collect() -> None:
        monitor.start()
        try:
            garbage = [[index] for index in range(200_000)]  # enough to take a while
            del garbage
            gc.collect()
        finally:
            await monitor.stop()

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        asyncio.run(collect())
    assert any("garbage collection of generation 2" in r.message for r in caplog.records)


def busy_for(seconds: float) -> None:
    """Code that holds the loop's thread with work of its own (on a CPU)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


SPLIT = re.compile(
    r"the event loop ran \d+ ms late \(of its thread's (\d+) ms: (\d+) ms on a CPU, "
    r"(\d+) ms waiting for a CPU, (\d+) ms off the CPU"
)


async def stall_with(monitor: LoopLagMonitor, block: object, seconds: float) -> None:
    monitor.start()
    try:
        await asyncio.sleep(0.05)
        block(seconds)  # type: ignore[operator]
        await asyncio.sleep(0.05)
    finally:
        await monitor.stop()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="schedstat is Linux's")
def test_a_stall_report_tells_the_loops_own_work_from_waiting(caplog):
    splits = {}
    for name, block in (("working", busy_for), ("sleeping", block_the_loop_for)):
        caplog.clear()
        monitor = LoopLagMonitor(interval=0.01, report_after=0.1)
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            asyncio.run(stall_with(monitor, block, 0.4))
        found = [m for r in caplog.records if (m := SPLIT.search(r.message))]
        assert len(found) == 1, [r.message for r in caplog.records]
        wall, on_cpu, waiting, off_cpu = (int(value) for value in found[0].groups())
        assert abs(wall - (on_cpu + waiting + off_cpu)) <= 2  # the parts add up (rounding)
        splits[name] = (on_cpu + waiting, off_cpu)
    # Spinning is the thread's own work: on a CPU, or runnable and waiting for one.
    assert splits["working"][0] >= 300 and splits["working"][1] < 100
    # Sleeping is off the CPU, as I/O or a lock would be.
    assert splits["sleeping"][1] >= 350 and splits["sleeping"][0] < 50


def test_without_the_schedulers_figures_the_report_has_no_split():
    assert where_the_time_went(None, (1.0, 0.0), 0.2) == ""
    assert "50 ms on a CPU, 30 ms waiting for a CPU, 20 ms off the CPU" in (
        where_the_time_went((1.0, 2.0), (1.05, 2.03), 0.1)
    )


def test_thread_times_answer_none_where_the_kernel_has_no_figures(tmp_path):
    times = ThreadTimes(threading.get_native_id())
    times._path = str(tmp_path / "no-such-schedstat")
    assert times.read() is None
    assert times._path is None  # not asked again
