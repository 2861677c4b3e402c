"""What the hub's metrics report, kept fresh in the background so a scrape only reads memory:
the users per activity level, and the totals of the events other processes record (sampler
ticks, culls) in the event log."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from stellars.domain.activity import ActivityLevel, activity_level
from stellars.domain.events import PlatformEvent
from stellars.ports.event_log import EventLog
from stellars.ports.hub_directory import HubDirectory

from .activity import ActivityService


@dataclass(frozen=True, slots=True)
class EventTotals:
    """How many events of each (kind, outcome) were seen, and their summed durations by kind,
    up to the event `last_id`."""

    last_id: int = 0
    counts: Mapping[tuple[str, str], int] = field(default_factory=lambda: MappingProxyType({}))
    seconds: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def count(self, kind: str) -> int:
        return sum(n for (k, _), n in self.counts.items() if k == kind)

    def add(self, events: Iterable[PlatformEvent]) -> EventTotals:
        """These totals with `events` (those at or before `last_id` are already counted)."""
        counts = Counter(self.counts)
        seconds = dict(self.seconds)
        last_id = self.last_id
        for event in events:
            if event.id <= last_id:
                continue
            counts[(event.kind, event.outcome)] += 1
            seconds[event.kind] = seconds.get(event.kind, 0.0) + event.seconds
            last_id = event.id
        return EventTotals(last_id, MappingProxyType(dict(counts)), MappingProxyType(seconds))


class EventCounter:
    """Folds the event log into EventTotals, reading only the events not yet counted."""

    def __init__(self, log: EventLog, *, batch: int = 1000) -> None:
        self._log = log
        self._batch = batch
        self.totals = EventTotals()

    async def refresh(self) -> EventTotals:
        while True:
            events = await self._log.since(self.totals.last_id, limit=self._batch)
            self.totals = self.totals.add(events)
            if len(events) < self._batch:
                return self.totals


async def users_by_level(
    directory: HubDirectory, activity: ActivityService
) -> Mapping[ActivityLevel, int]:
    """Every hub user's activity level (users without samples count as none)."""
    scores = await activity.scores()
    levels = Counter(
        activity_level(scores[user.name].value if user.name in scores else None)
        for user in await directory.list_users()
    )
    return MappingProxyType(dict(levels))
