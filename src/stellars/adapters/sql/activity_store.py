"""ActivityStore on SQL: samples in `activity_samples`, and per user a `DecayedTally` of all of
that user's stored samples in `activity_tallies`, kept exact in the same transaction as every
insert, prune, rename and delete.

`tallies(since, until)` reads the tally table (one row per user) and corrects only for samples
still stored outside (since, until], found through the index on the sample time; the sampler
prunes at the window's start every tick, so there are normally none or a handful.

Rule: this module writes the samples; `.tallies` writes the tally rows that follow them. The
tallies depend on the half-life, recorded in `stellars_meta`: a store built for another
half-life rebuilds them (one scan, under the writer lock) before using them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, delete, func, insert, select, update

from stellars.domain.activity import ActivityStoreSummary, DecayedTally, RecordedSample
from stellars.domain.errors import InvalidValue

from . import tallies as tally_rows
from .database import SqlDatabase
from .rows import chunks, naive_utc
from .schema import activity_samples as samples_table

log = logging.getLogger(__name__)

T = TypeVar("T")

_WRITE_LOCK = ("activity_tallies",)


class _StaleTallies(Exception):
    """The stored tallies were built for another half-life (raised inside a read)."""


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

    # --- the port ------------------------------------------------------------------------

    async def add(self, samples: Sequence[RecordedSample]) -> None:
        """Insert the samples and fold them into their users' tallies, in one transaction."""
        if not samples:
            return
        rows = [
            {
                "username": sample.username,
                "timestamp": naive_utc(sample.taken_at, "taken_at"),
                "last_activity": (
                    naive_utc(sample.server_last_activity, "server_last_activity")
                    if sample.server_last_activity is not None
                    else None
                ),
                "active": bool(sample.active),
            }
            for sample in samples
        ]
        await self._transaction(lambda c: self._add(c, rows), write=True)

    async def tallies(self, *, since: datetime, until: datetime) -> Mapping[str, DecayedTally]:
        """Per-user tallies of the samples with since < taken_at <= until."""
        low, high = naive_utc(since, "since"), naive_utc(until, "until")
        return await self._transaction(
            lambda c: tally_rows.in_window(c, self.half_life, low, high), write=False
        )

    async def samples(
        self, username: str, *, since: datetime, until: datetime
    ) -> list[RecordedSample]:
        """One user's samples with since < taken_at <= until, oldest first."""
        low, high = naive_utc(since, "since"), naive_utc(until, "until")
        return await self._transaction(
            lambda c: tally_rows.user_samples(c, [username], low, high), write=False
        )

    async def prune(self, *, older_than: datetime) -> int:
        """Delete samples with taken_at <= older_than, at most `prune_batch_size` per
        transaction, subtracting each from its user's tally in the same transaction."""
        batch_size = self.prune_batch_size
        cutoff = naive_utc(older_than, "older_than")
        total = 0
        while True:
            removed = await self._transaction(
                lambda c: self._prune_batch(c, cutoff, batch_size), write=True
            )
            total += removed
            if removed < batch_size:
                return total

    async def rename_user(self, old: str, new: str) -> int:
        """Move every sample of `old` to `new`, merging the two tallies."""
        return await self._transaction(lambda c: self._rename(c, old, new), write=True)

    async def delete_user(self, username: str) -> int:
        """Delete every sample and the tally of a user; returns how many samples."""
        return await self._transaction(lambda c: self._delete(c, username), write=True)

    async def reset(self) -> int:
        """Delete every sample and tally; returns how many samples."""
        return await self._transaction(self._reset, write=True)

    async def summary(self) -> ActivityStoreSummary:
        """Samples stored and users they belong to (from the tallies: no sample scan)."""
        return await self._transaction(tally_rows.summary, write=False)

    async def rebuild_tallies(self) -> int:
        """Recompute every tally from the samples (one scan); returns how many users."""
        return await self._transaction(
            lambda c: tally_rows.rebuild_all(c, self.half_life), write=True
        )

    # --- transactions on tallies of this half-life ---------------------------------------

    async def _transaction(self, work: Callable[[Connection], T], *, write: bool) -> T:
        """`SqlDatabase.transaction` on tallies built for this store's half-life."""
        if write:
            return await self.database.transaction(
                lambda c: self._rebuilt_if_stale(c, work), write=True, lock_tables=_WRITE_LOCK
            )
        try:
            return await self.database.transaction(
                lambda c: self._refused_if_stale(c, work), write=False
            )
        except _StaleTallies:
            # Rebuilding needs the writer lock; a read transaction must never upgrade to one.
            return await self._transaction(work, write=True)

    def _rebuilt_if_stale(self, connection: Connection, work: Callable[[Connection], T]) -> T:
        if not self._half_life_matches(connection):
            tally_rows.rebuild_all(connection, self.half_life)
        return work(connection)

    def _refused_if_stale(self, connection: Connection, work: Callable[[Connection], T]) -> T:
        if not self._half_life_matches(connection):
            raise _StaleTallies
        return work(connection)

    def _half_life_matches(self, connection: Connection) -> bool:
        recorded = tally_rows.recorded_half_life(connection)
        if recorded == self._half_life_text:
            return True
        if recorded is not None:
            log.warning(
                "activity tallies were built for a half-life of %s us, this store uses %s us: "
                "rebuilding them (do the hub and the sampler have the same settings?)",
                recorded,
                self._half_life_text,
            )
        return False

    # --- sample changes, each with its tally bookkeeping ---------------------------------

    def _add(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        connection.execute(insert(samples_table), rows)
        added = [(row["username"], row["timestamp"], row["active"]) for row in rows]
        tally_rows.add_samples(connection, added, self.half_life)

    def _prune_batch(self, connection: Connection, cutoff: datetime, batch_size: int) -> int:
        column = samples_table.c.timestamp
        doomed = connection.execute(
            select(samples_table.c.id, samples_table.c.username, column, samples_table.c.active)
            .where(column <= cutoff)
            .order_by(column, samples_table.c.id)
            .limit(batch_size)
        ).all()
        if not doomed:
            return 0
        for chunk in chunks([sample_id for sample_id, _, _, _ in doomed]):
            connection.execute(delete(samples_table).where(samples_table.c.id.in_(chunk)))
        removed = [(name, taken_at, active) for _, name, taken_at, active in doomed]
        refolded = tally_rows.take_out(connection, removed, self.half_life)
        if refolded:
            log.warning("activity tallies of %d user(s) were inconsistent; refolded", len(refolded))
        return len(doomed)

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
