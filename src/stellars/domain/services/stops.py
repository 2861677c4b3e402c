"""Why a server stopped, told to its user: the spawner records a stop it finds (the rule is in
`stellars.domain.stops`), a new start forgets the last one, and the user, an admin or a script
reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from stellars.domain.hub import DEFAULT_SERVER
from stellars.domain.stops import ContainerExit, ServerStop, stop_of, stop_on_node
from stellars.ports.clock import Clock
from stellars.ports.hub_directory import HubDirectory
from stellars.ports.server_stops import ServerStopStore

from .lookup import existing_user


@dataclass(frozen=True, slots=True)
class LastStop:
    """One server's last stop (None: none since its last start), and whether it is running or
    starting now."""

    username: str
    server: str
    server_active: bool
    stop: ServerStop | None


class ServerStopService:
    """Records stops the hub found and tells them (see the module's docstring)."""

    def __init__(self, *, store: ServerStopStore, directory: HubDirectory, clock: Clock) -> None:
        self.store = store
        self.directory = directory
        self.clock = clock

    async def exited(self, username: str, server: str, ended: ContainerExit) -> ServerStop:
        """Record that `username`'s `server` ended as `ended`, unasked; returns the stop."""
        stop = stop_of(username, server, ended, seen_at=self.clock.now())
        await self.store.record(stop)
        return stop

    async def node_unavailable(
        self, username: str, server: str, node: str, why_not: str
    ) -> ServerStop:
        """Record that `username`'s `server` was taken off swarm node `node`, which `why_not`
        ("is drained"); returns the stop."""
        stop = stop_on_node(username, server, node, why_not, seen_at=self.clock.now())
        await self.store.record(stop)
        return stop

    async def starting(self, username: str, server: str) -> None:
        """A new start of the server: its last stop told about the run before, so it goes."""
        await self.store.forget(username, server)

    async def last_stop(self, username: str, server: str = DEFAULT_SERVER) -> LastStop:
        """The last stop of `username`'s `server`. Raises NotFound for an unknown user."""
        user = await existing_user(self.directory, username)
        snapshot = user.servers.get(server)
        stop = await self.store.last(username, server)
        return LastStop(username, server, snapshot is not None and snapshot.active, stop)
