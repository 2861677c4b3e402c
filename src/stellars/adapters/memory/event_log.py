from __future__ import annotations

import dataclasses
from datetime import datetime

from stellars.domain.errors import InvalidValue
from stellars.domain.events import PlatformEvent


class InMemoryEventLog:
    """Events in a list, ids from a counter that a prune never winds back."""

    def __init__(self) -> None:
        self.events: list[PlatformEvent] = []
        self.last_id = 0

    async def record(self, event: PlatformEvent) -> PlatformEvent:
        self.last_id += 1
        recorded = dataclasses.replace(event, id=self.last_id)
        self.events.append(recorded)
        return recorded

    async def since(self, after_id: int, *, limit: int = 1000) -> list[PlatformEvent]:
        if limit < 1:
            raise InvalidValue("limit", f"must be at least 1, got {limit}")
        return [event for event in self.events if event.id > after_id][:limit]

    async def prune(self, *, older_than: datetime) -> int:
        keep = [event for event in self.events if event.at > older_than]
        removed = len(self.events) - len(keep)
        self.events = keep
        return removed
