"""The platform's Prometheus metrics, on the hub's own `/hub/metrics` (JupyterHub's registry, and
its `read:metrics` scope).

Counters of what happens in the hub process (session extensions) are incremented where it
happens. Everything else is read at scrape time from memory: the refreshers' snapshots (their
age and failures), the activity levels, the event totals and the free disk of the engine's data
directory that the platform keeps fresh in the background (ticks of the sampler and culls of
the idle culler happen in their own processes and reach the hub through the event log), and
the event loop's worst lag, and the audit feed's counts. A scrape never waits on a database or
on Docker.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily

from stellars.domain.activity import ActivityLevel
from stellars.domain.audit import AuditAction, AuditOutcome
from stellars.domain.disk import DiskMeasurement

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


class PlatformCollector:
    """A Prometheus collector over one platform's in-memory state."""

    def __init__(self, platform: Platform, worst_loop_lag: Callable[[], float]) -> None:
        self._platform = platform
        self._worst_loop_lag = worst_loop_lag

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
        yield from audit_metrics(platform)
        yield from host_disk_gauges(platform.host_disk.snapshot().value)
        yield GaugeMetricFamily(
            "stellars_event_loop_lag_max_seconds",
            "Worst lateness of the hub's event loop in the last minute",
            value=self._worst_loop_lag(),
        )


def audit_metrics(platform: Platform) -> Iterator[Any]:
    """The audit feed: its stored entries by action and outcome (counted in the background;
    every action and outcome has a sample, 0 when none is stored), and the entries recorded
    and lost (not stored: the store failed) by this hub since it started."""
    stored = GaugeMetricFamily(
        "stellars_audit_entries",
        "Entries of the audit feed stored now, by action and outcome",
        labels=["action", "outcome"],
    )
    counts = platform.audit_counts.snapshot().value
    for action in AuditAction:
        for outcome in AuditOutcome:
            stored.add_metric([action.value, outcome.value], counts.get((action, outcome), 0))
    yield stored
    records = CounterMetricFamily(
        "stellars_audit_records",
        "Entries this hub handed the audit feed, by outcome (stored, failed)",
        labels=["outcome"],
    )
    records.add_metric(["stored"], platform.audit.recorded)
    records.add_metric(["failed"], platform.audit.failed)
    yield records


def host_disk_gauges(measurement: DiskMeasurement) -> Iterator[Any]:
    """The free and total bytes of the engine's data directory as last measured, labelled
    with its path; no sample while the disk is unknown (a gauge of 0 would read as full)."""
    free = GaugeMetricFamily(
        "stellars_host_disk_free_bytes",
        "Bytes free for ordinary writers on the filesystem of the engine's data directory",
        labels=["path"],
    )
    total = GaugeMetricFamily(
        "stellars_host_disk_total_bytes",
        "Size of the filesystem of the engine's data directory",
        labels=["path"],
    )
    space = measurement.space
    if space is not None:
        free.add_metric([measurement.path], space.free_bytes)
        total.add_metric([measurement.path], space.total_bytes)
    yield free
    yield total


def register(platform: Platform, worst_loop_lag: Callable[[], float]) -> None:
    """Add the platform's metrics to JupyterHub's registry, once per process (a second hub in
    the same process, as in tests, keeps the first one's collector)."""
    with contextlib.suppress(ValueError):
        REGISTRY.register(PlatformCollector(platform, worst_loop_lag))
