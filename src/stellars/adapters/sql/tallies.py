"""The tally rows of the SQL activity store: per user, in `activity_tallies`, a `DecayedTally` of
every stored sample of that user, and in `stellars_meta` the half-life they were built for.

Rule: tally rows are written only here, in the caller's transaction, the same one as the sample
change they follow (the samples themselves are written only by the store), so a tally is always
exact for the samples stored; what touches the database takes that transaction's connection.
The tally arithmetic is the domain's (`DecayedTally.add/remove/merge`), never re-implemented
here; a tally that disagrees with its samples is recomputed from them ("refolded").

Every change of the tally rows also records a new generation (a random token) in
`stellars_meta`, so that a process holding the tallies of one generation in memory ("known": every
tally row as stored at that generation) can use them instead of reading the rows again, for as
long as the generation has not moved on; the functions that read tallies take them as `known`
(None: read the rows) and those that change tallies report what they changed.

Stored samples travel as (username, aware UTC time, active) tuples. Tally rows are read and
written through the driver (plain tuples, executemany), their times converted by `StoredTimes`:
a tick reads and writes a row per user, and SQLAlchemy's per-row processing was most of the cost.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeAlias

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from stellars.domain.activity import ActivityStoreSummary, DecayedTally, RecordedSample
from stellars.domain.errors import InvalidValue

from .rows import StoredTimes, aware, chunks, driver_statement
from .schema import activity_samples as samples_table
from .schema import activity_tallies as tallies_table
from .schema import stellars_meta as meta_table

HALF_LIFE_KEY = "activity_tally_half_life_us"
GENERATION_KEY = "activity_tally_generation"
EMPTY = DecayedTally()
_REBUILD_FETCH_ROWS = 10_000

#: (username, aware UTC time, active) of one stored sample.
StoredSample: TypeAlias = tuple[str, datetime, Any]
#: Tallies by username; as "known" tallies: every tally row, as stored at one generation.
Tallies: TypeAlias = Mapping[str, DecayedTally]

# A tally row as the driver reads and writes it, in this column order (the key last).
_TALLY_COLUMNS = ("anchor", "total_weight", "active_weight", "sample_count", "active_count")
_TALLY_SELECT = f"SELECT username, {', '.join(_TALLY_COLUMNS)} FROM {tallies_table.name}"
_TALLY_UPDATE = (
    f"UPDATE {tallies_table.name} SET {', '.join(f'{c} = ?' for c in _TALLY_COLUMNS)} "
    "WHERE username = ?"
)
_TALLY_INSERT = (
    f"INSERT INTO {tallies_table.name} ({', '.join(_TALLY_COLUMNS)}, username) "
    f"VALUES ({', '.join(['?'] * (len(_TALLY_COLUMNS) + 1))})"
)


# --- the half-life and the generation --------------------------------------------------------


def half_life_text(half_life: timedelta) -> str:
    """The half-life as recorded next to the tallies (whole microseconds)."""
    return str(half_life // timedelta(microseconds=1))


def recorded_state(connection: Connection) -> tuple[str | None, str | None]:
    """The half-life the stored tallies were built for (as `half_life_text` wrote it) and their
    generation; None for what was never recorded."""
    recorded = dict(
        connection.execute(
            select(meta_table.c.key, meta_table.c.value).where(
                meta_table.c.key.in_([HALF_LIFE_KEY, GENERATION_KEY])
            )
        ).all()
    )
    return recorded.get(HALF_LIFE_KEY), recorded.get(GENERATION_KEY)


def new_generation(connection: Connection) -> str:
    """Record that the tallies changed: a new generation, which is returned."""
    generation = uuid.uuid4().hex
    _put_meta(connection, GENERATION_KEY, generation)
    return generation


def _put_meta(connection: Connection, key: str, value: str) -> None:
    changed = connection.execute(
        update(meta_table).where(meta_table.c.key == key).values(value=value)
    ).rowcount
    if not changed:
        connection.execute(insert(meta_table).values(key=key, value=value))


# --- reading ---------------------------------------------------------------------------------


def in_window(
    connection: Connection,
    half_life: timedelta,
    since: datetime,
    until: datetime,
    known: Tallies | None,
) -> tuple[dict[str, DecayedTally], Tallies]:
    """Per-user tallies of the samples with since < time <= until (aware UTC bounds): the
    stored whole-history tallies (`known`, else read), corrected only for the samples stored
    outside (found through the time index). Returns them and the whole-history tallies."""
    stored = known if known is not None else read_all(connection)
    tallies = {name: tally for name, tally in stored.items() if tally.count > 0}
    column = samples_table.c.timestamp
    outside = connection.execute(
        select(samples_table.c.username, column, samples_table.c.active).where(
            or_(column <= since.replace(tzinfo=None), column > until.replace(tzinfo=None))
        )
    ).all()
    if outside:
        samples = [(name, aware(taken_at), active) for name, taken_at, active in outside]
        _correct(connection, tallies, samples, half_life, since, until)
        tallies = {name: tally for name, tally in tallies.items() if tally.count > 0}
    return tallies, stored


def read_all(connection: Connection) -> dict[str, DecayedTally]:
    """Every tally row."""
    rows = connection.exec_driver_sql(_TALLY_SELECT).fetchall()
    return _tallies_of(rows, StoredTimes(connection.dialect))


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
    """The samples of `names` with since < time <= until (aware UTC; None: unbounded), by user,
    oldest first."""
    found: list[RecordedSample] = []
    column = samples_table.c.timestamp
    for chunk in chunks(names):
        query = select(
            samples_table.c.username, column, samples_table.c.active, samples_table.c.last_activity
        ).where(samples_table.c.username.in_(chunk))
        if since is not None:
            query = query.where(column > since.replace(tzinfo=None))
        if until is not None:
            query = query.where(column <= until.replace(tzinfo=None))
        query = query.order_by(samples_table.c.username, column, samples_table.c.id)
        found.extend(
            RecordedSample(
                name, aware(taken_at), bool(active), aware(seen) if seen is not None else None
            )
            for name, taken_at, active, seen in connection.execute(query).all()
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
    connection: Connection,
    samples: Sequence[StoredSample],
    half_life: timedelta,
    known: Tallies | None,
) -> dict[str, DecayedTally]:
    """Fold samples just inserted into their users' tallies; returns those users' new tallies."""
    times = StoredTimes(connection.dialect)
    tallies = _current(connection, {name for name, _, _ in samples}, times, known)
    existing = set(tallies)
    for name, taken_at, active in samples:
        tallies[name] = tallies.get(name, EMPTY).add(taken_at, active, half_life)
    _save(connection, tallies, existing, times)
    return tallies


def take_out(
    connection: Connection,
    samples: Sequence[StoredSample],
    half_life: timedelta,
    known: Tallies | None,
) -> tuple[dict[str, DecayedTally], set[str]]:
    """Take samples just deleted out of their users' tallies. Returns the new tallies of the
    users whose tallies could give the samples up (empty ones are gone), and the users whose
    tallies disagreed with their samples and were refolded from the samples left."""
    times = StoredTimes(connection.dialect)
    tallies = _current(connection, {name for name, _, _ in samples}, times, known)
    existing = set(tallies)
    refold: set[str] = set()
    _subtract(tallies, samples, half_life, refold)
    kept = {name: tally for name, tally in tallies.items() if name not in refold}
    _save(connection, kept, existing - refold, times)
    if refold:
        refold_users(connection, refold, half_life)
    return kept, refold


def merge_user(connection: Connection, old: str, new: str, half_life: timedelta) -> None:
    """After the samples of `old` became `new`'s: one tally for `new`, none for `old`."""
    times = StoredTimes(connection.dialect)
    tallies = _load(connection, {old, new}, times)
    existing = set(tallies)
    merged = tallies.get(new, EMPTY).merge(tallies.get(old, EMPTY), half_life)
    _save(connection, {old: EMPTY, new: merged}, existing, times)


def drop_user(connection: Connection, username: str) -> None:
    """Forget the tally of a user whose samples were deleted."""
    connection.execute(delete(tallies_table).where(tallies_table.c.username == username))


def drop_all(connection: Connection) -> None:
    """Forget every tally (every sample was deleted)."""
    connection.execute(delete(tallies_table))


def rebuild_all(connection: Connection, half_life: timedelta) -> int:
    """Every tally from the samples, in one scan along the time index; records the half-life.
    Returns how many users have a tally."""
    drop_all(connection)
    times = StoredTimes(connection.dialect)
    columns = samples_table.c
    rows = connection.exec_driver_sql(
        f"SELECT {columns.username.name}, {columns.timestamp.name}, {columns.active.name} "
        f"FROM {samples_table.name} ORDER BY {columns.timestamp.name}, {columns.id.name}",
        execution_options={"yield_per": _REBUILD_FETCH_ROWS},
    )
    tallies: dict[str, DecayedTally] = {}
    for partition in rows.partitions():
        for name, taken_at, active in partition:
            tallies[name] = tallies.get(name, EMPTY).add(times.aware(taken_at), active, half_life)
    _insert(connection, tallies, times)
    _put_meta(connection, HALF_LIFE_KEY, half_life_text(half_life))
    new_generation(connection)
    return len(tallies)


def refold_users(connection: Connection, names: Collection[str], half_life: timedelta) -> None:
    """Recompute some users' tallies from all of their stored samples."""
    for chunk in chunks(sorted(names)):
        connection.execute(delete(tallies_table).where(tallies_table.c.username.in_(chunk)))
    _insert(connection, fold_samples(connection, names, half_life), StoredTimes(connection.dialect))


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
            tallies[name] = tallies[name].remove(taken_at, bool(active), half_life)
        except (KeyError, InvalidValue):
            refold.add(name)


# --- rows ------------------------------------------------------------------------------------


def _tallies_of(rows: Iterable[Sequence[Any]], times: StoredTimes) -> dict[str, DecayedTally]:
    """Tallies from rows of `_TALLY_SELECT` as the driver returns them."""
    return {
        name: DecayedTally(
            times.aware(anchor) if anchor is not None else None,
            total_weight,
            active_weight,
            count,
            active_count,
        )
        for name, anchor, total_weight, active_weight, count, active_count in rows
    }


def _row(name: str, tally: DecayedTally, times: StoredTimes) -> tuple[Any, ...]:
    """A tally as the driver takes it for `_TALLY_UPDATE` and `_TALLY_INSERT`."""
    anchor = times.stored(tally.anchor, "anchor") if tally.anchor is not None else None
    return (anchor, tally.total_weight, tally.active_weight, tally.count, tally.active_count, name)


def _current(
    connection: Connection, names: Collection[str], times: StoredTimes, known: Tallies | None
) -> dict[str, DecayedTally]:
    """The stored tallies of `names` (those that have a row): from `known`, else read."""
    if known is None:
        return _load(connection, names, times)
    return {name: known[name] for name in names if name in known}


def _load(
    connection: Connection, names: Iterable[str], times: StoredTimes
) -> dict[str, DecayedTally]:
    found: dict[str, DecayedTally] = {}
    for chunk in chunks(sorted(names)):
        statement = driver_statement(
            connection.dialect,
            f"{_TALLY_SELECT} WHERE username IN ({', '.join(['?'] * len(chunk))})",
        )
        found.update(
            _tallies_of(connection.exec_driver_sql(statement, tuple(chunk)).fetchall(), times)
        )
    return found


def _save(
    connection: Connection,
    tallies: Mapping[str, DecayedTally],
    existing: set[str],
    times: StoredTimes,
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
            updates.append(_row(name, tally, times))
        else:
            inserts[name] = tally
    if updates:
        connection.exec_driver_sql(driver_statement(connection.dialect, _TALLY_UPDATE), updates)
    _insert(connection, inserts, times)
    for chunk in chunks(emptied):
        connection.execute(delete(tallies_table).where(tallies_table.c.username.in_(chunk)))


def _insert(connection: Connection, tallies: Mapping[str, DecayedTally], times: StoredTimes) -> int:
    rows = [_row(name, tally, times) for name, tally in tallies.items() if tally.count > 0]
    if rows:
        connection.exec_driver_sql(driver_statement(connection.dialect, _TALLY_INSERT), rows)
    return len(rows)
