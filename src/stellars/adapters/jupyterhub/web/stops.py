"""Why a server stopped: `GET /hub/api/users/{user}/last-stop` (`?server=NAME` for a named
server), for the user, an admin, or a token with JupyterHub's `read:servers` scope on the user
(a stop is part of what JupyterHub's server model tells, so its own scope guards it).

`last_stop` is the last stop the platform saw since the server's last start (null: none), with
its reason (`out_of_memory`, `exited`), exit code, the container's memory limit in bytes and a
message for people: "stopped: ran out of memory (limit 4 GiB)". 404 for an unknown user.
"""

from __future__ import annotations

from typing import Any

from stellars.adapters.jupyterhub import scopes
from stellars.domain.services import LastStop
from stellars.domain.stops import ServerStop

from .base import StellarsAPIHandler
from .wire import iso


def stop_json(stop: ServerStop) -> dict[str, Any]:
    return {
        "at": iso(stop.at),
        "reason": stop.reason.value,
        "exit_code": stop.exit_code,
        "memory_limit_bytes": stop.memory_limit,
        "detail": stop.detail,
        "message": stop.message,
    }


def last_stop_json(last: LastStop) -> dict[str, Any]:
    return {
        "username": last.username,
        "server": last.server,
        "server_active": last.server_active,
        "last_stop": None if last.stop is None else stop_json(last.stop),
    }


class LastStopAPI(StellarsAPIHandler):
    async def get(self, user_name: str) -> None:
        self.require_scope(scopes.READ_SERVERS, user=user_name)
        server = self.get_argument("server", "")
        self.write_json(last_stop_json(await self.platform.stops.last_stop(user_name, server)))


#: (pattern, handler) pairs relative to the hub prefix.
ROUTES: list[tuple[Any, ...]] = [
    (r"/api/users/([^/]+)/last-stop", LastStopAPI),
]
