"""Why a server stopped, told to its user: whoever learns of a stop records it here (the rule
of what a stop is and which one is kept is in `stellars.domain.stops`), a new start forgets
the last one, and the user, an admin or a script reads it.

Who records what:

- the hub's poll (the platform's DockerSpawner) an end it found: `exited` (out of memory, an
  exit code with the log's tail), `lost` (the container is gone);
- the spawner's `stop`, for a stop asked through the hub's API, who asked: `requested` (the
  user, an admin, a service);
- the idle culler, before it asks the hub to stop a server, why: `culled` (idle since when, or
  the maximum age); it runs in its own process and records through the shared store;
- a restart in place, who asked: `restarted`.

Each record goes through `prevails` against the stop kept, so what comes later as a consequence
of a stop (the exit code an admin's stop leaves, the service stop of the culler's own request)
does not hide its reason. The read and the write are two steps: two stops of one server recorded
at the same instant by two processes may both be written, the later write kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from stellars.domain.hub import DEFAULT_SERVER
from stellars.domain.stops import (
    ContainerExit,
    ServerStop,
    culled_stop,
    lost_stop,
    prevails,
    requested_stop,
    restarted_stop,
    stop_of,
    stop_on_node,
)
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
    """Records stops and tells them (see the module's docstring)."""

    def __init__(self, *, store: ServerStopStore, directory: HubDirectory, clock: Clock) -> None:
        self.store = store
        self.directory = directory
        self.clock = clock

    async def record(self, stop: ServerStop) -> ServerStop:
        """Keep `stop` as its server's last unless the stop kept prevails (`prevails`); returns
        the stop kept afterwards."""
        kept = await self.store.last(stop.username, stop.server)
        if kept is not None and not prevails(stop, kept):
            return kept
        await self.store.record(stop)
        return stop

    async def exited(self, username: str, server: str, ended: ContainerExit) -> ServerStop:
        """Record that `username`'s `server` ended as `ended`, unasked; returns the stop kept."""
        return await self.record(stop_of(username, server, ended, seen_at=self.clock.now()))

    async def lost(self, username: str, server: str, detail: str) -> ServerStop:
        """Record that the engine no longer has the server's container; returns the stop kept."""
        return await self.record(
            lost_stop(username, server, detail=detail, seen_at=self.clock.now())
        )

    async def requested(
        self,
        username: str,
        server: str,
        *,
        by: str,
        by_service: bool = False,
        at: datetime | None = None,
    ) -> ServerStop:
        """Record a stop `by` asked the hub for (a service when `by_service`) at `at` (when the
        stop began; None: now); returns the stop kept."""
        moment = self.clock.now() if at is None else at
        return await self.record(
            requested_stop(username, server, by=by, by_service=by_service, at=moment)
        )

    async def culled(
        self, username: str, server: str, *, max_age: bool, idle_since: datetime | None
    ) -> ServerStop:
        """Record the idle culler's stop (for the maximum age, else for idleness since
        `idle_since`); returns the stop kept."""
        return await self.record(
            culled_stop(
                username, server, max_age=max_age, idle_since=idle_since, at=self.clock.now()
            )
        )

    async def restarted(self, username: str, server: str, *, by: str) -> ServerStop:
        """Record a restart in place that `by` asked for; returns the stop kept."""
        return await self.record(restarted_stop(username, server, by=by, at=self.clock.now()))

    async def node_unavailable(
        self, username: str, server: str, node: str, why_not: str
    ) -> ServerStop:
        """Record that `username`'s `server` was taken off swarm node `node`, which `why_not`
        ("is drained"); returns the stop kept."""
        return await self.record(
            stop_on_node(username, server, node, why_not, seen_at=self.clock.now())
        )

    async def starting(self, username: str, server: str) -> None:
        """A new start of the server: its last stop told about the run before, so it goes."""
        await self.store.forget(username, server)

    async def last_stops(self, server: str = DEFAULT_SERVER) -> list[ServerStop]:
        """The last stop of every user's `server` (the activity page's column), by username."""
        return await self.store.every_last(server)

    async def last_stop(self, username: str, server: str = DEFAULT_SERVER) -> LastStop:
        """The last stop of `username`'s `server`. Raises NotFound for an unknown user."""
        user = await existing_user(self.directory, username)
        snapshot = user.servers.get(server)
        stop = await self.store.last(username, server)
        return LastStop(username, server, snapshot is not None and snapshot.active, stop)
