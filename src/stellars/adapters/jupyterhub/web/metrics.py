"""The platform's Prometheus metrics, on the hub's own `/hub/metrics` (JupyterHub's registry, and
its `read:metrics` scope).

Counters of what happens in the hub process (session extensions) are incremented where it
happens. Everything else is read at scrape time from memory: the refreshers' snapshots (their
age and failures), the activity levels and the event totals that the platform keeps fresh in the
background (ticks of the sampler and culls of the idle culler happen in their own processes and
reach the hub through the event log), and the event loop's worst lag. A scrape never waits on
a database or on Docker.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily

from stellars.domain.activity import ActivityLevel

if TYPE_CHECKING:
    from stellars.platform import Platform

EXTENSIONS = Counter(
    "stellars_session_extensions",
    "Session extension requests, by outcome (granted, refused, invalid)",
    ["outcome"],
)
EXTENSION_HOURS = Counter("stellars_session_extension_hours", "Hours granted by session extensions")
BROADCASTS = Counter("stellars_broadcasts", "Notifications broadcast by admins")
BROADCAST_DELIVERIES = Counter(
    "stellars_broadcast_deliveries",
    "Deliveries of broadcast notifications to servers, by outcome (delivered, failed)",
    ["outcome"],
)


log = logging.getLogger(__name__)

#: Frames of the blocked loop's stack a stall report shows (innermost last).
STALL_STACK_FRAMES = 25


class ThreadTimes:
    """Where one thread's time went, from Linux's scheduler accounting
    (`/proc/self/task/TID/schedstat`): on a CPU, and runnable but waiting for one. The rest of
    a stretch of wall time the thread was off the CPU by its own doing: sleeping, or blocked on
    I/O or a lock (the GIL included). Elsewhere, `read` answers None."""

    def __init__(self, native_id: int) -> None:
        self._path: str | None = f"/proc/self/task/{native_id}/schedstat"

    def read(self) -> tuple[float, float] | None:
        """(seconds on a CPU, seconds waiting for a CPU) since the thread started."""
        if self._path is None:
            return None
        try:
            with open(self._path, encoding="ascii") as stat:
                on_cpu, waiting = stat.read().split()[:2]
            return int(on_cpu) / 1e9, int(waiting) / 1e9
        except (OSError, ValueError):
            self._path = None  # not Linux, or no scheduler accounting: stop asking
            return None


def where_the_time_went(
    before: tuple[float, float] | None, after: tuple[float, float] | None, wall: float
) -> str:
    """How a stretch of `wall` seconds of the loop's thread split (see ThreadTimes), for the
    stall log: its own work, the machine's load, or waits of its own."""
    if before is None or after is None:
        return ""
    on_cpu = max(0.0, after[0] - before[0])
    waiting = max(0.0, after[1] - before[1])
    off_cpu = max(0.0, wall - on_cpu - waiting)
    return (
        f" (of its thread's {wall * 1000:.0f} ms: {on_cpu * 1000:.0f} ms on a CPU, "
        f"{waiting * 1000:.0f} ms waiting for a CPU, {off_cpu * 1000:.0f} ms off the CPU: "
        "the sleep, I/O or a lock such as the GIL)"
    )


class LoopLagMonitor:
    """Measures how late the event loop wakes a task that sleeps `interval` seconds, and keeps
    the worst lag of the last `window` seconds.

    With `report_after` set, a watchdog thread also notices a loop that has not woken for that
    long and logs, once per stall, the stack the loop's thread is blocked in: the lag metric
    says that the loop stalled, the report says where. A garbage collection that long is
    reported too, since it stops every thread and its stack shows whatever code it interrupted.
    Once the loop wakes, the report of how late it ran says where its thread's time went
    (`ThreadTimes`): its own work, waiting for a CPU (the machine's load), or off the CPU.
    """

    def __init__(
        self,
        *,
        interval: float = 0.05,
        window: float = 60.0,
        report_after: float | None = None,
    ) -> None:
        self.interval = interval
        self.window = window
        self.report_after = report_after
        self.reported = 0
        self._lags: deque[tuple[float, float]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._beat = time.monotonic()
        self._watchdog: threading.Thread | None = None
        self._stopped = threading.Event()
        self._collection_started: float | None = None
        self._loop_thread_times: ThreadTimes | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._beat = time.monotonic()
            self._loop_thread_times = ThreadTimes(threading.get_native_id())
            self._task = asyncio.get_running_loop().create_task(self._run())
        if self.report_after and self._watchdog is None:
            self._stopped.clear()
            self._watchdog = threading.Thread(
                target=self._watch,
                args=(threading.get_ident(),),
                name="stellars-loop-watchdog",
                daemon=True,
            )
            self._watchdog.start()
            gc.callbacks.append(self._on_collection)

    async def stop(self) -> None:
        self._stopped.set()
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._on_collection)
        if self._watchdog is not None:
            self._watchdog.join()
            self._watchdog = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        times = self._loop_thread_times if self.report_after else None
        while True:
            before = time.monotonic()
            self._beat = before
            thread_before = times.read() if times else None
            await asyncio.sleep(self.interval)
            now = time.monotonic()
            self._beat = now
            lag = max(0.0, now - before - self.interval)
            self._lags.append((now, lag))
            if self.report_after and lag >= self.report_after:
                # The watchdog said where the loop was blocked; this says how long it was, and
                # whether the thread was working, waiting for a CPU, or waiting on something.
                split = where_the_time_went(
                    thread_before, times.read() if times else None, now - before
                )
                log.warning("stellars: the event loop ran %.0f ms late%s", lag * 1000, split)
            while self._lags and self._lags[0][0] < now - self.window:
                self._lags.popleft()

    def _on_collection(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._collection_started = time.perf_counter()
            return
        if self._collection_started is None or self.report_after is None:
            return
        took = time.perf_counter() - self._collection_started
        self._collection_started = None
        if took >= self.report_after:
            self.reported += 1
            log.warning(
                "stellars: a garbage collection of generation %d held every thread for %.0f ms "
                "(%d objects collected)",
                info.get("generation", -1),
                took * 1000,
                info.get("collected", 0),
            )

    def _watch(self, loop_thread: int) -> None:
        assert self.report_after is not None
        reported_beat: float | None = None
        # Look several times per threshold, so a stall just over it is not missed between looks.
        period = min(self.interval, self.report_after / 5)
        while not self._stopped.wait(period):
            beat = self._beat
            late = time.monotonic() - beat - self.interval
            if late < self.report_after or beat == reported_beat:
                continue
            reported_beat = beat
            frame = sys._current_frames().get(loop_thread)
            if frame is None:  # the loop's thread has ended
                return
            stack = "".join(traceback.format_stack(frame, limit=STALL_STACK_FRAMES))
            self.reported += 1
            log.warning(
                "stellars: the event loop has been blocked for %.0f ms, in:\n%s",
                late * 1000,
                stack.rstrip(),
            )

    @property
    def worst(self) -> float:
        return max((lag for _, lag in self._lags), default=0.0)


class PlatformCollector:
    """A Prometheus collector over one platform's in-memory state."""

    def __init__(self, platform: Platform, loop_lag: LoopLagMonitor) -> None:
        self._platform = platform
        self._loop_lag = loop_lag

    def describe(self) -> list[Any]:
        return []  # collected on demand: the metric names are fixed, their labels are not

    def collect(self) -> Iterator[Any]:
        platform = self._platform
        now = platform.clock.now()
        ages = GaugeMetricFamily(
            "stellars_refresher_age_seconds",
            "Age of each background refresher's last complete snapshot",
            labels=["refresher"],
        )
        failures = CounterMetricFamily(
            "stellars_refresher_failures",
            "Failed passes of each background refresher",
            labels=["refresher"],
        )
        for refresher in platform.background:
            snapshot = refresher.snapshot()
            age = snapshot.age(now)
            if age is not None:
                ages.add_metric([refresher.name], age.total_seconds())
            failures.add_metric([refresher.name], refresher.failed_passes)
        yield ages
        yield failures
        levels = GaugeMetricFamily(
            "stellars_users_by_activity_level",
            "Hub users per activity level (scores refreshed in the background)",
            labels=["level"],
        )
        counts = platform.activity_levels.snapshot().value
        for level in ActivityLevel:
            levels.add_metric([level.value], counts.get(level, 0))
        yield levels
        totals = platform.event_totals.snapshot().value
        ticks = CounterMetricFamily(
            "stellars_sampler_ticks", "Activity sampler ticks, by outcome", labels=["outcome"]
        )
        culls = CounterMetricFamily(
            "stellars_culls", "Servers stopped by the idle culler, by reason", labels=["reason"]
        )
        for (kind, outcome), count in sorted(totals.counts.items()):
            if kind == "sampler-tick":
                ticks.add_metric([outcome], count)
            elif kind == "cull":
                culls.add_metric([outcome], count)
        yield ticks
        yield culls
        warnings = CounterMetricFamily(
            "stellars_cull_warnings",
            "Warnings sent to labs before their server is stopped, by outcome",
            labels=["outcome"],
        )
        warnings.add_metric(["delivered"], platform.warner.sent)
        warnings.add_metric(["failed"], platform.warner.failed)
        yield warnings
        yield SummaryMetricFamily(
            "stellars_sampler_tick_seconds",
            "Duration of the activity sampler's ticks",
            count_value=totals.count("sampler-tick"),
            sum_value=totals.seconds.get("sampler-tick", 0.0),
        )
        yield GaugeMetricFamily(
            "stellars_event_loop_lag_max_seconds",
            "Worst lateness of the hub's event loop in the last minute",
            value=self._loop_lag.worst,
        )


def register(platform: Platform) -> LoopLagMonitor:
    """Add the platform's metrics to JupyterHub's registry (once per process) and start the
    event-loop monitor; returns the monitor."""
    report_ms = platform.settings.hub_process.loop_stall_report_ms
    loop_lag = LoopLagMonitor(report_after=report_ms / 1000 if report_ms else None)
    with contextlib.suppress(ValueError):  # a second hub in this process: keep the first one's
        REGISTRY.register(PlatformCollector(platform, loop_lag))
    loop_lag.start()
    return loop_lag
