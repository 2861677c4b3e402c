"""ActivityStore on SQL: samples in `activity_samples`, and per user a `DecayedTally` of all of
that user's stored samples in `activity_tallies`, kept exact in the same transaction as every
insert, prune, rename and delete.

`daily_activity` counts samples per user and UTC day in one GROUP BY query (per chunk of
usernames); the samples' naive UTC times are cut into days by each database's own date function.

`tallies(since, until)` reads the tally table (one row per user) and corrects only for samples
still stored outside (since, until], found through the index on the sample time; the sampler
prunes at the window's start every tick, so there are normally none or a handful.

The store remembers every tally row as of the last generation it read or wrote (see `.tallies`):
while no other process has changed the tallies since, a transaction uses them instead of reading
the rows again. Between two ticks the hub then scores every user without reading a tally row,
and a tick neither reads the rows it is about to update nor reads back what it just wrote.

Rule: this module writes the samples; `.tallies` writes the tally rows that follow them. The
tallies depend on the half-life, recorded in `stellars_meta`: a store built for another
half-life rebuilds them (one scan, under the writer lock) before using them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypeAlias, TypeVar

from sqlalchemy import Connection, Date, case, cast, delete, func, select, update

from stellars.domain.activity import (
    ActivityStoreSummary,
    DailyActivity,
    DecayedTally,
    RecordedSample,
)
from stellars.domain.errors import InvalidValue
from stellars.domain.timeutil import require_aware

from . import tallies as tally_rows
from .database import SqlDatabase
from .rows import StoredTimes, chunks, driver_statement
from .schema import activity_samples as samples_table

log = logging.getLogger(__name__)

T = TypeVar("T")

_WRITE_LOCK = ("activity_tallies",)

# The statements of a tick, sent to the driver as they are (executemany of plain tuples).
_INSERT_SAMPLE = (
    f"INSERT INTO {samples_table.name} (username, timestamp, last_activity, active) "
    "VALUES (?, ?, ?, ?)"
)
_SELECT_DOOMED = (
    f"SELECT id, username, timestamp, active FROM {samples_table.name} "
    "WHERE timestamp <= ? ORDER BY timestamp, id LIMIT ?"
)
_DELETE_SAMPLE = f"DELETE FROM {samples_table.name} WHERE id = ?"


#: A transaction's work on the tallies: given the connection and the known tallies (None when
#: they are not current), returns its result and tallies to remember: a read every tally row
#: it read (or None), a write the tallies it changed (empty: none; None: it cannot tell which).
Work: TypeAlias = Callable[
    [Connection, tally_rows.Tallies | None], tuple[T, tally_rows.Tallies | None]
]


class _StaleTallies(Exception):
    """The stored tallies were built for another half-life (raised inside a read)."""


@dataclass(frozen=True, slots=True)
class _Known:
    """Every tally row as stored at `generation`: what this store last read or wrote."""

    generation: str
    tallies: tally_rows.Tallies

    def current(self, generation: str | None) -> tally_rows.Tallies | None:
        """The tallies if they are still those stored (the generation has not moved on)."""
        return self.tallies if generation == self.generation else None

    def changed(self, changes: tally_rows.Tallies, generation: str) -> _Known:
        """The tallies after a write changed some of them (an empty tally has no row)."""
        tallies = dict(self.tallies)
        for name, tally in changes.items():
            if tally.count > 0:
                tallies[name] = tally
            else:
                tallies.pop(name, None)
        return _Known(generation, tallies)


class SqlActivityStore:
    """The ActivityStore port on a `SqlDatabase` (SQLite or PostgreSQL), built for one
    `half_life`. Every method is one short transaction on the database's threads (prune: one
    per batch of at most `prune_batch_size` samples); raises BackendUnavailable when the
    database cannot be reached."""

    def __init__(
        self, database: SqlDatabase, *, half_life: timedelta, prune_batch_size: int = 5000
    ) -> None:
        if half_life <= timedelta(0):
            raise InvalidValue("half_life", f"must be positive, got {half_life}")
        if prune_batch_size < 1:
            raise InvalidValue("prune_batch_size", f"must be at least 1, got {prune_batch_size}")
        self.prune_batch_size = prune_batch_size
        self.database = database
        self.half_life = half_life
        self._half_life_text = tally_rows.half_life_text(half_life)
        self._known: _Known | None = None

    # --- the port ------------------------------------------------------------------------

    async def add(self, samples: Sequence[RecordedSample]) -> None:
        """Insert the samples and fold them into their users' tallies, in one transaction."""
        if not samples:
            return
        # Converted here, so that a naive time is refused before any SQL.
        times = StoredTimes(self.database.engine.dialect)
        rows = []
        added: list[tally_rows.StoredSample] = []
        for sample in samples:
            taken_at = times.stored(sample.taken_at, "taken_at")
            seen = sample.server_last_activity
            active = bool(sample.active)
            rows.append(
                (
                    sample.username,
                    taken_at,
                    times.stored(seen, "server_last_activity") if seen is not None else None,
                    active,
                )
            )
            added.append((sample.username, times.aware(taken_at), active))
        await self._write(lambda c, known: self._add(c, known, rows, added))

    async def tallies(self, *, since: datetime, until: datetime) -> Mapping[str, DecayedTally]:
        """Per-user tallies of the samples with since < taken_at <= until."""
        low, high = require_aware(since, "since"), require_aware(until, "until")
        return await self._read(
            lambda c, known: tally_rows.in_window(c, self.half_life, low, high, known)
        )

    async def samples(
        self, username: str, *, since: datetime, until: datetime
    ) -> list[RecordedSample]:
        """One user's samples with since < taken_at <= until, oldest first."""
        low, high = require_aware(since, "since"), require_aware(until, "until")
        return await self._read(
            lambda c, _: (tally_rows.user_samples(c, [username], low, high), None)
        )

    async def daily_activity(
        self, *, since: date, until: date, usernames: Collection[str] | None = None
    ) -> list[DailyActivity]:
        """Per user and UTC day from `since` to `until` (inclusive): samples taken and active,
        sorted by username then day (in Python: the databases' collations differ)."""
        if since > until or (usernames is not None and not usernames):
            return []
        low = datetime.combine(since, time.min)
        high = datetime.combine(until + timedelta(days=1), time.min) if until < date.max else None
        names = None if usernames is None else sorted(set(usernames))
        found = await self.database.transaction(
            lambda c: self._daily_activity(c, low, high, names), write=False
        )
        return sorted(found, key=lambda day: (day.username, day.day))

    async def prune(self, *, older_than: datetime) -> int:
        """Delete samples with taken_at <= older_than, at most `prune_batch_size` per
        transaction, subtracting each from its user's tally in the same transaction."""
        batch_size = self.prune_batch_size
        cutoff = require_aware(older_than, "older_than")
        total = 0
        while True:
            removed, more = await self._write(
                lambda c, known: self._prune_batch(c, known, cutoff, batch_size)
            )
            total += removed
            if not more:
                return total

    async def rename_user(self, old: str, new: str) -> int:
        """Move every sample of `old` to `new`, merging the two tallies."""
        return await self._write(lambda c, _: (self._rename(c, old, new), None))

    async def delete_user(self, username: str) -> int:
        """Delete every sample and the tally of a user; returns how many samples."""
        return await self._write(lambda c, _: (self._delete(c, username), None))

    async def reset(self) -> int:
        """Delete every sample and tally; returns how many samples."""
        return await self._write(lambda c, _: (self._reset(c), None))

    async def summary(self) -> ActivityStoreSummary:
        """Samples stored and users they belong to (from the tallies: no sample scan)."""
        return await self._read(lambda c, _: (tally_rows.summary(c), None))

    async def rebuild_tallies(self) -> int:
        """Recompute every tally from the samples (one scan); returns how many users."""
        return await self._write(lambda c, _: (tally_rows.rebuild_all(c, self.half_life), None))

    # --- transactions on tallies of this half-life ---------------------------------------

    async def _read(self, work: Work[T]) -> T:
        """A read transaction (a snapshot) on tallies built for this store's half-life; what
        `work` read of the tallies is remembered with their generation."""
        known = self._known

        def run(connection: Connection) -> tuple[T, str | None, tally_rows.Tallies | None]:
            generation = self._generation(connection, rebuild=False)
            result, stored = work(connection, known.current(generation) if known else None)
            return result, generation, stored

        try:
            result, generation, stored = await self.database.transaction(run, write=False)
        except _StaleTallies:
            # Rebuilding needs the writer lock; a read transaction must never upgrade to one.
            return await self._write(lambda c, known: (work(c, known)[0], None))
        if generation is not None and stored is not None:
            self._known = _Known(generation, stored)
        return result

    async def _write(self, work: Work[T]) -> T:
        """A write transaction holding the writer lock, on tallies built for this store's
        half-life (rebuilt first if they are not); unless `work` changed no tally, it records a
        new generation of the tallies, and the known ones follow what `work` changed (or are
        forgotten)."""
        known = self._known

        def run(connection: Connection) -> tuple[T, _Known | None]:
            generation = self._generation(connection, rebuild=True)
            current = known.current(generation) if known else None
            result, changes = work(connection, current)
            if changes is not None and not changes:
                return result, known if current is not None else None
            after = tally_rows.new_generation(connection)
            if known is None or current is None or changes is None:
                return result, None
            return result, known.changed(changes, after)

        result, after = await self.database.transaction(run, write=True, lock_tables=_WRITE_LOCK)
        self._known = after
        return result

    def _generation(self, connection: Connection, *, rebuild: bool) -> str | None:
        """The generation of the stored tallies, once they are built for this half-life:
        rebuilt if `rebuild`, else _StaleTallies."""
        recorded, generation = tally_rows.recorded_state(connection)
        if recorded == self._half_life_text:
            return generation
        if recorded is not None:
            log.warning(
                "activity tallies were built for a half-life of %s us, this store uses %s us: "
                "rebuilding them (do the hub and the sampler have the same settings?)",
                recorded,
                self._half_life_text,
            )
        if not rebuild:
            raise _StaleTallies
        tally_rows.rebuild_all(connection, self.half_life)
        return None

    # --- reading samples ------------------------------------------------------------------

    def _daily_activity(
        self,
        connection: Connection,
        low: datetime,
        high: datetime | None,
        names: Sequence[str] | None,
    ) -> list[DailyActivity]:
        """Samples with low <= time < high (None: unbounded) counted per user and day."""
        column = samples_table.c.timestamp
        # SQLite keeps times as text, which CAST would read as a number; date() cuts the day.
        day = func.date(column, type_=Date) if self.database.sqlite else cast(column, Date)
        query = select(
            samples_table.c.username,
            day,
            func.sum(case((samples_table.c.active, 1), else_=0)),
            func.count(),
        ).where(column >= low)
        if high is not None:
            query = query.where(column < high)
        query = query.group_by(samples_table.c.username, day)
        found: list[DailyActivity] = []
        for chunk in [None] if names is None else chunks(names):
            chunk_query = (
                query if chunk is None else query.where(samples_table.c.username.in_(chunk))
            )
            found.extend(
                DailyActivity(name, on, int(active), int(count))
                for name, on, active, count in connection.execute(chunk_query)
            )
        return found

    # --- sample changes, each with its tally bookkeeping ---------------------------------

    def _add(
        self,
        connection: Connection,
        known: tally_rows.Tallies | None,
        rows: list[tuple[Any, ...]],
        added: Sequence[tally_rows.StoredSample],
    ) -> tuple[None, tally_rows.Tallies]:
        connection.exec_driver_sql(driver_statement(connection.dialect, _INSERT_SAMPLE), rows)
        return None, tally_rows.add_samples(connection, added, self.half_life, known)

    def _prune_batch(
        self,
        connection: Connection,
        known: tally_rows.Tallies | None,
        cutoff: datetime,
        batch_size: int,
    ) -> tuple[tuple[int, bool], tally_rows.Tallies | None]:
        """Delete the oldest `batch_size` samples at or before `cutoff`; returns how many, and
        whether more remain (one row more is read to know, sparing a transaction that would
        find none)."""
        times = StoredTimes(connection.dialect)
        found = connection.exec_driver_sql(
            driver_statement(connection.dialect, _SELECT_DOOMED),
            (times.stored(cutoff, "older_than"), batch_size + 1),
        ).fetchall()
        doomed = found[:batch_size]
        if not doomed:
            return (0, False), {}
        connection.exec_driver_sql(
            driver_statement(connection.dialect, _DELETE_SAMPLE),
            [(sample_id,) for sample_id, _, _, _ in doomed],
        )
        removed = [(name, times.aware(taken_at), active) for _, name, taken_at, active in doomed]
        changes, refolded = tally_rows.take_out(connection, removed, self.half_life, known)
        if refolded:
            log.warning("activity tallies of %d user(s) were inconsistent; refolded", len(refolded))
        return (len(doomed), len(found) > batch_size), None if refolded else changes

    def _rename(self, connection: Connection, old: str, new: str) -> int:
        if old == new:
            return int(
                connection.execute(
                    select(func.count()).where(samples_table.c.username == old)
                ).scalar_one()
            )
        moved = connection.execute(
            update(samples_table).where(samples_table.c.username == old).values(username=new)
        ).rowcount
        tally_rows.merge_user(connection, old, new, self.half_life)
        return int(moved)

    def _delete(self, connection: Connection, username: str) -> int:
        removed = connection.execute(
            delete(samples_table).where(samples_table.c.username == username)
        ).rowcount
        tally_rows.drop_user(connection, username)
        return int(removed)

    def _reset(self, connection: Connection) -> int:
        removed = connection.execute(delete(samples_table)).rowcount
        tally_rows.drop_all(connection)
        return int(removed)
