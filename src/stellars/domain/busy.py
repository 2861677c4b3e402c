"""Busy servers: a server that is computing counts as active for culling, whatever the hub's
last_activity says (a kernel crunching for hours sends the hub no activity at all).

Readings. Every window (`BusyPolicy.window_seconds`) the hub reads, for each running server,
its container's cumulative CPU counters (`cpu_total_ns`, the container's CPU time since it
started, and `system_cpu_ns`, the host's CPU time over all its CPUs, taken at the same instant)
and, when the server holds GPUs, the highest utilisation among them (nvidia-smi's
utilization.gpu, an instantaneous figure). A store keeps one record per server: the latest
reading, the latest complete window and the end of the latest busy window.

Windows. A window runs from one kept reading to the next reading of the SAME server instance
(same start time) taken at least half a window later (a reading sooner than that is ignored, so
a window is never a few seconds long after a hub restart). Counters that went backwards (the
container restarted in place) close no window: the new reading starts the next one.

"Stayed above over the window" means, exactly:
- CPU: the window's average, from the cumulative counters, is at least `cpu_percent` percent of
  ONE core: 100 * (cpu delta / system delta) * online CPUs (the `docker stats` formula, whose
  elapsed time is the host's own CPU time divided by its CPUs). The counters miss no spike and
  no dip: every nanosecond the container computed between the two readings counts, and a
  server at 100 % of one core for half the window and idle for the other half averages 50 %.
  The threshold is in percent of one core, not of the lab's CPU limit, because a lab may have
  no limit and a core is what a single-threaded kernel uses: a lab limited to 0.5 CPU never
  averages more than 50.
- GPU (only when the server holds one): the utilisation read at BOTH ends of the window is at
  least `gpu_percent`. nvidia-smi gives no cumulative counter, so the two readings are all
  there is; a GPU idle at either end does not count.
- The window is busy when its CPU or its GPU stayed above its threshold: a GPU job feeding its
  device from a mostly idle CPU is computing as much as a CPU-bound one.

Verdict at `now` (`busy_activity`): when the latest window was busy and ended no more than two
windows ago (the readings are still coming), the server counts as active NOW; otherwise the
end of its latest busy window counts as activity (so a long computation that just ended gets a
full idle timeout from its end, not from the last keystroke hours before). The culling rule is
then applied to the server with that activity (`with_activity`): extensions, the ceiling and
max_age work unchanged, and max_age still stops a busy server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import ClassVar

from .errors import InvalidValue
from .hub import ServerSnapshot
from .validation import Bounds, check_bounds


@dataclass(frozen=True, slots=True, kw_only=True)
class BusyPolicy:
    """Whether busy servers are spared, the thresholds and the window they are measured over."""

    LIMITS: ClassVar[Mapping[str, Bounds]] = MappingProxyType(
        {
            "cpu_percent": (1, 100_000),
            "gpu_percent": (1, 100),
            "window_seconds": (10, 86_400),
        }
    )

    enabled: bool = False
    #: Average CPU over a window, in percent of one core, at or above which it is busy.
    cpu_percent: int = 50
    #: GPU utilisation, in percent, at or above which (at both ends of a window) it is busy.
    gpu_percent: int = 50
    #: Seconds between two readings: the window busy-ness is measured over.
    window_seconds: int = 600

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise InvalidValue("enabled", f"must be true or false, got {self.enabled!r}")
        check_bounds(self, self.LIMITS)

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.window_seconds)

    @property
    def shortest_window(self) -> timedelta:
        """A reading sooner than this after the window's start closes no window."""
        return self.window / 2

    @property
    def fresh_for(self) -> timedelta:
        """How long after its end a busy window still makes the server active now."""
        return 2 * self.window

    @property
    def keep_for(self) -> timedelta:
        """How long a record outlives its latest reading (its server stopped, or could not be
        read): a day, or four windows when that is longer."""
        return max(timedelta(days=1), 4 * self.window)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadReading:
    """One reading of a server's load: cumulative CPU counters (nanoseconds) and, when it holds
    GPUs and they were read, the highest utilisation among them."""

    taken_at: datetime
    cpu_total_ns: int
    system_cpu_ns: int
    online_cpus: int
    gpu_percent: int | None = None

    def __post_init__(self) -> None:
        for name in ("cpu_total_ns", "system_cpu_ns"):
            if getattr(self, name) < 0:
                raise InvalidValue(name, f"must be at least 0, got {getattr(self, name)}")
        if self.online_cpus < 1:
            raise InvalidValue("online_cpus", f"must be at least 1, got {self.online_cpus}")
        if self.gpu_percent is not None and not 0 <= self.gpu_percent <= 100:
            raise InvalidValue("gpu_percent", f"must be 0 to 100, got {self.gpu_percent}")


@dataclass(frozen=True, slots=True, kw_only=True)
class BusyWindow:
    """One complete window and its figures."""

    start: datetime
    end: datetime
    #: Average CPU over the window, in percent of one core.
    cpu_percent: float
    #: The lower of the GPU readings at the window's two ends; None unless both were read.
    gpu_percent: int | None
    busy: bool

    @property
    def figures(self) -> str:
        """The window's figures in words, for logs and the session card."""
        minutes = (self.end - self.start).total_seconds() / 60
        text = f"CPU {self.cpu_percent:.1f} % of one core"
        if self.gpu_percent is not None:
            text += f", GPU at least {self.gpu_percent} %"
        return f"{text} over the last {minutes:.1f} min"


@dataclass(frozen=True, slots=True, kw_only=True)
class BusyRecord:
    """What is kept of one server instance: its latest reading (the start of the next window),
    its latest complete window and the end of its latest busy window."""

    username: str
    server_name: str
    started: datetime | None
    reading: LoadReading
    window: BusyWindow | None = None
    busy_until: datetime | None = None

    def applies_to(self, server: ServerSnapshot) -> bool:
        """Whether this record is of that very server instance (not of an earlier run)."""
        return (
            self.username == server.username
            and self.server_name == server.name
            and self.started == server.started
        )


def cpu_percent_between(before: LoadReading, after: LoadReading) -> float | None:
    """Average CPU between two readings in percent of one core; None when a counter did not
    move forward (a restarted container resets its CPU time; no host time elapsed)."""
    cpu_delta = after.cpu_total_ns - before.cpu_total_ns
    system_delta = after.system_cpu_ns - before.system_cpu_ns
    if cpu_delta < 0 or system_delta <= 0:
        return None
    return 100.0 * cpu_delta / system_delta * after.online_cpus


def window_between(
    before: LoadReading, after: LoadReading, policy: BusyPolicy
) -> BusyWindow | None:
    """The window from `before` to `after` with its verdict (module docstring); None when the
    counters went backwards or `after` is not later."""
    if after.taken_at <= before.taken_at:
        return None
    cpu = cpu_percent_between(before, after)
    if cpu is None:
        return None
    gpu = (
        None
        if before.gpu_percent is None or after.gpu_percent is None
        else min(before.gpu_percent, after.gpu_percent)
    )
    busy = cpu >= policy.cpu_percent or (gpu is not None and gpu >= policy.gpu_percent)
    return BusyWindow(
        start=before.taken_at, end=after.taken_at, cpu_percent=cpu, gpu_percent=gpu, busy=busy
    )


def next_record(
    previous: BusyRecord | None,
    *,
    username: str,
    server_name: str,
    started: datetime | None,
    reading: LoadReading,
    policy: BusyPolicy,
) -> BusyRecord:
    """The record after `reading` of a running server.

    A first reading, or one of another instance, starts afresh. A reading sooner than half a
    window after the kept one changes nothing. Otherwise the window closes: counters that went
    backwards close none (the reading starts the next one, the instance's busy end is kept).
    """
    if previous is None or previous.started != started:
        return BusyRecord(
            username=username, server_name=server_name, started=started, reading=reading
        )
    if reading.taken_at - previous.reading.taken_at < policy.shortest_window:
        return previous
    window = window_between(previous.reading, reading, policy)
    busy_until = window.end if window is not None and window.busy else previous.busy_until
    return replace(previous, reading=reading, window=window, busy_until=busy_until)


@dataclass(frozen=True, slots=True, kw_only=True)
class BusyVerdict:
    """What the busy rule says of one server at `now`: the activity it counts (None: none) and
    whether it counts the server as active now (its latest window was busy and is fresh)."""

    active_now: bool
    activity_at: datetime | None
    window: BusyWindow | None

    @property
    def message(self) -> str:
        """The session card's and the culler's words: kept alive now, with the figures; or
        when it last computed; nothing without busy-ness."""
        if self.active_now and self.window is not None:
            return f"kept alive: busy computing ({self.window.figures})"
        if self.activity_at is not None:
            return f"last busy computing until {self.activity_at:%Y-%m-%d %H:%M:%S} UTC"
        return ""


NOT_BUSY = BusyVerdict(active_now=False, activity_at=None, window=None)


def busy_activity(
    record: BusyRecord | None, server: ServerSnapshot, *, now: datetime, policy: BusyPolicy
) -> BusyVerdict:
    """The activity busy-ness gives `server` at `now` (module docstring): now while its latest
    window was busy and ended within `fresh_for`; else the end of its latest busy window; none
    when the rule is off or the record is of another instance."""
    if not policy.enabled or record is None or not record.applies_to(server):
        return NOT_BUSY
    window = record.window
    if window is not None and window.busy and now - window.end <= policy.fresh_for:
        return BusyVerdict(active_now=True, activity_at=now, window=window)
    return BusyVerdict(active_now=False, activity_at=record.busy_until, window=window)


def with_activity(server: ServerSnapshot, activity_at: datetime | None) -> ServerSnapshot:
    """`server` as the culling rule sees it when busy-ness adds activity at `activity_at`: its
    last activity is the later of the two (unchanged without one)."""
    if activity_at is None:
        return server
    last = server.last_activity
    if last is not None and last >= activity_at:
        return server
    return replace(server, last_activity=activity_at)
