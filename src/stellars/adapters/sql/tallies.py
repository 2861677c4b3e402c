"""The tally rows of the SQL activity store: per user, in `activity_tallies`, a `DecayedTally` of
every stored sample of that user, and in `stellars_meta` the half-life they were built for.

Rule: tally rows are written only here, in the caller's transaction, the same one as the sample
change they follow (the samples themselves are written only by the store), so a tally is always
exact for the samples stored; what touches the database takes that transaction's connection.
The tally arithmetic is the domain's (`DecayedTally.add/remove/merge`), never re-implemented
here; a tally that disagrees with its samples is recomputed from them ("refolded").

Stored samples travel as (username, naive UTC time, active) tuples, the way they are selected.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeAlias

from sqlalchemy import Connection, bindparam, delete, func, insert, or_, select, update

from stellars.domain.activity import ActivityStoreSummary, DecayedTally, RecordedSample
from stellars.domain.errors import InvalidValue
from stellars.domain.timeutil import UTC

from .rows import CHUNK_SIZE, aware, chunks
from .schema import activity_samples as samples_table
from .schema import activity_tallies as tallies_table
from .schema import stellars_meta as meta_table

HALF_LIFE_KEY = "activity_tally_half_life_us"
EMPTY = DecayedTally()
_REBUILD_FETCH_ROWS = 10_000

#: (username, naive UTC time, active) of one stored sample.
StoredSample: TypeAlias = tuple[str, datetime, Any]

# Tally rows are read by position: attribute access on a million-row scale was most of the cost.
_TALLY_COLUMNS = (
    tallies_table.c.username,
    tallies_table.c.anchor,
    tallies_table.c.total_weight,
    tallies_table.c.active_weight,
    tallies_table.c.sample_count,
    tallies_table.c.active_count,
)


# --- the half-life ---------------------------------------------------------------------------


def half_life_text(half_life: timedelta) -> str:
    """The half-life as recorded next to the tallies (whole microseconds)."""
    return str(half_life // timedelta(microseconds=1))


def recorded_half_life(connection: Connection) -> str | None:
    """The half-life the stored tallies were built for, as `half_life_text` wrote it."""
    return connection.execute(
        select(meta_table.c.value).where(meta_table.c.key == HALF_LIFE_KEY)
    ).scalar()


# --- reading ---------------------------------------------------------------------------------


def in_window(
    connection: Connection, half_life: timedelta, since: datetime, until: datetime
) -> dict[str, DecayedTally]:
    """Per-user tallies of the samples with since < time <= until: the stored whole-history
    tallies, corrected only for the samples stored outside (found through the time index)."""
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
        _correct(connection, tallies, outside, half_life, since, until)
    return {name: tally for name, tally in tallies.items() if tally.count > 0}


def summary(connection: Connection) -> ActivityStoreSummary:
    """Samples stored and users they belong to, from the tallies (no sample scan)."""
    samples, users = connection.execute(
        select(func.coalesce(func.sum(tallies_table.c.sample_count), 0), func.count()).where(
            tallies_table.c.sample_count > 0
        )
    ).one()
    return ActivityStoreSummary(int(samples), int(users))


def user_samples(
    connection: Connection,
    names: Sequence[str],
    since: datetime | None,
    until: datetime | None,
) -> list[RecordedSample]:
    """The samples of `names` with since < time <= until (None: unbounded), by user, oldest
    first."""
    found: list[RecordedSample] = []
    column = samples_table.c.timestamp
    for chunk in chunks(names):
        query = select(
            samples_table.c.username, column, samples_table.c.active, samples_table.c.last_activity
        ).where(samples_table.c.username.in_(chunk))
        if since is not None:
            query = query.where(column > since)
        if until is not None:
            query = query.where(column <= until)
        query = query.order_by(samples_table.c.username, column, samples_table.c.id)
        found.extend(
            RecordedSample(
                name, aware(taken_at), bool(active), aware(seen) if seen is not None else None
            )
            for name, taken_at, active, seen in connection.execute(query)
        )
    return found


def fold_samples(
    connection: Connection,
    names: Collection[str],
    half_life: timedelta,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, DecayedTally]:
    """Tallies computed from the stored samples of `names` in (since, until]."""
    folded: dict[str, DecayedTally] = {}
    for sample in user_samples(connection, sorted(names), since, until):
        folded[sample.username] = folded.get(sample.username, EMPTY).add(
            sample.taken_at, sample.active, half_life
        )
    return folded


# --- keeping them exact ----------------------------------------------------------------------


def add_samples(
    connection: Connection, samples: Sequence[StoredSample], half_life: timedelta
) -> None:
    """Fold samples just inserted into their users' tallies."""
    tallies = _load(connection, {name for name, _, _ in samples})
    existing = set(tallies)
    for name, taken_at, active in samples:
        tallies[name] = tallies.get(name, EMPTY).add(aware(taken_at), active, half_life)
    _save(connection, tallies, existing)


def take_out(
    connection: Connection, samples: Sequence[StoredSample], half_life: timedelta
) -> set[str]:
    """Take samples just deleted out of their users' tallies; returns the users whose tallies
    disagreed with their samples and were refolded from the samples left."""
    tallies = _load(connection, {name for name, _, _ in samples})
    existing = set(tallies)
    refold: set[str] = set()
    _subtract(tallies, samples, half_life, refold)
    kept = {name: tally for name, tally in tallies.items() if name not in refold}
    _save(connection, kept, existing - refold)
    if refold:
        refold_users(connection, refold, half_life)
    return refold


def merge_user(connection: Connection, old: str, new: str, half_life: timedelta) -> None:
    """After the samples of `old` became `new`'s: one tally for `new`, none for `old`."""
    tallies = _load(connection, {old, new})
    existing = set(tallies)
    merged = tallies.get(new, EMPTY).merge(tallies.get(old, EMPTY), half_life)
    _save(connection, {old: EMPTY, new: merged}, existing)


def drop_user(connection: Connection, username: str) -> None:
    """Forget the tally of a user whose samples were deleted."""
    connection.execute(delete(tallies_table).where(tallies_table.c.username == username))


def drop_all(connection: Connection) -> None:
    """Forget every tally (every sample was deleted)."""
    connection.execute(delete(tallies_table))


def rebuild_all(connection: Connection, half_life: timedelta) -> int:
    """Every tally from the samples, in one ordered scan; records the half-life. Returns how
    many users have a tally."""
    drop_all(connection)
    column = samples_table.c.timestamp
    rows = connection.execute(
        select(samples_table.c.username, column, samples_table.c.active)
        .order_by(samples_table.c.username, column)
        .execution_options(yield_per=_REBUILD_FETCH_ROWS)
    )
    pending: dict[str, DecayedTally] = {}
    users = 0
    current: str | None = None
    tally = EMPTY
    for partition in rows.partitions():
        for name, taken_at, active in partition:
            if name != current:
                if current is not None:
                    pending[current] = tally
                current, tally = name, EMPTY
            # `aware` inlined: this loop runs once per stored sample
            tally = tally.add(taken_at.replace(tzinfo=UTC), bool(active), half_life)
        if len(pending) >= CHUNK_SIZE:
            users += _insert(connection, pending)
            pending = {}
    if current is not None:
        pending[current] = tally
    users += _insert(connection, pending)
    connection.execute(delete(meta_table).where(meta_table.c.key == HALF_LIFE_KEY))
    connection.execute(
        insert(meta_table).values(key=HALF_LIFE_KEY, value=half_life_text(half_life))
    )
    return users


def refold_users(connection: Connection, names: Collection[str], half_life: timedelta) -> None:
    """Recompute some users' tallies from all of their stored samples."""
    for chunk in chunks(sorted(names)):
        connection.execute(delete(tallies_table).where(tallies_table.c.username.in_(chunk)))
    _insert(connection, fold_samples(connection, names, half_life))


# --- in memory -------------------------------------------------------------------------------


def _correct(
    connection: Connection,
    tallies: dict[str, DecayedTally],
    outside: Sequence[StoredSample],
    half_life: timedelta,
    since: datetime,
    until: datetime,
) -> None:
    """Take samples outside (since, until] out of the whole-history tallies.

    Subtracting the newest sample (the anchor) could cancel away precision, and so could
    subtracting most of a tally; those users are refolded from their in-window samples.
    """
    old_count: dict[str, int] = {}
    refold: set[str] = set()
    for name, taken_at, _ in outside:
        if taken_at > until:
            refold.add(name)
        else:
            old_count[name] = old_count.get(name, 0) + 1
    for name, count in old_count.items():
        if name not in tallies or 2 * count > tallies[name].count:
            refold.add(name)
    _subtract(tallies, outside, half_life, refold)
    if refold:
        for name in refold:
            tallies.pop(name, None)
        tallies.update(fold_samples(connection, refold, half_life, since, until))


def _subtract(
    tallies: dict[str, DecayedTally],
    samples: Iterable[StoredSample],
    half_life: timedelta,
    refold: set[str],
) -> None:
    """Take samples out of their users' tallies, skipping the users in `refold`; a user whose
    tally cannot give a sample up (none, or one that disagrees with the samples) joins `refold`:
    trust the samples, not the tally."""
    for name, taken_at, active in samples:
        if name in refold:
            continue
        try:
            tallies[name] = tallies[name].remove(aware(taken_at), bool(active), half_life)
        except (KeyError, InvalidValue):
            refold.add(name)


# --- rows ------------------------------------------------------------------------------------


def _tallies_of(rows: Iterable[tuple[Any, ...]]) -> dict[str, DecayedTally]:
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


def _values(tally: DecayedTally) -> dict[str, Any]:
    return {
        "anchor": tally.anchor.replace(tzinfo=None) if tally.anchor is not None else None,
        "total_weight": tally.total_weight,
        "active_weight": tally.active_weight,
        "sample_count": tally.count,
        "active_count": tally.active_count,
    }


def _load(connection: Connection, names: Iterable[str]) -> dict[str, DecayedTally]:
    found: dict[str, DecayedTally] = {}
    for chunk in chunks(sorted(names)):
        query = select(*_TALLY_COLUMNS).where(tallies_table.c.username.in_(chunk))
        found.update(_tallies_of(connection.execute(query)))
    return found


def _save(connection: Connection, tallies: Mapping[str, DecayedTally], existing: set[str]) -> None:
    """Write tallies back: update the rows that exist, insert new ones, drop empty ones."""
    updates = []
    inserts = {}
    emptied = []
    for name, tally in tallies.items():
        if tally.count == 0:
            if name in existing:
                emptied.append(name)
        elif name in existing:
            updates.append({"key": name, **_values(tally)})
        else:
            inserts[name] = tally
    if updates:
        connection.execute(
            update(tallies_table).where(tallies_table.c.username == bindparam("key")), updates
        )
    _insert(connection, inserts)
    for chunk in chunks(emptied):
        connection.execute(delete(tallies_table).where(tallies_table.c.username.in_(chunk)))


def _insert(connection: Connection, tallies: Mapping[str, DecayedTally]) -> int:
    rows = [
        {"username": name, **_values(tally)} for name, tally in tallies.items() if tally.count > 0
    ]
    if rows:
        connection.execute(insert(tallies_table), rows)
    return len(rows)
