"""HubDirectory over the hub's own objects, for the services that run inside the hub process.

It reads JupyterHub's database and its in-memory user and spawner wrappers, on the event loop as
JupyterHub itself does (the ORM session is not thread-safe). Listing every user must stay cheap
at thousands of users, since the dashboard and the refreshers do it: names, flags and times come
from column queries (plain rows, no ORM objects to build or track), in large pages with turns
of the loop between slices of them, and servers from the wrappers JupyterHub keeps in memory for
every user whose server is running or on its way, as JupyterHub's own start-up does (O(running
servers), not O(users)).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from jupyterhub import orm

from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.timeutil import assume_utc

from .handle import HubHandle

#: Users read per query when listing them all. Each query is a round trip to the database with
#: the loop blocked, and on a busy host every round trip also waits for the database's process
#: to get a CPU: 10,000 users in pages of 200 took 0.9 to 1.5 s on a loaded two-core machine,
#: in pages of 2,000 under 0.2 s (bench/activity_scale.py).
USERS_PER_PAGE = 2000
#: Users made from the rows read between two turns of the loop (a few milliseconds of work).
USERS_PER_TURN = 250


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
            query = db.query(*USER_COLUMNS).order_by(orm.User.name)
            if after is not None:
                query = query.filter(orm.User.name > after)
            rows = query.limit(USERS_PER_PAGE).all()
            for start in range(0, len(rows), USERS_PER_TURN):
                if start:  # thousands of users: let requests run between slices
                    await asyncio.sleep(0)
                for row in rows[start : start + USERS_PER_TURN]:
                    wrapper, spawners = with_servers.get(row[0], (None, {}))
                    users.append(_hub_user(row, groups.get(row[0], ()), wrapper, spawners))
            if len(rows) < USERS_PER_PAGE:
                return users
            after = rows[-1][1]
            await asyncio.sleep(0)  # and between pages

    async def get_user(self, name: str) -> HubUser | None:
        """One user, read as `list_users` reads them: a row and its group names, and servers
        from the wrapper JupyterHub keeps in memory, if it has one (finding the user through
        the ORM would load its relationships, and make a wrapper, on the loop)."""
        app = self._hub.app
        db = app.db
        row = db.query(*USER_COLUMNS).filter(orm.User.name == name).first()
        if row is None:
            return None
        groups = [
            group
            for (group,) in db.query(orm.Group.name)
            .join(orm.user_group_map, orm.Group.id == orm.user_group_map.c.group_id)
            .filter(orm.user_group_map.c.user_id == row[0])
        ]
        # Only a wrapper already in memory: UserDict.get would query and make one.
        wrapper = app.users[row[0]] if row[0] in app.users else None  # noqa: SIM401
        spawners = active_spawners(wrapper) if wrapper is not None else {}
        return _hub_user(row, groups, wrapper, spawners)


#: The columns a HubUser is made of, in the order `_hub_user` reads them.
USER_COLUMNS = (
    orm.User.id,
    orm.User.name,
    orm.User.admin,
    orm.User.last_activity,
    orm.User.created,
)


def _hub_user(row: Any, groups: Iterable[str], wrapper: Any, spawners: dict[str, Any]) -> HubUser:
    user_id, name, admin, last_activity, created = row
    return HubUser(
        name=name,
        admin=bool(admin),
        groups=frozenset(groups),
        servers={server: snapshot_of(wrapper, spawner) for server, spawner in spawners.items()},
        last_activity=_time(last_activity),
        id=user_id,
        created=_time(created),
    )
