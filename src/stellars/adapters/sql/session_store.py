"""SessionStore on SQL: one extension deadline per (user, server name) in `session_deadlines`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, and_, delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from stellars.domain.sessions import SessionDeadline
from stellars.domain.timeutil import UTC, require_aware

from .database import SqlDatabase
from .schema import session_deadlines as table

T = TypeVar("T")

_WRITE_LOCK = ("session_deadlines",)


def _naive_utc(value: datetime, field: str) -> datetime:
    return require_aware(value, field).replace(tzinfo=None)


def _deadline_of(row: Row[Any]) -> SessionDeadline:
    return SessionDeadline(
        row.username,
        row.server_name,
        row.started.replace(tzinfo=UTC) if row.started is not None else None,
        row.cull_at.replace(tzinfo=UTC),
    )


class SqlSessionStore:
    """The SessionStore port on a `SqlDatabase`; each method is one short transaction run on
    the database's threads. Raises BackendUnavailable when the database cannot be reached."""

    def __init__(self, database: SqlDatabase) -> None:
        self.database = database

    async def get(self, username: str, server_name: str = "") -> SessionDeadline | None:
        """The deadline of one server, or None."""

        def work(connection: Connection) -> SessionDeadline | None:
            row = connection.execute(
                select(table).where(self._key(username, server_name))
            ).one_or_none()
            return _deadline_of(row) if row is not None else None

        return await self._run(work, write=False)

    async def put(self, deadline: SessionDeadline) -> None:
        """Insert or replace the deadline of that user's server."""
        values = {
            "username": deadline.username,
            "server_name": deadline.server_name,
            "started": (
                _naive_utc(deadline.started, "started") if deadline.started is not None else None
            ),
            "cull_at": _naive_utc(deadline.cull_at, "cull_at"),
        }
        dialect_insert = sqlite_insert if self.database.sqlite else postgresql_insert

        def work(connection: Connection) -> None:
            statement = dialect_insert(table).values(values)
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[table.c.username, table.c.server_name],
                    set_={"started": values["started"], "cull_at": values["cull_at"]},
                )
            )

        await self._run(work, write=True)

    async def delete(self, username: str, server_name: str = "") -> bool:
        """Forget one deadline; True if there was one."""

        def work(connection: Connection) -> bool:
            removed = connection.execute(delete(table).where(self._key(username, server_name)))
            return removed.rowcount > 0

        return await self._run(work, write=True)

    async def all_deadlines(self) -> list[SessionDeadline]:
        """Every stored deadline, ordered by user and server name."""

        def work(connection: Connection) -> list[SessionDeadline]:
            query = select(table).order_by(table.c.username, table.c.server_name)
            return [_deadline_of(row) for row in connection.execute(query)]

        return await self._run(work, write=False)

    async def rename_user(self, old: str, new: str) -> int:
        """Move the deadlines of `old` to `new`, replacing any `new` had."""

        def work(connection: Connection) -> int:
            if old == new:
                return len(
                    connection.execute(
                        select(table.c.username).where(table.c.username == old)
                    ).all()
                )
            connection.execute(delete(table).where(table.c.username == new))
            return int(
                connection.execute(
                    update(table).where(table.c.username == old).values(username=new)
                ).rowcount
            )

        return await self._run(work, write=True)

    async def delete_user(self, username: str) -> int:
        """Forget every deadline of a user; returns how many."""

        def work(connection: Connection) -> int:
            return int(
                connection.execute(delete(table).where(table.c.username == username)).rowcount
            )

        return await self._run(work, write=True)

    @staticmethod
    def _key(username: str, server_name: str) -> Any:
        return and_(table.c.username == username, table.c.server_name == server_name)

    async def _run(self, work: Callable[[Connection], T], *, write: bool) -> T:
        def transaction() -> T:
            context = self.database.writing(_WRITE_LOCK) if write else self.database.reading()
            with context as connection:
                return work(connection)

        return await self.database.run(transaction)
