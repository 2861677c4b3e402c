"""SessionStore on SQL: one extension deadline per (user, server name) in `session_deadlines`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from stellars.domain.sessions import SessionDeadline

from .database import SqlDatabase
from .rows import aware, naive_utc
from .schema import session_deadlines as table

_WRITE_LOCK = ("session_deadlines",)

# Deadline rows are read by position, in this order.
_COLUMNS = (table.c.username, table.c.server_name, table.c.started, table.c.cull_at)


def _deadline_of(row: tuple[str, str, datetime | None, datetime]) -> SessionDeadline:
    username, server_name, started, cull_at = row
    return SessionDeadline(
        username, server_name, aware(started) if started is not None else None, aware(cull_at)
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
                select(*_COLUMNS).where(self._key(username, server_name))
            ).one_or_none()
            return _deadline_of(row) if row is not None else None

        return await self.database.transaction(work, write=False)

    async def put(self, deadline: SessionDeadline) -> None:
        """Insert or replace the deadline of that user's server."""
        values = {
            "username": deadline.username,
            "server_name": deadline.server_name,
            "started": (
                naive_utc(deadline.started, "started") if deadline.started is not None else None
            ),
            "cull_at": naive_utc(deadline.cull_at, "cull_at"),
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

        await self.database.transaction(work, write=True, lock_tables=_WRITE_LOCK)

    async def delete(self, username: str, server_name: str = "") -> bool:
        """Forget one deadline; True if there was one."""

        def work(connection: Connection) -> bool:
            removed = connection.execute(delete(table).where(self._key(username, server_name)))
            return removed.rowcount > 0

        return await self.database.transaction(work, write=True, lock_tables=_WRITE_LOCK)

    async def all_deadlines(self) -> list[SessionDeadline]:
        """Every stored deadline, ordered by user and server name."""

        def work(connection: Connection) -> list[SessionDeadline]:
            query = select(*_COLUMNS).order_by(table.c.username, table.c.server_name)
            return [_deadline_of(row) for row in connection.execute(query)]

        return await self.database.transaction(work, write=False)

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

        return await self.database.transaction(work, write=True, lock_tables=_WRITE_LOCK)

    async def delete_user(self, username: str) -> int:
        """Forget every deadline of a user; returns how many."""

        def work(connection: Connection) -> int:
            return int(
                connection.execute(delete(table).where(table.c.username == username)).rowcount
            )

        return await self.database.transaction(work, write=True, lock_tables=_WRITE_LOCK)

    @staticmethod
    def _key(username: str, server_name: str) -> Any:
        return and_(table.c.username == username, table.c.server_name == server_name)
