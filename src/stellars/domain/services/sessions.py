"""Session countdowns, extensions and the culler's verdict, all from one rule."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from stellars.domain import sessions as rules
from stellars.domain.errors import Refused
from stellars.domain.hub import DEFAULT_SERVER, ServerSnapshot
from stellars.domain.sessions import CullDecision, Extension, SessionDeadline, SessionPolicy
from stellars.ports.clock import Clock
from stellars.ports.hub_directory import HubDirectory
from stellars.ports.session_store import SessionStore

from .lookup import existing_user


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """What the session card shows; remaining and offer are None when nothing counts down."""

    culler_enabled: bool
    server_active: bool
    idle_timeout: timedelta
    ceiling: timedelta
    max_extension_hours: int
    remaining: timedelta | None = None
    offer_hours: int | None = None
    #: Hours the current deadline reaches beyond the plain idle timeout (0 without one).
    extended_hours: int = 0
    cull_at: datetime | None = None
    last_activity: datetime | None = None


@dataclass(frozen=True, slots=True)
class ExtendedSession:
    """A granted extension, and the session card as it stands after it."""

    extension: Extension
    status: SessionStatus


def _deadline_for(server: ServerSnapshot, stored: SessionDeadline | None) -> datetime | None:
    """The stored deadline when it belongs to this very server instance."""
    return stored.cull_at if stored is not None and stored.applies_to(server) else None


class SessionService:
    """Session countdowns and extensions, with deadlines kept in our own store."""

    def __init__(
        self,
        *,
        store: SessionStore,
        directory: HubDirectory,
        clock: Clock,
        policy: SessionPolicy,
    ) -> None:
        self._store = store
        self._directory = directory
        self._clock = clock
        self.policy = policy
        #: Counts the deadlines this service stored (what a cached view depends on).
        self.revision = 0

    async def _server(self, username: str, server_name: str) -> ServerSnapshot | None:
        user = await existing_user(self._directory, username)
        return user.servers.get(server_name)

    async def deadline_for(self, server: ServerSnapshot) -> datetime | None:
        """The extension deadline that applies to this server instance, if any."""
        return _deadline_for(server, await self._store.get(server.username, server.name))

    async def status(self, username: str, server_name: str = DEFAULT_SERVER) -> SessionStatus:
        """The countdown of one server. Raises NotFound for an unknown user."""
        server = await self._server(username, server_name)
        base = SessionStatus(
            culler_enabled=self.policy.enabled,
            server_active=server is not None and server.active,
            idle_timeout=self.policy.idle_timeout,
            ceiling=self.policy.ceiling,
            max_extension_hours=self.policy.max_extension_hours,
        )
        if server is None or not server.active or not self.policy.enabled:
            return base
        now = self._clock.now()
        cull_at = await self.deadline_for(server)
        return replace(
            base,
            remaining=rules.remaining(server, cull_at=cull_at, now=now, policy=self.policy),
            offer_hours=rules.offer_hours(server, cull_at=cull_at, now=now, policy=self.policy),
            extended_hours=rules.extension_hours_used(
                server, cull_at=cull_at, now=now, policy=self.policy
            ),
            cull_at=cull_at,
            last_activity=server.last_activity,
        )

    async def extend(
        self, username: str, hours: int, server_name: str = DEFAULT_SERVER
    ) -> Extension:
        """Grant up to `hours` and store the deadline.

        Raises InvalidValue for bad hours, NotFound for an unknown user, Refused when nothing
        can be granted (culling off, server not running, nothing left on offer).
        """
        rules.check_hours(hours, self.policy)
        server = await self._server(username, server_name)
        if server is None:
            raise Refused("The server is not running.")
        now = self._clock.now()
        cull_at = await self.deadline_for(server)
        extension = rules.extend(server, hours, cull_at=cull_at, now=now, policy=self.policy)
        await self._store.put(
            SessionDeadline(server.username, server.name, server.started, extension.cull_at)
        )
        self.revision += 1
        return extension

    async def extend_and_show(
        self, username: str, hours: int, server_name: str = DEFAULT_SERVER
    ) -> ExtendedSession:
        """`extend`, then the card the user sees afterwards (one call for the extend route)."""
        extension = await self.extend(username, hours, server_name)
        return ExtendedSession(extension, await self.status(username, server_name))

    async def decide(self, server: ServerSnapshot) -> CullDecision:
        """The culler's verdict for one server, from the same rule the countdown uses."""
        if not self.policy.enabled:
            return CullDecision(False, "idle culling is not enabled")
        cull_at = await self.deadline_for(server)
        return rules.cull_decision(
            server, cull_at=cull_at, now=self._clock.now(), policy=self.policy
        )

    async def remaining_for(
        self, servers: list[ServerSnapshot], *, now: datetime | None = None
    ) -> dict[tuple[str, str], timedelta]:
        """Remaining time of many servers at `now` (default: the clock's), with one store read
        (for the activity table and the warnings)."""
        if not self.policy.enabled:
            return {}
        if now is None:
            now = self._clock.now()
        deadlines = {(d.username, d.server_name): d for d in await self._store.all_deadlines()}
        return {
            (server.username, server.name): rules.remaining(
                server,
                cull_at=_deadline_for(server, deadlines.get((server.username, server.name))),
                now=now,
                policy=self.policy,
            )
            for server in servers
            if server.active
        }
