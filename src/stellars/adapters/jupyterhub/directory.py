"""HubDirectory over the hub's own objects, for the services that run inside the hub process.

It reads JupyterHub's database and its in-memory user and spawner wrappers, on the event loop as
JupyterHub itself does (the ORM session is not thread-safe). Listing every user must stay cheap
at thousands of users, since the dashboard and the refreshers do it: names, flags and times come
from column queries (plain rows, no ORM objects to build or track), in pages with a turn of the
loop between them, and servers from the wrappers JupyterHub keeps in memory for every user whose
server is running or on its way, as JupyterHub's own start-up does (O(running servers), not
O(users)).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from jupyterhub import orm

from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.timeutil import assume_utc

from .app import HubHandle

#: Users read per query when listing them all (each page is one short query on the loop).
USERS_PER_PAGE = 200


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


def active_spawners(user: Any) -> dict[str, Any]:
    """The running or pending spawners of a JupyterHub user wrapper, by server name."""
    return {name: spawner for name, spawner in user.spawners.items() if spawner.active}


class InProcessHubDirectory:
    """The HubDirectory port on the JupyterHub application of this process."""

    def __init__(self, hub: HubHandle) -> None:
        self._hub = hub

    async def list_users(self) -> list[HubUser]:
        """Every user with their running or pending servers, sorted by name."""
        app = self._hub.app
        db = app.db
        # Any user with a server running or on its way has a wrapper in memory: JupyterHub
        # makes one to spawn, and one at start for each server still running.
        with_servers = {
            user.id: (user, servers)
            for user in list(app.users.values())
            if (servers := active_spawners(user))
        }
        groups: dict[int, set[str]] = defaultdict(set)
        for user_id, group in db.query(orm.user_group_map.c.user_id, orm.Group.name).join(
            orm.Group, orm.Group.id == orm.user_group_map.c.group_id
        ):
            groups[user_id].add(group)
        users: list[HubUser] = []
        after: str | None = None
        while True:
            query = db.query(
                orm.User.id, orm.User.name, orm.User.admin, orm.User.last_activity, orm.User.created
            ).order_by(orm.User.name)
            if after is not None:
                query = query.filter(orm.User.name > after)
            rows = query.limit(USERS_PER_PAGE).all()
            for user_id, name, admin, last_activity, created in rows:
                wrapper, spawners = with_servers.get(user_id, (None, {}))
                users.append(
                    HubUser(
                        name=name,
                        admin=bool(admin),
                        groups=frozenset(groups.get(user_id, ())),
                        servers={
                            server: snapshot_of(wrapper, spawner)
                            for server, spawner in spawners.items()
                        },
                        last_activity=_time(last_activity),
                        id=user_id,
                        created=_time(created),
                    )
                )
            if len(rows) < USERS_PER_PAGE:
                return users
            after = rows[-1][1]
            await asyncio.sleep(0)  # thousands of users: let requests run between pages

    async def get_user(self, name: str) -> HubUser | None:
        app = self._hub.app
        orm_user = orm.User.find(app.db, name)
        return None if orm_user is None else user_of(app.users[orm_user])
