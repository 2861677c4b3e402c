"""Engines for the stores: SQLite (WAL, shared by the hub and the sampler) or PostgreSQL.

SQLite: every connection runs in WAL mode with a busy timeout, and the driver's own transaction
handling is switched off so that we emit BEGIN ourselves: `BEGIN IMMEDIATE` for a write
transaction (it takes the write lock up front, so two processes never deadlock upgrading a read
lock) and a plain deferred `BEGIN` for a read, which sees one consistent snapshot.

PostgreSQL: psycopg 3 with pool_pre_ping, so a connection the server dropped during a restart
is replaced instead of failing the next operation.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from stellars.domain.errors import InvalidValue

#: Execution option that marks a connection's next transaction as a write transaction.
WRITE_OPTION = "stellars_write"

DEFAULT_BUSY_TIMEOUT_SECONDS = 15.0
# Every tick rewrites the same pages (every user's tally row, the newest and the oldest samples).
# Checkpointing the WAL every 32 MiB instead of SQLite's 4 MiB writes each page back once per
# several ticks instead of several times per tick, and fsyncs that much less.
WAL_AUTOCHECKPOINT_PAGES = 8192
# SQLite's default page cache is 2000 KiB, some 500 pages: less than one tick's working set at
# 10,000 users (the tally table and its key index alone are ~300 pages), so the tick re-read
# its pages from the OS many times over (20 us per tally update instead of 3). Allocated as used.
CACHE_SIZE_KIB = 32 * 1024
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10


def create_store_engine(
    url: str | URL,
    *,
    busy_timeout_seconds: float = DEFAULT_BUSY_TIMEOUT_SECONDS,
    connect_timeout_seconds: int = DEFAULT_CONNECT_TIMEOUT_SECONDS,
    pool_size: int = 4,
) -> Engine:
    """An engine for `url`, configured for short transactions shared by several processes.

    SQLite URLs must name a file (`sqlite:////data/stellars.sqlite`); a `timeout` query
    parameter in the URL overrides `busy_timeout_seconds`. `postgresql://` URLs use psycopg 3.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, busy_timeout_seconds, pool_size)
    if backend in {"postgresql", "postgres"}:
        return _postgres_engine(parsed, connect_timeout_seconds, pool_size)
    raise InvalidValue("db_url", f"unsupported database {backend!r}: use sqlite or postgresql")


def _sqlite_engine(url: URL, busy_timeout_seconds: float, pool_size: int) -> Engine:
    if url.database in (None, "", ":memory:") or url.query.get("mode") == "memory":
        raise InvalidValue(
            "db_url", "SQLite needs a file path: an in-memory database cannot be shared"
        )
    timeout = float(url.query.get("timeout", busy_timeout_seconds))  # type: ignore[arg-type]
    url = url.difference_update_query(["timeout"])
    engine = create_engine(
        url,
        connect_args={"timeout": timeout, "check_same_thread": False},
        pool_size=pool_size,
        max_overflow=pool_size,
    )
    busy_ms = int(timeout * 1000)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Driver-level autocommit: the "begin" listener below issues BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            _switch_to_wal(cursor, timeout)
            cursor.execute("PRAGMA synchronous = NORMAL")  # durable enough in WAL mode
            cursor.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
            cursor.execute(f"PRAGMA cache_size = -{CACHE_SIZE_KIB}")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        writing = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine


def _switch_to_wal(cursor: Any, timeout_seconds: float) -> None:
    """Put the file in WAL mode (stored in the file, so done once per database).

    Switching needs an exclusive lock, and SQLite answers a contended switch with "database is
    locked" (or by keeping the old mode) without waiting on the busy timeout; processes opening
    a new database together must therefore retry here for up to that timeout.
    """
    deadline = time.monotonic() + timeout_seconds
    delay = 0.01
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return
            if cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() == "wal":
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        if time.monotonic() >= deadline:
            raise sqlite3.OperationalError("database is locked: could not switch to WAL mode")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def _postgres_engine(url: URL, connect_timeout_seconds: int, pool_size: int) -> Engine:
    if url.drivername in {"postgresql", "postgres"}:
        url = url.set(drivername="postgresql+psycopg")
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"connect_timeout": connect_timeout_seconds},
    )


def is_sqlite(engine: Engine) -> bool:
    """Whether the engine talks to SQLite (as opposed to PostgreSQL)."""
    return engine.dialect.name == "sqlite"
