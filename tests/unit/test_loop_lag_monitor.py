"""The hub's event-loop monitor: the lag it keeps, and the stall report that says where the
loop was blocked."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import time

from stellars.adapters.jupyterhub.web.metrics import LoopLagMonitor


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
    with caplog.at_level(logging.WARNING, logger="stellars.adapters.jupyterhub.web.metrics"):
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

    with caplog.at_level(logging.WARNING, logger="stellars.adapters.jupyterhub.web.metrics"):
        asyncio.run(collect())
    assert any("garbage collection of generation 2" in r.message for r in caplog.records)
