"""One database shared by the stores: short transactions, run off the event loop.

Every store operation borrows a pooled connection for one transaction and gives it back; no
session outlives an operation. The blocking work runs on a small thread pool owned by the
database object, so the event loop of the hub or of the sampler never waits on SQL.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, Engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from stellars.domain.errors import BackendUnavailable
from stellars.domain.secrets import mask_password

from . import migrations
from .engine import WRITE_OPTION, create_store_engine, is_sqlite

log = logging.getLogger(__name__)

T = TypeVar("T")

# Serialises schema upgrades of concurrent processes on PostgreSQL (any constant will do).
_MIGRATION_LOCK_KEY = 0x5E11A125

#: Errors that mean "the database cannot be reached or is busy right now", not a bug of ours.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    sa_exc.DisconnectionError,
)


class SqlDatabase:
    """The engine, its thread pool and the schema of one stellars database.

    `engine`: built by `create_store_engine`; `max_workers`: threads running SQL at once.
    The schema is created or upgraded on first use (and retried on the next use if the
    database was unreachable). Call `close()` when done.
    """

    def __init__(self, engine: Engine, *, max_workers: int = 4) -> None:
        self.engine = engine
        self.sqlite = is_sqlite(engine)
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix="stellars-sql")
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str | URL, *, max_workers: int = 4) -> SqlDatabase:
        """A database on `url` with the engine settings of `create_store_engine`."""
        return cls(create_store_engine(url), max_workers=max_workers)

    @property
    def url_text(self) -> str:
        """The URL without its passwords (the user part's and any in the query), for messages."""
        return mask_password(self.engine.url.render_as_string(hide_password=False))

    def close(self) -> None:
        """Stop the thread pool and close every pooled connection."""
        self._executor.shutdown(wait=True)
        self.engine.dispose()

    # --- schema --------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create or upgrade the schema to the head revision, once per process (blocking)."""
        if self._schema_ready:
            return
        with self._schema_lock:
            if self._schema_ready:
                return
            self.upgrade_schema("head")
            self._schema_ready = True

    def upgrade_schema(self, revision: str = "head") -> str | None:
        """Upgrade to `revision` under a lock that serialises concurrent processes (blocking);
        returns the revision found before."""
        with self.writing() as connection:
            if not self.sqlite:  # SQLite's BEGIN IMMEDIATE is the lock there
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            before = migrations.upgrade(connection, revision)
        target = migrations.head_revision() if revision == "head" else revision
        if before != target:
            log.info("database %s schema upgraded: %s -> %s", self.url_text, before, target)
        return before

    def revision(self) -> str | None:
        """The schema revision the database is at (blocking)."""
        with self.reading() as connection:
            return migrations.current_revision(connection)

    # --- transactions --------------------------------------------------------------------

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read transaction that sees one consistent snapshot (blocking)."""
        with self.engine.connect() as connection:
            if not self.sqlite:
                connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                yield connection

    @contextmanager
    def writing(self, lock_tables: Sequence[str] = ()) -> Iterator[Connection]:
        """A write transaction that holds the writer lock of `lock_tables` from its start
        (SQLite: the database's write lock; PostgreSQL: EXCLUSIVE table locks, which still
        let readers in). Blocking."""
        with self.engine.connect() as connection:
            connection.execution_options(**{WRITE_OPTION: True})
            with connection.begin():
                if lock_tables and not self.sqlite:
                    names = ", ".join(sorted(lock_tables))  # one order: no lock-order deadlocks
                    connection.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
                yield connection

    def call(self, work: Callable[[], T]) -> T:
        """Run blocking `work` with the schema in place, translating outages (blocking)."""
        try:
            self.ensure_schema()
            return work()
        except UNAVAILABLE_ERRORS as exc:
            reason = getattr(exc, "orig", None) or exc
            raise BackendUnavailable(
                f"database {self.url_text} unavailable: {type(reason).__name__}: {reason}"
            ) from exc

    async def run(self, work: Callable[[], T]) -> T:
        """Run blocking `work` on the database's threads; the caller's event loop stays free."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(self.call, work))

    async def transaction(
        self,
        work: Callable[[Connection], T],
        *,
        write: bool,
        lock_tables: Sequence[str] = (),
    ) -> T:
        """Run `work` in one transaction on the database's threads: the stores' only idiom.

        `write=False`: a read snapshot (`reading`); `write=True`: a write transaction holding
        the writer lock of `lock_tables` from its start (`writing`). A read never locks tables.
        """
        if lock_tables and not write:
            raise ValueError("lock_tables is for write transactions only")
        return await self.run(functools.partial(self._in_transaction, work, write, lock_tables))

    def _in_transaction(
        self, work: Callable[[Connection], T], write: bool, lock_tables: Sequence[str]
    ) -> T:
        context = self.writing(lock_tables) if write else self.reading()
        with context as connection:
            return work(connection)
