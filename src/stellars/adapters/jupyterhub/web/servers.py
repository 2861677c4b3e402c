"""A user's server and volumes, for the user or an admin:

- `POST /hub/api/users/{user}/restart-server` (JupyterHub's `servers` scope on the user;
  `?server=NAME` for a named server): restarts the container in place and answers once the lab
  serves again; 409 while the server is not running, and when the user's Docker access (the
  socket, privileged mode) changed since the container was created, which a restart in place
  would keep (stopping and starting the server applies it); 503 when the engine fails or the lab
  does not answer in time.
- `GET /hub/api/users/{user}/manage-volumes` (custom:stellars:volumes on the user): the user's
  volumes, named as DockerSpawner names them, with sizes from the background measurement
  (`measured_at`; `exists` is null until a first measurement), never from Docker on a request.
  `owned` is false for a volume an earlier user of the same name left (its size is null: it is
  not this user's), null until a first measurement.
- `DELETE /hub/api/users/{user}/manage-volumes` `{"volumes": ["home", ...]}`: removes the chosen
  volumes of a stopped server, one outcome per volume (removed, not found, in use); 409 while
  the server runs or starts, and 409 naming them when a chosen volume is an earlier user's
  (nothing is removed; an admin deletes those as orphaned volumes).
"""

from __future__ import annotations

from typing import Any

from stellars.adapters.jupyterhub import scopes
from stellars.adapters.jupyterhub.hub_objects import acting_for
from stellars.domain.validation import echo

from .base import StellarsAPIHandler
from .parsing import string_list
from .wire import iso, volumes_json


class RestartServerAPI(StellarsAPIHandler):
    async def post(self, user_name: str) -> None:
        self.require_scope(scopes.SERVERS, user=user_name)
        server = self.get_argument("server", "")
        with acting_for(self.current_user):  # the restart is recorded as this requester's
            report = await self.platform.servers.restart(user_name, server)
        self.log.info(
            "server %s of %s restarted by %s (%s, serving after %d check(s))",
            echo(server),
            user_name,
            self.current_user.name,
            "new address" if report.moved else "same address",
            report.checks,
        )
        self.write_json(
            {"message": report.message, "container": report.container, "moved": report.moved}
        )


class ManageVolumesAPI(StellarsAPIHandler):
    async def get(self, user_name: str) -> None:
        self.require_scope(scopes.VOLUMES, user=user_name)
        volumes = await self.platform.volumes.for_user(user_name)
        self.write_json(
            {
                "username": volumes.username,
                "server_active": volumes.server_active,
                "measured_at": iso(volumes.measured_at),
                "volumes": volumes_json(volumes),
            }
        )

    async def delete(self, user_name: str) -> None:
        self.require_scope(scopes.VOLUMES, user=user_name)
        labels = string_list(self.read_json_object(), "volumes")
        report = await self.platform.volumes.reset(user_name, labels)
        self.log.info(
            "%s reset volumes of %s: %s", self.current_user.name, user_name, report.message
        )
        self.write_json(
            {
                "message": report.message,
                "reset_volumes": list(report.removed),
                "failed_volumes": [
                    {"volume": result.label, "name": result.volume, "reason": result.outcome.value}
                    for result in report.results
                    if result.label not in report.removed
                ],
                "results": [
                    {"volume": result.label, "name": result.volume, "outcome": result.outcome.value}
                    for result in report.results
                ],
            }
        )


#: (pattern, handler) pairs relative to the hub prefix.
ROUTES: list[tuple[Any, ...]] = [
    (r"/api/users/([^/]+)/restart-server", RestartServerAPI),
    (r"/api/users/([^/]+)/manage-volumes", ManageVolumesAPI),
]
