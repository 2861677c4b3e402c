"""What the domain knows of JupyterHub's users and servers, as plain values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

DEFAULT_SERVER = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSnapshot:
    """One server of a user as the hub reports it (a missing server is a stopped one).

    `last_activity` is the SERVER's activity, not the user's: the user's moves on hub page views.
    """

    username: str
    name: str = DEFAULT_SERVER
    ready: bool = False
    pending: str | None = None
    started: datetime | None = None
    last_activity: datetime | None = None
    url: str | None = None

    @property
    def running(self) -> bool:
        """Ready and not in the middle of a start or stop."""
        return self.ready and self.pending is None

    @property
    def active(self) -> bool:
        """Running or on its way (JupyterHub's `spawner.active`)."""
        return self.ready or self.pending is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class HubUser:
    """A hub user with its servers that are running or pending, keyed by server name."""

    name: str
    admin: bool = False
    groups: frozenset[str] = frozenset()
    servers: Mapping[str, ServerSnapshot] = field(default_factory=dict)
    last_activity: datetime | None = None
    # Who the account is, whatever its name: the hub's row id and creation time (None where
    # the source does not say, such as the hub's REST API, which hides the id).
    id: int | None = None
    created: datetime | None = None

    @property
    def default_server(self) -> ServerSnapshot | None:
        return self.servers.get(DEFAULT_SERVER)

    def latest_server_activity(self) -> datetime | None:
        """The most recent activity of any running or pending server, or None."""
        times = [s.last_activity for s in self.servers.values() if s.active and s.last_activity]
        return max(times) if times else None

    @property
    def has_running_server(self) -> bool:
        return any(s.running for s in self.servers.values())

    @property
    def has_active_server(self) -> bool:
        return any(s.active for s in self.servers.values())


def running_servers(users: Iterable[HubUser]) -> list[ServerSnapshot]:
    """The running servers of `users`, in the users' order and by server name within a user."""
    return [
        server
        for user in users
        for server in sorted(user.servers.values(), key=lambda server: server.name)
        if server.running
    ]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is asking: a user (possibly an admin) or a service token acting with admin scopes."""

    name: str
    admin: bool = False

    def may_act_for(self, username: str) -> bool:
        """Admins act for anyone; a user only for themself."""
        return self.admin or self.name == username
