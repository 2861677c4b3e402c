"""SqlActivityStore beyond the port's contract: how it reads (no sample scan for scores, no tally
rows it already knows), where it runs (off the event loop, short transactions), the half-life it
was built for, stores of several processes on one database, and outages."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from stellars.adapters.sql import SqlActivityStore, SqlDatabase, create_store_engine
from stellars.adapters.sql.tallies import HALF_LIFE_KEY
from stellars.domain.activity import ActivityPolicy, RecordedSample, score_samples, tally_samples
from stellars.domain.errors import BackendUnavailable, InvalidValue
from tests.backends import free_port
from tests.strategies import durations

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


def tally_reads(statements: StatementLog) -> list[str]:
    return [s for s, _ in statements.statements if "FROM activity_tallies" in s]


async def test_tally_rows_it_knows_are_not_read_again(database, statements):
    store = SqlActivityStore(database, half_life=POLICY.half_life)
    rows = history(users=30, samples_per_user=20)
    await store.add(rows)
    first = await store.tallies(**WINDOW)
    statements.clear()
    again = await store.tallies(**WINDOW)
    assert again == first
    assert tally_reads(statements) == []  # known from the first read: same generation
    # A tick: the store neither reads the rows it updates nor reads back what it wrote.
    later = [RecordedSample(f"user{u:03d}", NOW + timedelta(minutes=10), True) for u in range(30)]
    await store.add(later)
    await store.prune(older_than=NOW - timedelta(minutes=10 * 19))
    after = await store.tallies(since=NOW - POLICY.retention, until=NOW + timedelta(minutes=10))
    assert tally_reads(statements) == []
    for user, tally in after.items():
        mine = [
            r
            for r in rows + later
            if r.username == user and r.taken_at > NOW - timedelta(minutes=190)
        ]
        assert (tally.count, tally.active_count) == (len(mine), sum(r.active for r in mine))
        assert tally.score(POLICY) == score_samples(
            mine, now=NOW + timedelta(minutes=10), policy=POLICY
        )


async def test_what_another_store_changed_is_read_again(database, statements):
    """Two stores on one database, as the hub's and the sampler's processes have."""
    hub = SqlActivityStore(database, half_life=POLICY.half_life)
    sampler = SqlActivityStore(database, half_life=POLICY.half_life)
    await sampler.add([RecordedSample("alice", NOW - timedelta(hours=1), True)])
    assert (await hub.tallies(**WINDOW))["alice"].count == 1
    await sampler.add([RecordedSample("alice", NOW, False)])
    statements.clear()
    tally = (await hub.tallies(**WINDOW))["alice"]
    assert len(tally_reads(statements)) == 1
    assert (tally.count, tally.active_count) == (2, 1)
    # a prune that finds nothing to delete changes no tally: what the hub knows stays current
    assert await sampler.prune(older_than=NOW - POLICY.retention) == 0
    statements.clear()
    assert (await hub.tallies(**WINDOW))["alice"] == tally
    assert tally_reads(statements) == []
    # and a write on stale knowledge would corrupt the tallies: it reads the rows again
    await sampler.rename_user("alice", "ann")
    await hub.add([RecordedSample("ann", NOW, True)])
    tally = (await sampler.tallies(**WINDOW))["ann"]
    assert (tally.count, tally.active_count) == (3, 2)


_NAMES = ["ann", "bo", "cy"]


@st.composite
def shared_operations(draw):
    """Operations, each done by one of two stores on the same database."""
    operations = []
    for _ in range(draw(st.integers(1, 10))):
        by = draw(st.integers(0, 1))
        kind = draw(st.sampled_from(["add", "add", "read", "prune", "rename", "delete"]))
        if kind == "add":
            batch = [
                RecordedSample(
                    draw(st.sampled_from(_NAMES)),
                    NOW - draw(durations(timedelta(0), POLICY.retention)),
                    draw(st.booleans()),
                )
                for _ in range(draw(st.integers(1, 6)))
            ]
            operations.append((by, "add", batch))
        elif kind == "prune":
            operations.append((by, "prune", NOW - draw(durations(timedelta(0), POLICY.retention))))
        elif kind == "rename":
            operations.append(
                (by, "rename", draw(st.sampled_from(_NAMES)), draw(st.sampled_from(_NAMES)))
            )
        elif kind == "delete":
            operations.append((by, "delete", draw(st.sampled_from(_NAMES))))
        else:
            operations.append((by, "read"))
    return operations


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=shared_operations())
async def test_two_stores_sharing_a_database_keep_exact_tallies(database, operations):
    stores = [SqlActivityStore(database, half_life=POLICY.half_life) for _ in range(2)]
    await stores[0].reset()
    shadow: list[RecordedSample] = []
    for by, kind, *arguments in operations:
        store = stores[by]
        if kind == "add":
            await store.add(arguments[0])
            shadow.extend(arguments[0])
        elif kind == "prune":
            await store.prune(older_than=arguments[0])
            shadow = [r for r in shadow if r.taken_at > arguments[0]]
        elif kind == "rename":
            old, new = arguments
            await store.rename_user(old, new)
            shadow = [
                RecordedSample(new, r.taken_at, r.active) if r.username == old else r
                for r in shadow
            ]
        elif kind == "delete":
            await store.delete_user(arguments[0])
            shadow = [r for r in shadow if r.username != arguments[0]]
        else:
            await store.tallies(**WINDOW)
        window = [r for r in shadow if r.taken_at > WINDOW["since"]]
        for reader in stores:
            tallies = await reader.tallies(**WINDOW)
            assert set(tallies) == {r.username for r in window}
            for user, tally in tallies.items():
                mine = [r for r in window if r.username == user]
                assert (tally.count, tally.active_count) == (len(mine), sum(r.active for r in mine))
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
        # A last full batch knows that nothing is left: no transaction to find nothing.
        await store.add(history(users=2, samples_per_user=7))
        log.clear()
        assert await store.prune(older_than=NOW) == 14
        assert [s for s, _ in log.statements if s == "BEGIN IMMEDIATE"] == ["BEGIN IMMEDIATE"] * 2
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
