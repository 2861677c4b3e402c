"""Session countdowns, extensions and the culler's verdict, all from one rule.

The rule takes each user's own session policy: the platform's, with the idle timeout and the
maximum extension the policies of the user's groups give (`PolicyResolver.session_policy_for`;
the platform's own values without group policies). The countdown, the extensions, the activity
table, the cull warnings and the culler's arbiter all ask this service, so a group's timeout is
the same wherever it shows and where it is enforced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from stellars.domain import sessions as rules
from stellars.domain.busy import NOT_BUSY, BusyVerdict, with_activity
from stellars.domain.errors import Refused
from stellars.domain.hub import DEFAULT_SERVER, HubUser, ServerSnapshot
from stellars.domain.sessions import CullDecision, Extension, SessionDeadline, SessionPolicy
from stellars.domain.validation import whole_number
from stellars.ports.clock import Clock
from stellars.ports.hub_directory import HubDirectory
from stellars.ports.session_store import SessionStore

from .lookup import existing_user

if TYPE_CHECKING:
    from .busy import BusyService
    from .policies import PolicyResolver


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
    #: What busy-ness says of the server (NOT_BUSY while the rule is off): the countdown above
    #: already counts the activity it gives.
    busy: BusyVerdict = NOT_BUSY


@dataclass(frozen=True, slots=True)
class ExtendedSession:
    """A granted extension, and the session card as it stands after it."""

    extension: Extension
    status: SessionStatus


def _deadline_for(server: ServerSnapshot, stored: SessionDeadline | None) -> datetime | None:
    """The stored deadline when it belongs to this very server instance."""
    return stored.cull_at if stored is not None and stored.applies_to(server) else None


class SessionService:
    """Session countdowns and extensions, with deadlines kept in our own store.

    `policy` is the platform's session policy; with `policies`, each user's idle timeout and
    maximum extension come from the policies of the user's groups (module docstring). With
    `busy`, a server that is computing counts as active (`stellars.domain.busy`): the activity
    its busy-ness gives it is its last activity for the countdown, the culler and the warnings.
    """

    def __init__(
        self,
        *,
        store: SessionStore,
        directory: HubDirectory,
        clock: Clock,
        policy: SessionPolicy,
        policies: PolicyResolver | None = None,
        busy: BusyService | None = None,
    ) -> None:
        self._store = store
        self._busy = busy
        self._directory = directory
        self._clock = clock
        self.policy = policy
        self._policies = policies
        #: Counts the deadlines this service stored (what a cached view depends on).
        self.revision = 0

    async def policy_for(self, user: HubUser) -> SessionPolicy:
        """The session policy of `user` (the platform's while culling is off)."""
        if self._policies is None or not self.policy.enabled:
            return self.policy
        return await self._policies.session_policy_for(user, self.policy)

    async def _user_server(
        self, username: str, server_name: str
    ) -> tuple[ServerSnapshot | None, SessionPolicy]:
        user = await existing_user(self._directory, username)
        return user.servers.get(server_name), await self.policy_for(user)

    async def deadline_for(self, server: ServerSnapshot) -> datetime | None:
        """The extension deadline that applies to this server instance, if any."""
        return _deadline_for(server, await self._store.get(server.username, server.name))

    async def status(self, username: str, server_name: str = DEFAULT_SERVER) -> SessionStatus:
        """The countdown of one server, by the user's session policy. Raises NotFound for an
        unknown user."""
        server, policy = await self._user_server(username, server_name)
        base = SessionStatus(
            culler_enabled=policy.enabled,
            server_active=server is not None and server.active,
            idle_timeout=policy.idle_timeout,
            ceiling=policy.ceiling,
            max_extension_hours=policy.max_extension_hours,
        )
        if server is None or not server.active or not policy.enabled:
            return base
        now = self._clock.now()
        cull_at = await self.deadline_for(server)
        busy = NOT_BUSY if self._busy is None else await self._busy.verdict(server)
        last_activity = server.last_activity
        server = with_activity(server, busy.activity_at)
        return replace(
            base,
            remaining=rules.remaining(server, cull_at=cull_at, now=now, policy=policy),
            offer_hours=rules.offer_hours(server, cull_at=cull_at, now=now, policy=policy),
            extended_hours=rules.extension_hours_used(
                server, cull_at=cull_at, now=now, policy=policy
            ),
            cull_at=cull_at,
            last_activity=last_activity,
            busy=busy,
        )

    async def extend(
        self, username: str, hours: int, server_name: str = DEFAULT_SERVER
    ) -> Extension:
        """Grant up to `hours`, by the user's session policy, and store the deadline.

        Raises InvalidValue for bad hours, NotFound for an unknown user, Refused when nothing
        can be granted (culling off, server not running, nothing left on offer).
        """
        # The request's shape (and, with one policy for all, its bounds) before any lookup.
        if self._policies is None:
            rules.check_hours(hours, self.policy)
        else:
            whole_number("hours", hours, 1)
        server, policy = await self._user_server(username, server_name)
        rules.check_hours(hours, policy)  # against the user's own maximum
        if server is None:
            raise Refused("The server is not running.")
        if self._busy is not None:  # the hours on offer are those the card shows
            server = with_activity(server, (await self._busy.verdict(server)).activity_at)
        now = self._clock.now()
        cull_at = await self.deadline_for(server)
        extension = rules.extend(server, hours, cull_at=cull_at, now=now, policy=policy)
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
        """The culler's verdict for one server, from the same rule the countdown uses, by its
        user's session policy (the platform's for a user the hub no longer has)."""
        if not self.policy.enabled:
            return CullDecision(False, "idle culling is not enabled")
        user = await self._directory.get_user(server.username)
        policy = self.policy if user is None else await self.policy_for(user)
        cull_at = await self.deadline_for(server)
        now = self._clock.now()
        plain = rules.cull_decision(server, cull_at=cull_at, now=now, policy=policy)
        if not plain.cull or self._busy is None:
            return plain  # the records are read only for a server the plain rule would stop
        busy = await self._busy.verdict(server)
        spared = rules.cull_decision(
            with_activity(server, busy.activity_at), cull_at=cull_at, now=now, policy=policy
        )
        return spared if spared.cull else CullDecision(False, busy.message, kept_busy=True)

    async def policies_for(
        self, usernames: Iterable[str], groups_of: Mapping[str, Iterable[str]] | None = None
    ) -> dict[str, SessionPolicy]:
        """The session policy of each of `usernames`, with one read of the policies; `groups_of`
        (user name -> groups) saves looking each user up when the caller has them."""
        names = set(usernames)
        if self._policies is None or not self.policy.enabled:
            return dict.fromkeys(names, self.policy)
        if groups_of is None:
            groups_of = {}
            for name in names:
                user = await self._directory.get_user(name)
                groups_of[name] = () if user is None else user.groups
        return await self._policies.session_policies(
            {name: groups_of.get(name, ()) for name in names}, self.policy
        )

    async def remaining_for(
        self,
        servers: list[ServerSnapshot],
        *,
        now: datetime | None = None,
        groups_of: Mapping[str, Iterable[str]] | None = None,
    ) -> dict[tuple[str, str], timedelta]:
        """Remaining time of many servers at `now` (default: the clock's), each by its user's
        session policy and with the activity busy-ness gives it, with one read of the
        deadlines, one of the policies and one of the busy records (for the activity table and
        the warnings). `groups_of`: see `policies_for`."""
        if not self.policy.enabled:
            return {}
        if now is None:
            now = self._clock.now()
        active = [server for server in servers if server.active]
        policies = await self.policies_for({s.username for s in active}, groups_of)
        deadlines = {(d.username, d.server_name): d for d in await self._store.all_deadlines()}
        busy = {} if self._busy is None else await self._busy.verdicts(active, now=now)
        return {
            (server.username, server.name): rules.remaining(
                with_activity(
                    server, busy.get((server.username, server.name), NOT_BUSY).activity_at
                ),
                cull_at=_deadline_for(server, deadlines.get((server.username, server.name))),
                now=now,
                policy=policies[server.username],
            )
            for server in active
        }
