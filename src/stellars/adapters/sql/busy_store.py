"""BusyStore on SQL: the busy record of each server, one row per (user, server name) in
`busy_readings`, replaced every window by the hub's busy sampler."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from stellars.domain.busy import BusyRecord, BusyWindow, LoadReading

from .database import SqlDatabase
from .rows import aware, naive_utc
from .schema import busy_readings as table

_WRITE_LOCK = ("busy_readings",)
_KEY = ("username", "server_name")

# Rows are read by position, in this order.
_COLUMNS = (
    table.c.username,
    table.c.server_name,
    table.c.started,
    table.c.taken_at,
    table.c.cpu_total_ns,
    table.c.system_cpu_ns,
    table.c.online_cpus,
    table.c.gpu_percent,
    table.c.window_start,
    table.c.window_end,
    table.c.window_cpu_percent,
    table.c.window_gpu_percent,
    table.c.window_busy,
    table.c.busy_until,
)


def _maybe_naive(value: datetime | None, field: str) -> datetime | None:
    return None if value is None else naive_utc(value, field)


def _maybe_aware(value: datetime | None) -> datetime | None:
    return None if value is None else aware(value)


def _values(record: BusyRecord) -> dict[str, Any]:
    reading = record.reading
    window = record.window
    return {
        "username": record.username,
        "server_name": record.server_name,
        "started": _maybe_naive(record.started, "started"),
        "taken_at": naive_utc(reading.taken_at, "taken_at"),
        "cpu_total_ns": reading.cpu_total_ns,
        "system_cpu_ns": reading.system_cpu_ns,
        "online_cpus": reading.online_cpus,
        "gpu_percent": reading.gpu_percent,
        "window_start": None if window is None else naive_utc(window.start, "window.start"),
        "window_end": None if window is None else naive_utc(window.end, "window.end"),
        "window_cpu_percent": None if window is None else window.cpu_percent,
        "window_gpu_percent": None if window is None else window.gpu_percent,
        "window_busy": None if window is None else window.busy,
        "busy_until": _maybe_naive(record.busy_until, "busy_until"),
    }


def _record_of(row: Sequence[Any]) -> BusyRecord:
    (
        username,
        server_name,
        started,
        taken_at,
        cpu_total_ns,
        system_cpu_ns,
        online_cpus,
        gpu_percent,
        window_start,
        window_end,
        window_cpu_percent,
        window_gpu_percent,
        window_busy,
        busy_until,
    ) = row
    window = None
    if window_start is not None:
        window = BusyWindow(
            start=aware(window_start),
            end=aware(window_end),
            cpu_percent=float(window_cpu_percent),
            gpu_percent=window_gpu_percent,
            busy=bool(window_busy),
        )
    return BusyRecord(
        username=username,
        server_name=server_name,
        started=_maybe_aware(started),
        reading=LoadReading(
            taken_at=aware(taken_at),
            cpu_total_ns=int(cpu_total_ns),
            system_cpu_ns=int(system_cpu_ns),
            online_cpus=online_cpus,
            gpu_percent=gpu_percent,
        ),
        window=window,
        busy_until=_maybe_aware(busy_until),
    )


class SqlBusyStore:
    """The BusyStore port on a `SqlDatabase`; each method is one short transaction run on the
    database's threads. Raises BackendUnavailable when the database cannot be reached."""

    def __init__(self, database: SqlDatabase) -> None:
        self.database = database

    async def get(self, username: str, server_name: str = "") -> BusyRecord | None:
        """One server's record, or None."""

        def work(connection: Connection) -> BusyRecord | None:
            row = connection.execute(
                select(*_COLUMNS).where(
                    table.c.username == username, table.c.server_name == server_name
                )
            ).one_or_none()
            return None if row is None else _record_of(row)

        return await self.database.transaction(work, write=False)

    async def all(self) -> list[BusyRecord]:
        """Every record, sorted by username then server name."""

        def work(connection: Connection) -> list[BusyRecord]:
            rows = connection.execute(
                select(*_COLUMNS).order_by(table.c.username, table.c.server_name)
            ).all()
            return [_record_of(row) for row in rows]

        return await self.database.transaction(work, write=False)

    async def put(self, records: Sequence[BusyRecord]) -> None:
        """Keep each record as its server's, replacing the one before, in one transaction."""
        rows = [_values(record) for record in records]  # refuses naive times before writing
        if not rows:
            return
        dialect_insert = sqlite_insert if self.database.sqlite else postgresql_insert

        def work(connection: Connection) -> None:
            for values in rows:
                statement = dialect_insert(table).values(values)
                changing = {name: value for name, value in values.items() if name not in _KEY}
                connection.execute(
                    statement.on_conflict_do_update(
                        index_elements=[table.c.username, table.c.server_name], set_=changing
                    )
                )

        await self.database.transaction(work, write=True, lock_tables=_WRITE_LOCK)

    async def prune(self, *, older_than: datetime) -> int:
        """Forget the records whose latest reading is at or before `older_than`."""
        cutoff = naive_utc(older_than, "older_than")

        def work(connection: Connection) -> int:
            return int(connection.execute(delete(table).where(table.c.taken_at <= cutoff)).rowcount)

        return await self.database.transaction(work, write=True, lock_tables=_WRITE_LOCK)
