"""Sessions: the time a server has left before the idle culler stops it, and extensions.

One pure function, `remaining`, serves the session API, the activity table and the culler's
arbiter, so what a user sees and what is enforced never disagree.

T = idle timeout, E = maximum extension hours, ceiling C = T + E hours. A server may carry an
absolute deadline `cull_at` (set by an extension). reference = server last_activity, else start.

    remaining = clamp(max(cull_at - now, T - (now - reference)), 0, C)

Departure from the written rule, on purpose: when `max_age` is set the ceiling shrinks to the
time left before max_age, so the countdown shows when the server will really stop and no one is
offered hours that max_age would take back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import ClassVar

from .errors import InvalidValue, Refused
from .hub import ServerSnapshot
from .validation import Bounds, check_bounds, echo, whole_number

HOUR = timedelta(hours=1)
_ZERO = timedelta(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionPolicy:
    """Idle culling knobs. `enabled` False means no culler runs and nothing counts down."""

    LIMITS: ClassVar[Mapping[str, Bounds]] = MappingProxyType(
        {
            "idle_timeout_seconds": (60, 365 * 86_400),
            "cull_every_seconds": (10, 86_400),
            "max_extension_hours": (0, 24 * 365),
            "max_age_seconds": (0, None),
            "warning_minutes": (0, 1440),
        }
    )

    enabled: bool = False
    idle_timeout_seconds: int = 86_400
    cull_every_seconds: int = 600
    max_extension_hours: int = 24
    max_age_seconds: int = 0
    warning_minutes: int = 0  # warn a server's lab this long before it is stopped (0: never)

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise InvalidValue("enabled", f"must be true or false, got {self.enabled!r}")
        check_bounds(self, self.LIMITS)

    @property
    def idle_timeout(self) -> timedelta:
        return timedelta(seconds=self.idle_timeout_seconds)

    @property
    def ceiling(self) -> timedelta:
        """C = T + E hours: no deadline may lie further than this from now."""
        return self.idle_timeout + self.max_extension_hours * HOUR

    @property
    def warning(self) -> timedelta | None:
        """How long before a server is stopped its lab is warned (None: never)."""
        return timedelta(minutes=self.warning_minutes) if self.warning_minutes > 0 else None

    @property
    def max_age(self) -> timedelta | None:
        return timedelta(seconds=self.max_age_seconds) if self.max_age_seconds > 0 else None


@dataclass(frozen=True, slots=True)
class SessionDeadline:
    """An extension deadline for one server instance, identified by its start time.

    A deadline of an earlier instance (the server was stopped and started again) no longer
    applies, so no stop hook is needed to forget it.
    """

    username: str
    server_name: str
    started: datetime | None
    cull_at: datetime

    def applies_to(self, server: ServerSnapshot) -> bool:
        return (
            self.username == server.username
            and self.server_name == server.name
            and self.started == server.started
        )


def reference_time(server: ServerSnapshot, now: datetime) -> datetime:
    """The instant idleness is measured from: last activity, else start, else now."""
    return server.last_activity or server.started or now


def effective_ceiling(server: ServerSnapshot, *, now: datetime, policy: SessionPolicy) -> timedelta:
    """C, shrunk to the time left before max_age when max_age is set."""
    ceiling = policy.ceiling
    max_age = policy.max_age
    if max_age is not None and server.started is not None:
        ceiling = min(ceiling, max(max_age - (now - server.started), _ZERO))
    return ceiling


def remaining(
    server: ServerSnapshot,
    *,
    cull_at: datetime | None,
    now: datetime,
    policy: SessionPolicy,
) -> timedelta:
    """Time left before culling: clamp(max(cull_at - now, T - idle), 0, ceiling)."""
    idle_left = policy.idle_timeout - (now - reference_time(server, now))
    left = idle_left if cull_at is None else max(cull_at - now, idle_left)
    return min(max(left, _ZERO), effective_ceiling(server, now=now, policy=policy))


def extension_hours_used(
    server: ServerSnapshot, *, cull_at: datetime | None, now: datetime, policy: SessionPolicy
) -> int:
    """Whole hours, rounded up, by which an extension deadline reaches beyond the plain idle
    timeout: the original's `extensions_used_hours`. 0 without a deadline, or once activity
    has moved the plain timeout past it."""
    if cull_at is None:
        return 0
    beyond = cull_at - (reference_time(server, now) + policy.idle_timeout)
    return -(-beyond // HOUR) if beyond > _ZERO else 0


@dataclass(frozen=True, slots=True)
class CullDecision:
    cull: bool
    reason: str
    #: Kept because it is computing (`stellars.domain.busy`), though idle by the hub's record.
    kept_busy: bool = False


def cull_decision(
    server: ServerSnapshot,
    *,
    cull_at: datetime | None,
    now: datetime,
    policy: SessionPolicy,
) -> CullDecision:
    """Whether the culler should stop this server now, with a reason for its log."""
    if server.pending is not None or not server.ready:
        return CullDecision(False, "server is pending or not ready")
    max_age = policy.max_age
    if max_age is not None and server.started is not None and now - server.started >= max_age:
        return CullDecision(True, f"server reached max age {max_age}")
    left = remaining(server, cull_at=cull_at, now=now, policy=policy)
    if left <= _ZERO:
        return CullDecision(True, f"idle beyond {policy.idle_timeout} and past any extension")
    return CullDecision(False, f"{left} left")


def offer_hours(
    server: ServerSnapshot,
    *,
    cull_at: datetime | None,
    now: datetime,
    policy: SessionPolicy,
) -> int:
    """Whole hours that may still be added: floor((ceiling - remaining) / 1 h), and never more
    than one request may ask for (`check_hours`), so the offer is always grantable."""
    left = remaining(server, cull_at=cull_at, now=now, policy=policy)
    available = (effective_ceiling(server, now=now, policy=policy) - left) // HOUR
    return min(available, policy.max_extension_hours)


@dataclass(frozen=True, slots=True)
class Extension:
    """The outcome of a granted extension request."""

    requested_hours: int
    granted_hours: int
    truncated: bool
    cull_at: datetime
    remaining_before: timedelta
    remaining_after: timedelta

    @property
    def message(self) -> str:
        text = f"Added {self.granted_hours} hour(s) to the session"
        if self.truncated:
            text += (
                f" (asked for {self.requested_hours}, limited to the {self.granted_hours}"
                " still available)"
            )
        return text


def check_hours(hours: int, policy: SessionPolicy) -> int:
    """An extension request: whole hours, at least 1 and at most the maximum extension.

    Raises InvalidValue for a malformed request and Refused when the hub allows no extensions.
    """
    requested = whole_number("hours", hours, 1)
    if not policy.enabled:
        raise Refused("Idle culling is not enabled, so there is nothing to extend.")
    if policy.max_extension_hours == 0:
        raise Refused("Session extensions are switched off on this hub.")
    if requested > policy.max_extension_hours:
        raise InvalidValue(
            "hours",
            f"must be at most {policy.max_extension_hours} (the maximum extension), "
            f"got {echo(requested)}",
        )
    return requested


def extend(
    server: ServerSnapshot,
    hours: int,
    *,
    cull_at: datetime | None,
    now: datetime,
    policy: SessionPolicy,
) -> Extension:
    """Grant up to `hours` more, bounded by the offer; taking the whole offer lands on the ceiling.

    Raises InvalidValue for a malformed request and Refused when nothing can be granted.
    """
    requested = check_hours(hours, policy)
    if not server.active:
        raise Refused("The server is not running.")
    before = remaining(server, cull_at=cull_at, now=now, policy=policy)
    ceiling = effective_ceiling(server, now=now, policy=policy)
    offer = (ceiling - before) // HOUR
    if offer <= 0:
        raise Refused(
            "No extension is available: the session already runs to its limit of "
            f"{_hours_text(ceiling)} from now."
        )
    granted = min(requested, offer)
    # Taking everything on offer snaps to the ceiling, so the last partial hour is not stranded.
    new_left = ceiling if granted == offer else min(before + granted * HOUR, ceiling)
    deadline = now + new_left
    return Extension(
        requested_hours=requested,
        granted_hours=granted,
        truncated=requested > granted,
        cull_at=deadline,
        remaining_before=before,
        remaining_after=remaining(server, cull_at=deadline, now=now, policy=policy),
    )


def _hours_text(value: timedelta) -> str:
    hours, rest = divmod(int(value.total_seconds()), 3600)
    minutes = rest // 60
    return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"
