"""ServerStopStore on SQL: the last stop of each server, one row per (user, server name) in
`server_stops`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from stellars.domain.stops import ServerStop, StopReason

from .database import SqlDatabase
from .rows import aware, naive_utc
from .schema import server_stops as table

_WRITE_LOCK = ("server_stops",)

# Stop rows are read by position, in this order.
_COLUMNS = (
    table.c.username,
    table.c.server_name,
    table.c.at,
    table.c.reason,
    table.c.exit_code,
    table.c.memory_limit,
    table.c.detail,
    table.c.actor,
    table.c.idle_since,
    table.c.log_tail,
)


def _stop_of(row: Any) -> ServerStop:
    (
        username,
        server_name,
        at,
        reason,
        exit_code,
        memory_limit,
        detail,
        actor,
        idle_since,
        log_tail,
    ) = row
    return ServerStop(
        username=username,
        server=server_name,
        at=aware(at),
        reason=StopReason(reason),
        exit_code=exit_code,
        memory_limit=memory_limit,
        detail=detail,
        actor=actor,
        idle_since=None if idle_since is None else aware(idle_since),
        log_tail=log_tail,
    )


class SqlServerStopStore:
    """The ServerStopStore port on a `SqlDatabase`; each method is one short transaction run
    on the database's threads. Raises BackendUnavailable when the database cannot be reached."""

    def __init__(self, database: SqlDatabase) -> None:
        self.database = database

    async def record(self, stop: ServerStop) -> None:
        """Keep `stop` as its server's last, replacing the one before."""
        values = {
            "username": stop.username,
            "server_name": stop.server,
            "at": naive_utc(stop.at, "at"),
            "reason": stop.reason.value,
            "exit_code": stop.exit_code,
            "memory_limit": stop.memory_limit,
            "detail": stop.detail,
            "actor": stop.actor,
            "idle_since": None
            if stop.idle_since is None
            else naive_utc(stop.idle_since, "idle_since"),
            "log_tail": stop.log_tail,
        }
        dialect_insert = sqlite_insert if self.database.sqlite else postgresql_insert
        changing = {name: value for name, value in values.items() if name not in _KEY}

        def work(connection: Connection) -> None:
            statement = dialect_insert(table).values(values)
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[table.c.username, table.c.server_name], set_=changing
                )
            )

        await self.database.transaction(work, write=True, lock_tables=_WRITE_LOCK)

    async def last(self, username: str, server_name: str = "") -> ServerStop | None:
        """The last stop of one server, or None."""

        def work(connection: Connection) -> ServerStop | None:
            row = connection.execute(
                select(*_COLUMNS).where(self._key(username, server_name))
            ).one_or_none()
            return _stop_of(row) if row is not None else None

        return await self.database.transaction(work, write=False)

    async def every_last(self, server_name: str = "") -> list[ServerStop]:
        """The last stop of every user's server named `server_name`, by username."""

        def work(connection: Connection) -> list[ServerStop]:
            rows = connection.execute(
                select(*_COLUMNS)
                .where(table.c.server_name == server_name)
                .order_by(table.c.username)
            ).all()
            return [_stop_of(row) for row in rows]

        return await self.database.transaction(work, write=False)

    async def forget(self, username: str, server_name: str = "") -> bool:
        """Forget one server's last stop; True if there was one."""

        def work(connection: Connection) -> bool:
            removed = connection.execute(delete(table).where(self._key(username, server_name)))
            return removed.rowcount > 0

        return await self.database.transaction(work, write=True, lock_tables=_WRITE_LOCK)

    async def rename_user(self, old: str, new: str) -> int:
        """Move the stops of `old` to `new`, replacing any `new` had."""

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
        """Forget every stop of a user; returns how many."""

        def work(connection: Connection) -> int:
            return int(
                connection.execute(delete(table).where(table.c.username == username)).rowcount
            )

        return await self.database.transaction(work, write=True, lock_tables=_WRITE_LOCK)

    @staticmethod
    def _key(username: str, server_name: str) -> Any:
        return and_(table.c.username == username, table.c.server_name == server_name)


_KEY = ("username", "server_name")
