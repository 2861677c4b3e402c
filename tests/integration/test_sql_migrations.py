"""Schema versions: an old schema with data in it is upgraded without losing anything.

Revision 0001 is the original platform's `activity_samples` table, so a database the original
wrote (no version table at all) is adopted: stamped at 0001, upgraded, every sample kept and
tallied exactly.
"""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    String,
    create_engine,
    inspect,
    text,
)
from sqlalchemy.orm import Session, declarative_base

from stellars.adapters.sql import (
    SchemaMismatch,
    SqlActivityStore,
    SqlDatabase,
    SqlEventLog,
    SqlServerStopStore,
    SqlSessionStore,
    create_store_engine,
    head_revision,
)
from stellars.adapters.sql.migrations import VERSION_TABLE
from stellars.domain.activity import ActivityPolicy, RecordedSample, score_samples, tally_samples
from stellars.domain.events import PlatformEvent
from stellars.domain.sessions import SessionDeadline
from stellars.domain.stops import ServerStop, StopReason

POLICY = ActivityPolicy()
NOW = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
WINDOW = {"since": NOW - POLICY.retention, "until": NOW}

# The original platform's model (reference spec 2.12), verbatim in structure: its own metadata,
# `create_all`, aware UTC datetimes written into naive DateTime columns.
OriginalBase = declarative_base()


class OriginalActivitySample(OriginalBase):
    __tablename__ = "activity_samples"
    id = Column(Integer, primary_key=True, autoincrement=True)
    username = Column(String(255), nullable=False, index=True)
    timestamp = Column(DateTime, nullable=False, index=True)
    last_activity = Column(DateTime, nullable=True)
    active = Column(Boolean, default=False)
    __table_args__ = (Index("ix_activity_user_time", "username", "timestamp"),)


def original_history(seed: int = 7) -> list[RecordedSample]:
    """Eight days of 10-minute samples for three users (one day older than the window)."""
    rng = random.Random(seed)
    rows = []
    for user, chance in [("alice", 0.8), ("bob", 0.3), ("carol", 0.0)]:
        for step in range(8 * 144):
            taken = NOW - timedelta(minutes=10 * step)
            active = rng.random() < chance
            seen = taken - timedelta(minutes=5 if active else 300)
            rows.append(RecordedSample(user, taken, active, seen if chance else None))
    return rows


def write_like_the_original(url: str, rows: list[RecordedSample]) -> None:
    engine = create_engine(url)
    try:
        OriginalBase.metadata.create_all(engine)
        with Session(engine) as session:
            session.add_all(
                OriginalActivitySample(
                    username=row.username,
                    timestamp=row.taken_at,
                    last_activity=row.server_last_activity,
                    active=row.active,
                )
                for row in rows
            )
            session.commit()
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.real)])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'original.sqlite'}"
    return request.getfixturevalue("postgres_url")


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


async def assert_history_kept(store: SqlActivityStore, rows: list[RecordedSample]) -> None:
    for user in ["alice", "bob", "carol"]:
        mine = sorted((r for r in rows if r.username == user), key=lambda r: r.taken_at)
        got = await store.samples(user, since=NOW - timedelta(days=30), until=NOW)
        assert got == mine
    summary = await store.summary()
    assert (summary.samples, summary.users) == (len(rows), 3)
    tallies = await store.tallies(**WINDOW)
    for user, tally in tallies.items():
        mine = [r for r in rows if r.username == user]
        assert tally.score(POLICY) == score_samples(mine, now=NOW, policy=POLICY)


async def test_a_database_of_the_original_platform_is_adopted_with_all_its_samples(db_url):
    rows = original_history()
    write_like_the_original(db_url, rows)
    assert VERSION_TABLE not in tables(db_url)
    database = SqlDatabase(create_store_engine(db_url))
    try:
        store = SqlActivityStore(database, half_life=POLICY.half_life)
        await assert_history_kept(store, rows)
        assert database.revision() == head_revision()
        # The stored tallies cover every sample, the day outside the window included.
        by_user = await store.tallies(since=NOW - timedelta(days=30), until=NOW)
        for user, tally in by_user.items():
            expected = tally_samples([r for r in rows if r.username == user], POLICY.half_life)
            assert (tally.count, tally.active_count) == (expected.count, expected.active_count)
        # and it keeps working: a new sample, a prune at the window's start
        await store.add([RecordedSample("alice", NOW + timedelta(minutes=10), True)])
        assert await store.prune(older_than=NOW - POLICY.retention) == 3 * 144
    finally:
        database.close()
    assert {
        "activity_samples",
        "activity_tallies",
        "stellars_meta",
        "session_deadlines",
        "stellars_events",
    } <= tables(db_url)


async def test_an_upgrade_from_revision_0001_with_data_loses_nothing(db_url):
    rows = original_history(seed=11)
    database = SqlDatabase(create_store_engine(db_url))
    try:
        assert database.upgrade_schema("0001") is None
        assert database.revision() == "0001"
        assert "activity_tallies" not in tables(db_url)
        with database.writing() as connection:
            connection.execute(
                text(
                    "INSERT INTO activity_samples (username, timestamp, last_activity, active) "
                    "VALUES (:username, :timestamp, :last_activity, :active)"
                ),
                [
                    {
                        "username": r.username,
                        "timestamp": r.taken_at.replace(tzinfo=None),
                        "last_activity": (
                            r.server_last_activity.replace(tzinfo=None)
                            if r.server_last_activity
                            else None
                        ),
                        "active": r.active,
                    }
                    for r in rows
                ],
            )
        store = SqlActivityStore(database, half_life=POLICY.half_life)
        await assert_history_kept(store, rows)  # first use upgrades to head
        assert database.revision() == head_revision()
    finally:
        database.close()


async def test_an_upgrade_from_revision_0003_with_data_keeps_everything(db_url):
    rows = original_history(seed=3)
    deadline = SessionDeadline("alice", "", NOW - timedelta(hours=2), NOW + timedelta(hours=5))
    database = SqlDatabase(create_store_engine(db_url))
    try:
        database.upgrade_schema("0003")
        assert database.revision() == "0003"
        assert "stellars_events" not in tables(db_url)
        store = SqlActivityStore(database, half_life=POLICY.half_life)
        sessions = SqlSessionStore(database)
        # Written through 0003's tables directly: the stores would upgrade the schema first.
        with database.writing() as connection:
            connection.execute(
                text(
                    "INSERT INTO activity_samples (username, timestamp, last_activity, active) "
                    "VALUES (:username, :timestamp, NULL, :active)"
                ),
                [
                    {
                        "username": r.username,
                        "timestamp": r.taken_at.replace(tzinfo=None),
                        "active": r.active,
                    }
                    for r in rows
                ],
            )
            connection.execute(
                text(
                    "INSERT INTO session_deadlines (username, server_name, started, cull_at) "
                    "VALUES ('alice', '', :started, :cull_at)"
                ),
                {
                    "started": deadline.started.replace(tzinfo=None),
                    "cull_at": deadline.cull_at.replace(tzinfo=None),
                },
            )
        assert database.upgrade_schema() == "0003"
        assert database.revision() == head_revision()
        assert "stellars_events" in tables(db_url)
        kept = [RecordedSample(r.username, r.taken_at, r.active) for r in rows]
        await assert_history_kept(store, kept)
        assert await sessions.all_deadlines() == [deadline]
        events = SqlEventLog(database)
        recorded = await events.record(PlatformEvent("cull", NOW, "idle"))
        assert await events.since(0) == [recorded]
    finally:
        database.close()


async def test_another_alembic_users_version_table_is_left_alone(db_url):
    # e.g. stellars pointed at JupyterHub's own database, which alembic versions too
    engine = create_engine(db_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('jupyterhub-head')"))
    engine.dispose()
    database = SqlDatabase(create_store_engine(db_url))
    try:
        database.ensure_schema()
        with database.reading() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).all() == [
                ("jupyterhub-head",)
            ]
        assert database.revision() == head_revision()
    finally:
        database.close()


async def test_an_unknown_activity_samples_table_is_not_adopted(db_url):
    engine = create_engine(db_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE activity_samples (id INTEGER, who TEXT)"))
    engine.dispose()
    database = SqlDatabase(create_store_engine(db_url))
    try:
        with pytest.raises(SchemaMismatch, match="refusing to adopt"):
            database.ensure_schema()
    finally:
        database.close()


def test_the_head_schema_has_the_indexes_the_fast_path_needs_and_no_more(db_url):
    database = SqlDatabase(create_store_engine(db_url))
    try:
        database.ensure_schema()
        with database.reading() as connection:
            inspector = inspect(connection)
            indexes = {
                i["name"]: i["column_names"] for i in inspector.get_indexes("activity_samples")
            }
            tally_key = inspector.get_pk_constraint("activity_tallies")["constrained_columns"]
            deadline_key = inspector.get_pk_constraint("session_deadlines")["constrained_columns"]
            event_indexes = {
                i["name"]: i["column_names"] for i in inspector.get_indexes("stellars_events")
            }
            event_key = inspector.get_pk_constraint("stellars_events")["constrained_columns"]
            stop_key = inspector.get_pk_constraint("server_stops")["constrained_columns"]
            stop_indexes = inspector.get_indexes("server_stops")
    finally:
        database.close()
    # Only the time index: one per user would make every tick write a page per user (0005).
    assert indexes == {"ix_activity_samples_timestamp": ["timestamp"]}
    assert tally_key == ["username"]
    assert deadline_key == ["username", "server_name"]
    assert event_indexes == {"ix_stellars_events_at": ["at"]}
    assert event_key == ["id"]
    # One row per server, found by its key alone (0006).
    assert (stop_key, stop_indexes) == (["username", "server_name"], [])


_FIRST_USE = """
import asyncio, sys
from datetime import datetime, timedelta, timezone
from stellars.adapters.sql import SqlActivityStore, SqlDatabase, create_store_engine
from stellars.domain.activity import RecordedSample

database = SqlDatabase(create_store_engine(sys.argv[1]))
store = SqlActivityStore(database, half_life=timedelta(hours=72))
now = datetime(2026, 5, 1, tzinfo=timezone.utc)
asyncio.run(store.add([RecordedSample("user" + sys.argv[2], now, True)]))
database.close()
"""


def test_processes_starting_together_on_a_new_database_migrate_it_once(db_url):
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _FIRST_USE, db_url, str(index)], stderr=subprocess.PIPE
        )
        for index in range(4)
    ]
    errors = [process.communicate(timeout=120)[1].decode() for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0, 0], errors
    database = SqlDatabase(create_store_engine(db_url))
    try:
        assert database.revision() == head_revision()
        with database.reading() as connection:
            assert connection.execute(text("SELECT count(*) FROM activity_samples")).scalar() == 4
            assert connection.execute(text(f"SELECT count(*) FROM {VERSION_TABLE}")).scalar() == 1
    finally:
        database.close()


async def test_an_upgrade_from_revision_0006_keeps_each_stop_with_no_details(db_url):
    database = SqlDatabase(create_store_engine(db_url))
    try:
        database.upgrade_schema("0006")
        with database.writing() as connection:
            connection.execute(
                text(
                    "INSERT INTO server_stops (username, server_name, at, reason, exit_code, "
                    "memory_limit, detail) VALUES ('alice', 'gpu', :at, 'out_of_memory', 137, "
                    "1024, 'oom')"
                ),
                {"at": NOW.replace(tzinfo=None)},
            )
        assert database.upgrade_schema() == "0006"
        assert database.revision() == head_revision()
        stops = SqlServerStopStore(database)
        assert await stops.last("alice", "gpu") == ServerStop(
            username="alice",
            server="gpu",
            at=NOW,
            reason=StopReason.OUT_OF_MEMORY,
            exit_code=137,
            memory_limit=1024,
            detail="oom",
        )
        culled = ServerStop(
            username="bob",
            server="",
            at=NOW,
            reason=StopReason.CULLED,
            idle_since=NOW - timedelta(hours=1),
        )
        await stops.record(culled)
        assert await stops.last("bob") == culled
    finally:
        database.close()
