"""HubDirectory over the hub's own objects, for the services that run inside the hub process.

It reads JupyterHub's ORM and its in-memory user and spawner wrappers, on the event loop as
JupyterHub itself does (the ORM session is not thread-safe); nothing here waits on I/O other
than the hub database, which JupyterHub also queries on the loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from jupyterhub import orm
from sqlalchemy.orm import selectinload

from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.timeutil import assume_utc

from .app import HubHandle

#: Users turned into HubUser between two turns of the event loop.
USERS_PER_TURN = 200


def _time(value: Any) -> Any:
    return None if value is None else assume_utc(value)


def snapshot_of(user: Any, spawner: Any) -> ServerSnapshot:
    """A running or pending server of a JupyterHub user wrapper as the domain sees it."""
    orm_spawner = spawner.orm_spawner
    return ServerSnapshot(
        username=user.name,
        name=spawner.name,
        ready=bool(spawner.ready),
        pending=spawner.pending or None,
        started=_time(orm_spawner.started),
        last_activity=_time(orm_spawner.last_activity),
        url=user.server_url(spawner.name),
    )


def user_of(user: Any) -> HubUser:
    """A JupyterHub user wrapper as a HubUser with its running or pending servers."""
    return HubUser(
        name=user.name,
        admin=bool(user.admin),
        groups=frozenset(group.name for group in user.groups),
        servers={
            name: snapshot_of(user, spawner)
            for name, spawner in user.spawners.items()
            if spawner.active
        },
        last_activity=_time(user.last_activity),
        id=user.id,
        created=_time(user.created),
    )


class InProcessHubDirectory:
    """The HubDirectory port on the JupyterHub application of this process."""

    def __init__(self, hub: HubHandle) -> None:
        self._hub = hub

    async def list_users(self) -> list[HubUser]:
        """Every user with their running or pending servers, sorted by name.

        JupyterHub's session lives on the event loop, so this walks it there: groups come in one
        extra query (not one per user), and the loop gets a turn every USERS_PER_TURN users."""
        app = self._hub.app
        orm_users = (
            app.db.query(orm.User)
            .options(selectinload(orm.User.groups))
            .order_by(orm.User.name)
            .all()
        )
        users: list[HubUser] = []
        for start in range(0, len(orm_users), USERS_PER_TURN):
            if start:
                await asyncio.sleep(0)
            users.extend(
                user_of(app.users[orm_user])
                for orm_user in orm_users[start : start + USERS_PER_TURN]
            )
        return users

    async def get_user(self, name: str) -> HubUser | None:
        app = self._hub.app
        orm_user = orm.User.find(app.db, name)
        return None if orm_user is None else user_of(app.users[orm_user])
