"""A warning in JupyterLab before the idle culler stops a server (no JupyterHub project offers
one: jupyterhub-idle-culler#79).

When a running server's time left, by the same rule the culler's arbiter enforces, falls to the
configured warning time, its lab gets one notification through the broadcast transport saying
when the server will stop and where to extend the session. Once per deadline: the deadline is
the instant the server would stop, the time of the check plus the time left. That sum is exact
and stays put while the server idles (it is the last activity plus the timeout, or the stored
extension deadline, or the start plus max_age); it moves when the server is used or its session
is extended, and either re-arms the warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from stellars.domain.hub import ServerSnapshot, running_servers
from stellars.domain.notifications import MAX_MESSAGE_LENGTH, Broadcast, Variant
from stellars.ports.clock import Clock
from stellars.ports.hub_directory import HubDirectory
from stellars.ports.notifications import NotificationTransport

from .sessions import SessionService

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CullWarning:
    """One warning sent (or tried): to whom, for which stop, and how it went."""

    username: str
    server_name: str
    stops_at: datetime
    delivered: bool
    error: str | None = None


def warning_message(stops_at: datetime, extend_url: str) -> str:
    """The notification's text: when the server stops, and where to extend (when it fits)."""
    text = f"Idle session: this server stops at {stops_at:%H:%M} UTC unless you use it."
    with_link = f"{text} Extend it at {extend_url}"
    return with_link if len(with_link) <= MAX_MESSAGE_LENGTH else text


class CullWarner:
    """Checks every running server and warns the ones whose stop is near, once per deadline."""

    def __init__(
        self,
        *,
        directory: HubDirectory,
        sessions: SessionService,
        transport: NotificationTransport,
        clock: Clock,
        extend_url: str,
    ) -> None:
        self._directory = directory
        self._sessions = sessions
        self._transport = transport
        self._clock = clock
        self.extend_url = extend_url
        self.sent = 0
        self.failed = 0
        # (user, server, start) -> the stop it was warned about
        self._warned: dict[tuple[str, str, datetime | None], datetime] = {}

    async def check(self) -> tuple[CullWarning, ...]:
        """One pass: the warnings sent now (none while culling or warnings are off)."""
        policy = self._sessions.policy
        warning = policy.warning
        if not policy.enabled or warning is None:
            return ()
        users = await self._directory.list_users()
        servers = running_servers(users)
        now = self._clock.now()
        # The time left at this very `now`, so that now + left is the exact deadline, each by
        # its user's session policy (their groups' idle timeout).
        left_by_server = await self._sessions.remaining_for(
            servers, now=now, groups_of={user.name: user.groups for user in users}
        )
        sent: list[CullWarning] = []
        live = set()
        for server in servers:
            key = (server.username, server.name, server.started)
            live.add(key)
            left = left_by_server.get((server.username, server.name))
            if left is None or left <= timedelta(0) or left > warning:
                continue
            stops_at = now + left
            if self._warned.get(key) == stops_at:
                continue
            result = await self._warn(server, stops_at)
            if result.delivered:
                self._warned[key] = stops_at
            sent.append(result)
        for gone in [key for key in self._warned if key not in live]:
            del self._warned[gone]
        return tuple(sent)

    async def _warn(self, server: ServerSnapshot, stops_at: datetime) -> CullWarning:
        broadcast = Broadcast(
            message=warning_message(stops_at, self.extend_url),
            variant=Variant.WARNING,
            recipients=(server.username,),
        )
        reason: str | None
        try:
            delivery = await self._transport.deliver(server, broadcast)
        except Exception as error:  # a transport bug must not end the warnings
            delivery_ok, reason = False, f"delivery failed: {error}"
        else:
            delivery_ok, reason = delivery.ok, delivery.error
        if delivery_ok:
            self.sent += 1
            _LOG.info("warned %s/%s: stops at %s", server.username, server.name, stops_at)
        else:
            self.failed += 1
            _LOG.warning("could not warn %s/%s: %s", server.username, server.name, reason)
        return CullWarning(server.username, server.name, stops_at, delivery_ok, reason)
