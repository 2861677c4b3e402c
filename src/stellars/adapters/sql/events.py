"""EventLog on SQL: platform events in `stellars_events`, one row each.

Ids come from the table's key (AUTOINCREMENT on SQLite, a sequence on PostgreSQL), so they are
never reused. Recording takes the table's writer lock (SQLite: the database's; PostgreSQL: an
EXCLUSIVE lock, which readers pass) so that ids become visible in the order they were given:
a reader resuming after the last id it saw can never skip one still being committed.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from stellars.domain.errors import InvalidValue
from stellars.domain.events import PlatformEvent

from .database import SqlDatabase
from .rows import aware, naive_utc
from .schema import stellars_events as table

_WRITE_LOCK = ("stellars_events",)

# Event rows are read by position, in this order.
_COLUMNS = (table.c.kind, table.c.at, table.c.outcome, table.c.seconds, table.c.id)


class SqlEventLog:
    """The EventLog port on a `SqlDatabase`; each method is one short transaction run on the
    database's threads. Raises BackendUnavailable when the database cannot be reached."""

    def __init__(self, database: SqlDatabase) -> None:
        self.database = database

    async def record(self, event: PlatformEvent) -> PlatformEvent:
        """Store the event; returns it with the id it was given."""
        values = {
            "at": naive_utc(event.at, "at"),
            "kind": event.kind,
            "outcome": event.outcome,
            "seconds": event.seconds,
        }

        def work(connection: Connection) -> int:
            key = connection.execute(insert(table).values(values)).inserted_primary_key
            assert key is not None  # a single-row INSERT always has one
            return int(key[0])

        event_id = await self.database.transaction(work, write=True, lock_tables=_WRITE_LOCK)
        return dataclasses.replace(event, id=event_id)

    async def since(self, after_id: int, *, limit: int = 1000) -> list[PlatformEvent]:
        """At most `limit` events with id > after_id, ids ascending."""
        if limit < 1:
            raise InvalidValue("limit", f"must be at least 1, got {limit}")
        query = select(*_COLUMNS).where(table.c.id > after_id).order_by(table.c.id).limit(limit)

        def work(connection: Connection) -> list[PlatformEvent]:
            return [
                PlatformEvent(kind, aware(at), outcome, seconds, event_id)
                for kind, at, outcome, seconds, event_id in connection.execute(query)
            ]

        return await self.database.transaction(work, write=False)

    async def prune(self, *, older_than: datetime) -> int:
        """Delete events with at <= older_than; returns how many."""
        cutoff = naive_utc(older_than, "older_than")

        def work(connection: Connection) -> int:
            return int(connection.execute(delete(table).where(table.c.at <= cutoff)).rowcount)

        return await self.database.transaction(work, write=True, lock_tables=_WRITE_LOCK)
