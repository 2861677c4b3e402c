"""AuditLog on SQL: the audit feed in `audit_entries`, one row per entry.

Ids come from the table's key (AUTOINCREMENT on SQLite, a sequence on PostgreSQL), so they are
never reused. A page is read newest first by (at, id): the filters by actor, target and action
each have an index ending in (at, id), and the time filters and the cursor have (at, id) itself,
so the page is a backwards range read of one index, whatever the table's size and whichever
filters combine. A user filter (actor or target) reads the two indexes apart, each at most one
page and one more, and merges them: an OR on two columns would make the database scan one
index whole or sort.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, delete, func, insert, select, tuple_, union

from stellars.domain.audit import (
    AuditAction,
    AuditEntry,
    AuditOutcome,
    AuditPage,
    AuditQuery,
    details_of,
    page_of,
    serialise_details,
)

from .database import SqlDatabase
from .rows import aware, naive_utc
from .schema import audit_entries as table

# Entry rows are read by position, in this order.
_COLUMNS = (
    table.c.id,
    table.c.at,
    table.c.actor,
    table.c.action,
    table.c.target,
    table.c.subject,
    table.c.address,
    table.c.outcome,
    table.c.detail,
    table.c.details,
)


def _entry_of(row: Any) -> AuditEntry:
    entry_id, at, actor, action, target, subject, address, outcome, detail, details = row
    return AuditEntry(
        id=entry_id,
        at=aware(at),
        actor=actor,
        action=AuditAction(action),
        target=target,
        subject=subject,
        address=address,
        outcome=AuditOutcome(outcome),
        detail=detail,
        details=details_of(details),
    )


def _filtered(statement: Select[Any], query: AuditQuery) -> Select[Any]:
    """`statement` narrowed by every filter of `query` but the user."""
    if query.action is not None:
        statement = statement.where(table.c.action == query.action.value)
    if query.since is not None:
        statement = statement.where(table.c.at >= naive_utc(query.since, "since"))
    if query.until is not None:
        statement = statement.where(table.c.at < naive_utc(query.until, "until"))
    if query.before is not None:
        cursor = (naive_utc(query.before.at, "before"), query.before.id)
        statement = statement.where(tuple_(table.c.at, table.c.id) < tuple_(*cursor))
    return statement


def _newest_first(statement: Select[Any]) -> Select[Any]:
    return statement.order_by(table.c.at.desc(), table.c.id.desc())


class SqlAuditLog:
    """The AuditLog port on a `SqlDatabase`; each method is one short transaction run on the
    database's threads. Raises BackendUnavailable when the database cannot be reached."""

    def __init__(self, database: SqlDatabase) -> None:
        self.database = database

    async def record(self, entry: AuditEntry) -> AuditEntry:
        """Store the entry; returns it with the id it was given."""
        values = {
            "at": naive_utc(entry.at, "at"),
            "actor": entry.actor,
            "action": entry.action.value,
            "target": entry.target,
            "subject": entry.subject,
            "address": entry.address,
            "outcome": entry.outcome.value,
            "detail": entry.detail,
            "details": serialise_details(entry.details),
        }

        def work(connection: Connection) -> int:
            key = connection.execute(insert(table).values(values)).inserted_primary_key
            assert key is not None  # a single-row INSERT always has one
            return int(key[0])

        entry_id = await self.database.transaction(work, write=True)
        return dataclasses.replace(entry, id=entry_id)

    async def page(self, query: AuditQuery) -> AuditPage:
        """The entries `query` matches, newest first, and the next page's cursor."""
        wanted = query.limit + 1  # one more than the page says whether another follows
        if query.user:
            # Each side a subquery of its own: SQLite takes no ORDER BY or LIMIT on a UNION's part.
            sides = [
                _newest_first(_filtered(select(table.c.id).where(column == query.user), query))
                .limit(wanted)
                .subquery()
                for column in (table.c.actor, table.c.target)
            ]
            ids = union(*(select(side.c.id) for side in sides)).subquery()
            statement = select(*_COLUMNS).where(table.c.id.in_(select(ids.c.id)))
        else:
            statement = _filtered(select(*_COLUMNS), query)
        statement = _newest_first(statement).limit(wanted)

        def work(connection: Connection) -> list[AuditEntry]:
            return [_entry_of(row) for row in connection.execute(statement)]

        return page_of(await self.database.transaction(work, write=False), query.limit)

    async def counts(self) -> dict[tuple[AuditAction, AuditOutcome], int]:
        """How many stored entries there are of each (action, outcome)."""
        statement = select(table.c.action, table.c.outcome, func.count()).group_by(
            table.c.action, table.c.outcome
        )

        def work(connection: Connection) -> dict[tuple[AuditAction, AuditOutcome], int]:
            return {
                (AuditAction(action), AuditOutcome(outcome)): int(count)
                for action, outcome, count in connection.execute(statement)
            }

        return await self.database.transaction(work, write=False)

    async def prune(self, *, older_than: datetime) -> int:
        """Delete entries with at <= older_than; returns how many."""
        cutoff = naive_utc(older_than, "older_than")

        def work(connection: Connection) -> int:
            return int(connection.execute(delete(table).where(table.c.at <= cutoff)).rowcount)

        return await self.database.transaction(work, write=True)
