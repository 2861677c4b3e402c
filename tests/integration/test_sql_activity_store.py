"""SqlActivityStore beyond the port's contract: how it reads (no sample scan for scores), where it
runs (off the event loop, short transactions), the half-life it was built for, and outages."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event

from stellars.adapters.sql import SqlActivityStore, SqlDatabase, create_store_engine
from stellars.adapters.sql.tallies import HALF_LIFE_KEY
from stellars.domain.activity import ActivityPolicy, RecordedSample, score_samples, tally_samples
from stellars.domain.errors import BackendUnavailable, InvalidValue
from tests.backends import free_port

POLICY = ActivityPolicy()
NOW = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
WINDOW = {"since": NOW - POLICY.retention, "until": NOW}


def history(users: int, samples_per_user: int) -> list[RecordedSample]:
    return [
        RecordedSample(f"user{u:03d}", NOW - timedelta(minutes=10 * s), (u + s) % 3 == 0)
        for u in range(users)
        for s in range(samples_per_user)
    ]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.real)])
def database(request, tmp_path) -> Iterator[SqlDatabase]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'activity.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    db = SqlDatabase(create_store_engine(url))
    try:
        yield db
    finally:
        db.close()


class StatementLog:
    """SQL statements the engine sends, with the thread that sent them."""

    def __init__(self, database: SqlDatabase) -> None:
        self.statements: list[tuple[str, str]] = []
        self.engine = database.engine
        event.listen(self.engine, "before_cursor_execute", self._record)

    def _record(self, _conn, _cursor, statement, _params, _context, _many) -> None:
        self.statements.append((" ".join(statement.split()), threading.current_thread().name))

    def clear(self) -> None:
        self.statements.clear()

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)


@pytest.fixture
def statements(database) -> Iterator[StatementLog]:
    log = StatementLog(database)
    try:
        yield log
    finally:
        log.close()


async def test_scores_for_every_user_read_tallies_not_samples(database, statements):
    store = SqlActivityStore(database, half_life=POLICY.half_life)
    rows = history(users=60, samples_per_user=50)
    await store.add(rows)
    statements.clear()
    tallies = await store.tallies(**WINDOW)
    assert len(tallies) == 60
    queries = [s for s, _ in statements.statements if s.upper().startswith("SELECT")]
    # the half-life check, the tally table, and the samples outside the window (via the index)
    assert len(queries) == 3, queries
    assert "FROM activity_tallies" in queries[1]
    outside = queries[2]
    assert "FROM activity_samples" in outside
    assert "activity_samples.timestamp <=" in outside
    assert "activity_samples.timestamp >" in outside
    for user, tally in tallies.items():
        mine = [r for r in rows if r.username == user]
        assert tally.score(POLICY) == score_samples(mine, now=NOW, policy=POLICY)


async def test_the_out_of_window_query_uses_the_time_index_on_sqlite(tmp_path):
    database = SqlDatabase(create_store_engine(f"sqlite:///{tmp_path / 'plan.sqlite'}"))
    try:
        store = SqlActivityStore(database, half_life=POLICY.half_life)
        await store.add(history(users=20, samples_per_user=20))
        connection = sqlite3.connect(tmp_path / "plan.sqlite")
        plan = connection.execute(
            "EXPLAIN QUERY PLAN SELECT username, timestamp, active FROM activity_samples "
            "WHERE timestamp <= ? OR timestamp > ?",
            ("2026-04-24 12:00:00.000000", "2026-05-01 12:00:00.000000"),
        ).fetchall()
        connection.close()
        details = " | ".join(row[-1] for row in plan)
        assert "ix_activity_samples_timestamp" in details, details
        assert "SCAN activity_samples" not in details.replace("USING INDEX", ""), details
    finally:
        database.close()


async def test_sql_runs_on_the_stores_threads_and_returns_its_connections(database, statements):
    store = SqlActivityStore(database, half_life=POLICY.half_life)
    await store.add(history(users=3, samples_per_user=3))
    await store.tallies(**WINDOW)
    await store.prune(older_than=NOW - timedelta(minutes=5))
    threads = {thread for _, thread in statements.statements}
    assert threads and all(name.startswith("stellars-sql") for name in threads), threads
    assert threading.current_thread().name not in threads
    assert database.engine.pool.checkedout() == 0


async def test_prune_deletes_in_bounded_transactions(tmp_path):
    database = SqlDatabase(create_store_engine(f"sqlite:///{tmp_path / 'prune.sqlite'}"))
    log = StatementLog(database)
    try:
        store = SqlActivityStore(database, half_life=POLICY.half_life, prune_batch_size=7)
        await store.add(history(users=2, samples_per_user=10))
        log.clear()
        assert await store.prune(older_than=NOW) == 20
        begins = [s for s, _ in log.statements if s == "BEGIN IMMEDIATE"]
        assert len(begins) == 3  # 7 + 7 + 6: the short batch ends the loop
        assert (await store.summary()).samples == 0
        assert await store.tallies(**WINDOW) == {}
    finally:
        log.close()
        database.close()


async def test_a_store_built_for_another_half_life_rebuilds_the_tallies(database, caplog):
    rows = history(users=5, samples_per_user=30)
    await SqlActivityStore(database, half_life=POLICY.half_life).add(rows)
    faster = ActivityPolicy(half_life_hours=2)
    store = SqlActivityStore(database, half_life=faster.half_life)
    with caplog.at_level(logging.WARNING, logger="stellars.adapters.sql.activity_store"):
        tallies = await store.tallies(**WINDOW)
    assert "rebuilding" in caplog.text
    for user, tally in tallies.items():
        mine = [r for r in rows if r.username == user]
        assert tally.score(faster) == score_samples(mine, now=NOW, policy=faster)
        expected = tally_samples(sorted(mine, key=lambda r: r.taken_at), faster.half_life)
        assert tally.total_weight == pytest.approx(expected.total_weight, rel=1e-12)
    with database.reading() as connection:
        recorded = connection.exec_driver_sql(
            f"SELECT value FROM stellars_meta WHERE key = '{HALF_LIFE_KEY}'"
        ).scalar()
    assert recorded == str(faster.half_life // timedelta(microseconds=1))
    # and writes through the first store switch them back before touching them
    back = SqlActivityStore(database, half_life=POLICY.half_life)
    await back.add([RecordedSample("user000", NOW, True)])
    mine = [r for r in rows if r.username == "user000"] + [RecordedSample("user000", NOW, True)]
    tally = (await back.tallies(**WINDOW))["user000"]
    assert tally.score(POLICY) == score_samples(mine, now=NOW, policy=POLICY)


async def test_rebuild_tallies_recomputes_every_user(database):
    store = SqlActivityStore(database, half_life=POLICY.half_life)
    rows = history(users=4, samples_per_user=10)
    await store.add(rows)
    before = await store.tallies(**WINDOW)
    assert await store.rebuild_tallies() == 4
    after = await store.tallies(**WINDOW)
    for user in before:
        assert after[user].score(POLICY) == before[user].score(POLICY)
        assert after[user].total_weight == pytest.approx(before[user].total_weight, rel=1e-12)


async def test_naive_times_are_refused_before_any_sql(database, statements):
    store = SqlActivityStore(database, half_life=POLICY.half_life)
    with pytest.raises(InvalidValue, match="taken_at"):
        await store.add([RecordedSample("alice", NOW.replace(tzinfo=None), True)])
    with pytest.raises(InvalidValue, match="since"):
        await store.tallies(since=NOW.replace(tzinfo=None), until=NOW)
    with pytest.raises(InvalidValue, match="older_than"):
        await store.prune(older_than=NOW.replace(tzinfo=None))
    with pytest.raises(InvalidValue, match="prune_batch_size"):
        SqlActivityStore(database, half_life=POLICY.half_life, prune_batch_size=0)
    assert statements.statements == []


async def test_a_locked_sqlite_database_is_a_backend_failure_then_recovers(tmp_path):
    path = tmp_path / "locked.sqlite"
    database = SqlDatabase(create_store_engine(f"sqlite:///{path}?timeout=0.2"))
    try:
        store = SqlActivityStore(database, half_life=POLICY.half_life)
        await store.add([RecordedSample("alice", NOW, True)])
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(BackendUnavailable, match="database is locked"):
                await store.add([RecordedSample("alice", NOW + timedelta(minutes=10), True)])
            # readers are not blocked by a writer in WAL mode
            assert (await store.tallies(**WINDOW))["alice"].count == 1
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        await store.add([RecordedSample("alice", NOW + timedelta(minutes=20), True)])
        assert (await store.summary()).samples == 2
    finally:
        database.close()


async def test_an_unreachable_database_is_a_backend_failure(tmp_path):
    for url in [
        f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.sqlite'}",
        f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing",
    ]:
        database = SqlDatabase(create_store_engine(url))
        try:
            store = SqlActivityStore(database, half_life=POLICY.half_life)
            with pytest.raises(BackendUnavailable, match="unavailable"):
                await store.summary()
        finally:
            database.close()


def test_engine_urls_are_checked():
    with pytest.raises(InvalidValue, match="file path"):
        create_store_engine("sqlite://")
    with pytest.raises(InvalidValue, match="file path"):
        create_store_engine("sqlite:///:memory:")
    with pytest.raises(InvalidValue, match="unsupported database 'mysql'"):
        create_store_engine("mysql://localhost/x")
    engine = create_store_engine("postgresql://u@localhost/db")
    assert engine.url.drivername == "postgresql+psycopg"
    engine.dispose()
