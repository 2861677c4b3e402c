"""Why a server stopped: `GET /hub/api/users/{user}/last-stop` (`?server=NAME` for a named
server), for the user, an admin, or a token with JupyterHub's `read:servers` scope on the user
(a stop is part of what JupyterHub's server model tells, so its own scope guards it).

`last_stop` is the last stop the platform saw since the server's last start (null: none), with
its reason (`culled`, `max_age`, `stopped_by_user`, `stopped_by_admin`, `stopped_by_service`,
`restarted`, `out_of_memory`, `exited`, `engine_lost`), who asked (`actor`), since when a
culled server was idle (`idle_since`), exit code, the last lines of the log of a container that
exited (`log_tail`, at most 50), the container's memory limit in bytes and a message for
people: "stopped: ran out of memory (limit 4 GiB)". 404 for an unknown user.

`GET /hub/api/activity/last-stops` (`?server=NAME`; the activity dashboard's scope,
custom:stellars:activity): the last stop of every user's server, by username, in the same shape
with `username` and `server` added: the activity page's "Last stop" column.

Who asked for a stop is learned where the hub is asked: JupyterHub's own
`/hub/api/users/{user}/server` and `/servers/{name}` (the home page's Stop button, the admin
page, the idle culler, any script) are served here by JupyterHub's own handler, unchanged, run
with its requester made known (`hub_objects.requester`) to the spawner's `stop`, which records
the stop as its user's, an admin's or a service's. The platform's routes come ahead of
JupyterHub's, so this subclass answers those paths; every method and check is JupyterHub's.
"""

from __future__ import annotations

from typing import Any

from jupyterhub.apihandlers.users import UserServerAPIHandler

from stellars.adapters.jupyterhub import scopes
from stellars.adapters.jupyterhub.hub_objects import acting_for
from stellars.domain.services import LastStop
from stellars.domain.stops import ServerStop

from .base import StellarsAPIHandler
from .wire import iso


def stop_json(stop: ServerStop) -> dict[str, Any]:
    return {
        "at": iso(stop.at),
        "reason": stop.reason.value,
        "requested": stop.requested,
        "actor": stop.actor or None,
        "idle_since": iso(stop.idle_since),
        "exit_code": stop.exit_code,
        "memory_limit_bytes": stop.memory_limit,
        "detail": stop.detail,
        "log_tail": stop.log_tail.split("\n") if stop.log_tail else [],
        "explanation": stop.explanation,
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


class LastStopsAPI(StellarsAPIHandler):
    async def get(self) -> None:
        self.require_scope(scopes.ACTIVITY)
        server = self.get_argument("server", "")
        stops = await self.platform.stops.last_stops(server)
        self.write_json(
            {
                "server": server,
                "stops": [
                    {"username": stop.username, "server": stop.server, **stop_json(stop)}
                    for stop in stops
                ],
            }
        )


class ServerAPIKnowingTheRequester(UserServerAPIHandler):
    """JupyterHub's start and stop of a server, its stop run knowing who asked."""

    def initialize(self, **_: Any) -> None:
        """The platform's shared route arguments (platform, turns) are not needed here."""

    async def delete(self, user_name: str, server_name: str = "") -> None:
        with acting_for(self.current_user):
            await super().delete(user_name, server_name)


#: (pattern, handler) pairs relative to the hub prefix.
ROUTES: list[tuple[Any, ...]] = [
    (r"/api/users/([^/]+)/last-stop", LastStopAPI),
    (r"/api/activity/last-stops", LastStopsAPI),
    (r"/api/users/([^/]+)/server", ServerAPIKnowingTheRequester),
    (r"/api/users/([^/]+)/servers/([^/]*)", ServerAPIKnowingTheRequester),
]
