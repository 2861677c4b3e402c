"""ActivityStore on SQL: samples in `activity_samples`, and per user a `DecayedTally` of all of
that user's stored samples in `activity_tallies`, kept exact in the same transaction as every
insert, prune, rename and delete.

`tallies(since, until)` reads the tally table (one row per user) and corrects only for samples
still stored outside (since, until], found through the index on the sample time; the sampler
prunes at the window's start every tick, so there are normally none or a handful. The tally
arithmetic is the domain's (`DecayedTally.add/remove/merge`), never re-implemented here.

The tallies depend on the half-life, recorded in `stellars_meta`: a store built for another
half-life rebuilds them (one scan) before using them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, bindparam, delete, func, insert, or_, select, update

from stellars.domain.activity import DecayedTally, RecordedSample
from stellars.domain.errors import InvalidValue
from stellars.domain.timeutil import UTC, require_aware
from stellars.ports.activity_store import ActivityStoreSummary

from .database import SqlDatabase
from .schema import activity_samples as samples_table
from .schema import activity_tallies as tallies_table
from .schema import stellars_meta as meta_table

log = logging.getLogger(__name__)

T = TypeVar("T")

HALF_LIFE_KEY = "activity_tally_half_life_us"
# Keeps IN lists and executemany batches well under every SQLite build's variable limit.
_CHUNK = 500
_WRITE_LOCK = ("activity_tallies",)
_EMPTY = DecayedTally()


class _StaleTallies(Exception):
    """The stored tallies were built for another half-life (raised inside a read)."""


def _naive_utc(value: datetime, field: str) -> datetime:
    return require_aware(value, field).replace(tzinfo=None)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Tally rows are read by position: attribute access on a million-row scale was most of the cost.
_TALLY_COLUMNS = (
    tallies_table.c.username,
    tallies_table.c.anchor,
    tallies_table.c.total_weight,
    tallies_table.c.active_weight,
    tallies_table.c.sample_count,
    tallies_table.c.active_count,
)


def _tallies_of(rows: Iterable[Row[Any]]) -> dict[str, DecayedTally]:
    return {
        name: DecayedTally(
            anchor.replace(tzinfo=UTC) if anchor is not None else None,
            total_weight,
            active_weight,
            count,
            active_count,
        )
        for name, anchor, total_weight, active_weight, count, active_count in rows
    }


def _tally_values(tally: DecayedTally) -> dict[str, Any]:
    return {
        "anchor": tally.anchor.replace(tzinfo=None) if tally.anchor is not None else None,
        "total_weight": tally.total_weight,
        "active_weight": tally.active_weight,
        "sample_count": tally.count,
        "active_count": tally.active_count,
    }


class SqlActivityStore:
    """The ActivityStore port on a `SqlDatabase` (SQLite or PostgreSQL), built for one
    `half_life`. Every method is one short transaction on the database's threads (prune: one
    per batch); raises BackendUnavailable when the database cannot be reached."""

    def __init__(self, database: SqlDatabase, *, half_life: timedelta) -> None:
        if half_life <= timedelta(0):
            raise InvalidValue("half_life", f"must be positive, got {half_life}")
        self.database = database
        self.half_life = half_life
        self._half_life_text = str(half_life // timedelta(microseconds=1))

    # --- the port ------------------------------------------------------------------------

    async def add(self, samples: Sequence[RecordedSample]) -> None:
        """Insert the samples and fold them into their users' tallies, in one transaction."""
        if not samples:
            return
        rows = [
            {
                "username": sample.username,
                "timestamp": _naive_utc(sample.taken_at, "taken_at"),
                "last_activity": (
                    _naive_utc(sample.server_last_activity, "server_last_activity")
                    if sample.server_last_activity is not None
                    else None
                ),
                "active": bool(sample.active),
            }
            for sample in samples
        ]
        await self.database.run(lambda: self._write(lambda c: self._add(c, rows)))

    async def tallies(self, *, since: datetime, until: datetime) -> Mapping[str, DecayedTally]:
        """Per-user tallies of the samples with since < taken_at <= until."""
        low, high = _naive_utc(since, "since"), _naive_utc(until, "until")
        return await self.database.run(lambda: self._read(lambda c: self._tallies(c, low, high)))

    async def samples(
        self, username: str, *, since: datetime, until: datetime
    ) -> list[RecordedSample]:
        """One user's samples with since < taken_at <= until, oldest first."""
        low, high = _naive_utc(since, "since"), _naive_utc(until, "until")
        return await self.database.run(
            lambda: self._read(lambda c: self._user_samples(c, [username], low, high))
        )

    async def prune(self, *, older_than: datetime, batch_size: int = 5000) -> int:
        """Delete samples with taken_at <= older_than, at most `batch_size` per transaction,
        subtracting each from its user's tally in the same transaction."""
        if batch_size < 1:
            raise InvalidValue("batch_size", f"must be at least 1, got {batch_size}")
        cutoff = _naive_utc(older_than, "older_than")
        total = 0
        while True:
            removed = await self.database.run(
                lambda: self._write(lambda c: self._prune_batch(c, cutoff, batch_size))
            )
            total += removed
            if removed < batch_size:
                return total

    async def rename_user(self, old: str, new: str) -> int:
        """Move every sample of `old` to `new`, merging the two tallies."""
        return await self.database.run(lambda: self._write(lambda c: self._rename(c, old, new)))

    async def delete_user(self, username: str) -> int:
        """Delete every sample and the tally of a user; returns how many samples."""
        return await self.database.run(lambda: self._write(lambda c: self._delete(c, username)))

    async def reset(self) -> int:
        """Delete every sample and tally; returns how many samples."""
        return await self.database.run(lambda: self._write(self._reset))

    async def summary(self) -> ActivityStoreSummary:
        """Samples stored and users they belong to (from the tallies: no sample scan)."""
        return await self.database.run(lambda: self._read(self._summary))

    async def rebuild_tallies(self) -> int:
        """Recompute every tally from the samples (one scan); returns how many users."""
        return await self.database.run(lambda: self._write(self._rebuild_all))

    # --- transactions --------------------------------------------------------------------

    def _write(self, work: Callable[[Connection], T]) -> T:
        with self.database.writing(_WRITE_LOCK) as connection:
            if not self._half_life_matches(connection):
                self._rebuild_all(connection)
            return work(connection)

    def _read(self, work: Callable[[Connection], T]) -> T:
        try:
            with self.database.reading() as connection:
                if not self._half_life_matches(connection):
                    raise _StaleTallies
                return work(connection)
        except _StaleTallies:
            # Rebuilding needs the writer lock; a read transaction must never upgrade to one.
            return self._write(work)

    def _half_life_matches(self, connection: Connection) -> bool:
        recorded = connection.execute(
            select(meta_table.c.value).where(meta_table.c.key == HALF_LIFE_KEY)
        ).scalar()
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

    # --- work inside a transaction -------------------------------------------------------

    def _add(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        connection.execute(insert(samples_table), rows)
        tallies = self._load_tallies(connection, {row["username"] for row in rows})
        existing = set(tallies)
        for row in rows:
            name = row["username"]
            tallies[name] = tallies.get(name, _EMPTY).add(
                _aware(row["timestamp"]), row["active"], self.half_life
            )
        self._save_tallies(connection, tallies, existing)

    def _tallies(
        self, connection: Connection, since: datetime, until: datetime
    ) -> dict[str, DecayedTally]:
        tallies = _tallies_of(
            connection.execute(select(*_TALLY_COLUMNS).where(tallies_table.c.sample_count > 0))
        )
        column = samples_table.c.timestamp
        outside = connection.execute(
            select(samples_table.c.username, column, samples_table.c.active).where(
                or_(column <= since, column > until)
            )
        ).all()
        if outside:
            self._correct(connection, tallies, outside, since, until)
        return {name: tally for name, tally in tallies.items() if tally.count > 0}

    def _correct(
        self,
        connection: Connection,
        tallies: dict[str, DecayedTally],
        outside: Sequence[Row[Any]],
        since: datetime,
        until: datetime,
    ) -> None:
        """Take samples outside (since, until] out of the whole-history tallies.

        Subtracting the newest sample (the anchor) could cancel away precision, and so could
        subtracting most of a tally; those users are refolded from their in-window samples.
        """
        old_count: dict[str, int] = {}
        refold: set[str] = set()
        for row in outside:
            if row.timestamp > until:
                refold.add(row.username)
            else:
                old_count[row.username] = old_count.get(row.username, 0) + 1
        for name, count in old_count.items():
            if name not in tallies or 2 * count > tallies[name].count:
                refold.add(name)
        for row in outside:
            name = row.username
            if name in refold:
                continue
            try:
                tallies[name] = tallies[name].remove(
                    _aware(row.timestamp), bool(row.active), self.half_life
                )
            except InvalidValue:  # the tally disagrees with the samples: trust the samples
                refold.add(name)
        if refold:
            for name in refold:
                tallies.pop(name, None)
            tallies.update(self._fold_samples(connection, refold, since, until))

    def _fold_samples(
        self,
        connection: Connection,
        names: Collection[str],
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> dict[str, DecayedTally]:
        folded: dict[str, DecayedTally] = {}
        for sample in self._user_samples(connection, sorted(names), since, until):
            folded[sample.username] = folded.get(sample.username, _EMPTY).add(
                sample.taken_at, sample.active, self.half_life
            )
        return folded

    def _user_samples(
        self,
        connection: Connection,
        names: Sequence[str],
        since: datetime | None,
        until: datetime | None,
    ) -> list[RecordedSample]:
        found: list[RecordedSample] = []
        column = samples_table.c.timestamp
        for chunk in _chunks(names):
            query = select(
                samples_table.c.username,
                column,
                samples_table.c.active,
                samples_table.c.last_activity,
            ).where(samples_table.c.username.in_(chunk))
            if since is not None:
                query = query.where(column > since)
            if until is not None:
                query = query.where(column <= until)
            query = query.order_by(samples_table.c.username, column, samples_table.c.id)
            found.extend(
                RecordedSample(
                    row.username,
                    _aware(row.timestamp),
                    bool(row.active),
                    _aware(row.last_activity) if row.last_activity is not None else None,
                )
                for row in connection.execute(query)
            )
        return found

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
        tallies = self._load_tallies(connection, {row.username for row in doomed})
        existing = set(tallies)
        refold: set[str] = set()
        for row in doomed:
            if row.username in refold:
                continue
            try:
                tallies[row.username] = tallies[row.username].remove(
                    _aware(row.timestamp), bool(row.active), self.half_life
                )
            except (KeyError, InvalidValue):
                refold.add(row.username)
        ids = [row.id for row in doomed]
        for chunk in _chunks(ids):
            connection.execute(delete(samples_table).where(samples_table.c.id.in_(chunk)))
        self._save_tallies(
            connection,
            {name: tally for name, tally in tallies.items() if name not in refold},
            existing - refold,
        )
        if refold:
            log.warning("activity tallies of %d user(s) were inconsistent; refolded", len(refold))
            self._refold_users(connection, refold)
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
        tallies = self._load_tallies(connection, {old, new})
        existing = set(tallies)
        merged = tallies.get(new, _EMPTY).merge(tallies.get(old, _EMPTY), self.half_life)
        self._save_tallies(connection, {old: _EMPTY, new: merged}, existing)
        return int(moved)

    def _delete(self, connection: Connection, username: str) -> int:
        removed = connection.execute(
            delete(samples_table).where(samples_table.c.username == username)
        ).rowcount
        connection.execute(delete(tallies_table).where(tallies_table.c.username == username))
        return int(removed)

    def _reset(self, connection: Connection) -> int:
        removed = connection.execute(delete(samples_table)).rowcount
        connection.execute(delete(tallies_table))
        return int(removed)

    def _summary(self, connection: Connection) -> ActivityStoreSummary:
        samples, users = connection.execute(
            select(func.coalesce(func.sum(tallies_table.c.sample_count), 0), func.count()).where(
                tallies_table.c.sample_count > 0
            )
        ).one()
        return ActivityStoreSummary(int(samples), int(users))

    def _rebuild_all(self, connection: Connection) -> int:
        """Every tally from the samples, in one ordered scan; records the half-life."""
        connection.execute(delete(tallies_table))
        column = samples_table.c.timestamp
        rows = connection.execute(
            select(samples_table.c.username, column, samples_table.c.active)
            .order_by(samples_table.c.username, column)
            .execution_options(yield_per=10_000)
        )
        pending: dict[str, DecayedTally] = {}
        users = 0
        current: str | None = None
        tally = _EMPTY
        half_life = self.half_life
        for partition in rows.partitions():
            for name, taken_at, active in partition:
                if name != current:
                    if current is not None:
                        pending[current] = tally
                    current, tally = name, _EMPTY
                tally = tally.add(taken_at.replace(tzinfo=UTC), bool(active), half_life)
            if len(pending) >= _CHUNK:
                users += self._insert_tallies(connection, pending)
                pending = {}
        if current is not None:
            pending[current] = tally
        users += self._insert_tallies(connection, pending)
        connection.execute(delete(meta_table).where(meta_table.c.key == HALF_LIFE_KEY))
        connection.execute(insert(meta_table).values(key=HALF_LIFE_KEY, value=self._half_life_text))
        return users

    def _refold_users(self, connection: Connection, names: Collection[str]) -> None:
        """Recompute some users' tallies from all of their stored samples."""
        for chunk in _chunks(sorted(names)):
            connection.execute(delete(tallies_table).where(tallies_table.c.username.in_(chunk)))
        self._insert_tallies(connection, self._fold_samples(connection, names))

    # --- tally rows ----------------------------------------------------------------------

    def _load_tallies(
        self, connection: Connection, names: Iterable[str]
    ) -> dict[str, DecayedTally]:
        found: dict[str, DecayedTally] = {}
        for chunk in _chunks(sorted(names)):
            found.update(
                _tallies_of(
                    connection.execute(
                        select(*_TALLY_COLUMNS).where(tallies_table.c.username.in_(chunk))
                    )
                )
            )
        return found

    def _save_tallies(
        self, connection: Connection, tallies: Mapping[str, DecayedTally], existing: set[str]
    ) -> None:
        """Write tallies back: update the rows that exist, insert new ones, drop empty ones."""
        updates = []
        inserts = {}
        emptied = []
        for name, tally in tallies.items():
            if tally.count == 0:
                if name in existing:
                    emptied.append(name)
            elif name in existing:
                updates.append({"key": name, **_tally_values(tally)})
            else:
                inserts[name] = tally
        if updates:
            connection.execute(
                update(tallies_table).where(tallies_table.c.username == bindparam("key")),
                updates,
            )
        self._insert_tallies(connection, inserts)
        for chunk in _chunks(emptied):
            connection.execute(delete(tallies_table).where(tallies_table.c.username.in_(chunk)))

    def _insert_tallies(self, connection: Connection, tallies: Mapping[str, DecayedTally]) -> int:
        rows = [
            {"username": name, **_tally_values(tally)}
            for name, tally in tallies.items()
            if tally.count > 0
        ]
        if rows:
            connection.execute(insert(tallies_table), rows)
        return len(rows)
