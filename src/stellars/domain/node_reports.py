"""What each swarm node's sampler reports about its own engine (swarm mode), and the rules the
hub reads those reports by.

In swarm mode each node's engine answers only for the containers and volumes on that node, so a
sampler runs on every node (a global service), reads its own engine, and writes one report per
sampling slot to the shared database. The hub builds the dashboard's stats and volume sizes
from the newest report of each node, and says how old each node's report is.

Rules:

- **slots**: time is cut into slots of the sampling interval, counted from the Unix epoch in
  UTC (`report_slot`). A node reports at most once per slot: a second report for a slot that
  node already reported is not stored (a restarted sampler, or two samplers on one node, never
  duplicate a sample), and a sampler that starts takes a report at once for the current slot
  (a restart loses none unless it lasts longer than a whole slot). After that first report a
  sampler reports at the middle of each slot (`next_report_at`): a tick early or late by up to
  half an interval still lands in its own slot, so the ticks neither skip nor repeat a slot.
- **age**: a report's age is the time since it was taken; a node whose newest report is older
  than `STALE_AFTER_SLOTS` slots is stale (its sampler is down, or the node is), and the hub
  shows its labs' figures as of that report, saying how old they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .containers import ContainerReading, ContainerUsage
from .volumes import VolumeInfo

#: A node whose newest report is older than this many sampling intervals is stale.
STALE_AFTER_SLOTS = 3

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class LabReport:
    """One lab as its node's engine saw it: the lab's name (its service's name, which is the
    server's container name in the hub's naming), its usage over the engine's last interval,
    and its raw counters (for the busy rule), when the engine gave them."""

    name: str
    usage: ContainerUsage
    reading: ContainerReading | None = None


@dataclass(frozen=True, slots=True)
class NodeReport:
    """One node's report for one sampling slot: its labs and the platform's volumes on it."""

    node: str
    slot: datetime
    taken_at: datetime
    labs: tuple[LabReport, ...] = ()
    volumes: tuple[VolumeInfo, ...] = ()


def report_slot(taken_at: datetime, interval: timedelta) -> datetime:
    """The start of the slot `taken_at` falls in: slots of `interval` counted from the epoch
    (UTC). `taken_at` must be timezone-aware and `interval` positive."""
    if interval <= timedelta(0):
        raise ValueError("the sampling interval must be positive")
    if taken_at.tzinfo is None:
        raise ValueError("a report's time must be timezone-aware")
    slots = (taken_at - _EPOCH) // interval
    return _EPOCH + slots * interval


def next_report_at(now: datetime, interval: timedelta) -> datetime:
    """When a sampler that has reported for the slot `now` falls in reports next: the middle of
    the following slot."""
    return report_slot(now, interval) + interval + interval / 2


def report_age(report: NodeReport, now: datetime) -> timedelta:
    """How long ago the report was taken (never negative: a node's clock ahead of the hub's
    counts as just now)."""
    return max(now - report.taken_at, timedelta(0))


def is_stale(report: NodeReport, now: datetime, interval: timedelta) -> bool:
    """True when the report is older than `STALE_AFTER_SLOTS` sampling intervals."""
    return report_age(report, now) > STALE_AFTER_SLOTS * interval
