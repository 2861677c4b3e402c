from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from stellars.domain.busy import BusyRecord
from stellars.domain.timeutil import require_aware


class InMemoryBusyStore:
    """Busy records in a dict keyed by (username, server name)."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], BusyRecord] = {}

    async def get(self, username: str, server_name: str = "") -> BusyRecord | None:
        return self.records.get((username, server_name))

    async def all(self) -> list[BusyRecord]:
        return [self.records[key] for key in sorted(self.records)]

    async def put(self, records: Sequence[BusyRecord]) -> None:
        for record in records:  # a naive time is refused, as the SQL columns refuse it
            require_aware(record.reading.taken_at, "taken_at")
        for record in records:
            self.records[(record.username, record.server_name)] = record

    async def prune(self, *, older_than: datetime) -> int:
        doomed = [key for key, kept in self.records.items() if kept.reading.taken_at <= older_than]
        for key in doomed:
            del self.records[key]
        return len(doomed)
