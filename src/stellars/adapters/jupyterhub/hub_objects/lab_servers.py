"""LabServers on the hub's own users and spawners: where a restarted server listens now, and
whether it serves.

An engine gives a container a new published port (and may give it a new address) every time
it restarts, while the hub and its proxy still point at the old one. `reconnect` asks the
spawner where the server listens (DockerSpawner's `get_ip_and_port`), and when that moved it
updates the hub's record of the server and the proxy route, as JupyterHub does after a spawn.
`answers` sends one request to the server's API at that address (jupyter_server answers
`GET {server}/api` with its version, without authentication). `restarting` marks the spawner
(`restart_in_progress`, which the platform's DockerSpawner reads in `poll`) so that JupyterHub's
periodic poll does not take the restart for an exit, and once the restart is done, tells the
spawner who asked for it (the request's requester, `requester`), which records it as the
server's last stop.

While a restart holds a server, `reconnect` and `answers` use the spawner `restarting` found
instead of looking the user up again: finding a user through JupyterHub's ORM loads the user's
relationships (several queries, 2 to 3 ms on the hub's loop), and ten restarts checking their
labs twice a second made those lookups most of the hub's work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from jupyterhub import orm
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from stellars.domain.errors import BackendUnavailable, NotFound

from .handle import HubHandle
from .requester import current_requester


class HubLabServers:
    """The LabServers port over the JupyterHub application of this process."""

    def __init__(self, hub: HubHandle, *, request_timeout_seconds: float = 2.0) -> None:
        self._hub = hub
        self.request_timeout_seconds = request_timeout_seconds
        self._held: dict[tuple[str, str], tuple[Any, Any]] = {}  # restarting: (user, spawner)

    def _spawner(self, username: str, server_name: str) -> tuple[Any, Any]:
        held = self._held.get((username, server_name))
        if held is not None:
            return held
        app = self._hub.app
        orm_user = orm.User.find(app.db, username)
        if orm_user is None:
            raise NotFound(f"No user named {username!r}")
        user = app.users[orm_user]
        spawner = user.spawners.get(server_name)
        if spawner is None or spawner.server is None:
            raise NotFound(f"{username} has no server named {server_name!r}")
        return user, spawner

    @asynccontextmanager
    async def restarting(self, username: str, server_name: str = "") -> AsyncIterator[None]:
        key = (username, server_name)
        try:
            found = self._spawner(username, server_name)
        except NotFound:
            found = None  # no record in the hub: nothing that a poll could tear down
        if found is not None:
            found[1].restart_in_progress = True
            self._held[key] = found
        try:
            yield
            if found is not None:
                await self._record_restart(found[1])
        finally:
            if found is not None:
                found[1].restart_in_progress = False
                self._held.pop(key, None)

    @staticmethod
    async def _record_restart(spawner: Any) -> None:
        """Tell the platform's spawner who restarted its server (the requester of the request
        that asked: `requester`), so the server's last stop says so; a spawner that does not
        record stops, or a restart outside a request, records nothing."""
        record = getattr(spawner, "record_restart", None)
        asked = current_requester()
        if record is not None and asked is not None:
            await record(asked.name)

    async def reconnect(self, username: str, server_name: str = "") -> bool:
        user, spawner = self._spawner(username, server_name)
        locate = getattr(spawner, "get_ip_and_port", None)
        if locate is None:
            return False  # a spawner that cannot say; its server keeps its address
        try:
            ip, port = await locate()
        except Exception as exc:  # the spawner's client errors (docker SDK, ...)
            raise BackendUnavailable(
                f"cannot tell where {username}'s server listens: {exc}"
            ) from exc
        server = spawner.server
        if (server.ip, server.port) == (ip, port):
            return False
        server.ip, server.port = ip, port  # JupyterHub's Server writes through to its ORM row
        app = self._hub.app
        app.db.commit()
        try:
            await app.proxy.add_user(user, server_name)
        except Exception as exc:  # the proxy implementations raise their HTTP clients' errors
            raise BackendUnavailable(f"the proxy did not take the new route: {exc}") from exc
        return True

    async def answers(self, username: str, server_name: str = "") -> bool:
        _, spawner = self._spawner(username, server_name)
        client = AsyncHTTPClient()
        try:
            response = await client.fetch(
                spawner.server.url + "api",
                request_timeout=self.request_timeout_seconds,
                connect_timeout=self.request_timeout_seconds,
                follow_redirects=False,
                raise_error=False,
            )
        except (HTTPClientError, OSError):
            return False
        return response.code == 200
