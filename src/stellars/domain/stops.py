"""Why a server stopped: the stop the platform saw last, with its reason, for the user's home
page, the activity page and the API, so that a server that vanished reads "stopped: ran out of
memory (limit 4 GiB)", "culled for idleness (idle since 2026-05-01 12:00 UTC)" or "stopped by
the admin bob" instead of leaving its user guessing.

The reasons come in three kinds, by who learns them:

- **asked for** (`REQUESTED`): the idle culler stopped the server for idleness (`culled`, with
  the server's last activity: idle since when) or because it reached its maximum age
  (`max_age`); its user stopped it (`stopped_by_user`); another user, an admin, stopped it
  (`stopped_by_admin`, naming them); a JupyterHub service other than the culler's own record
  did (`stopped_by_service`, naming it). Whoever asks records it (`requested_stop`).
- **found** (`FOUND`): the hub's poll found the container ended unasked. It is **out of
  memory** when the engine says the kernel's OOM killer struck in the container and the server
  did not exit cleanly (an exit code other than 0): the engine marks a container so when the OOM
  killer killed any process in it, a notebook's kernel included, so a server that later shut
  down cleanly by itself is not blamed on memory; the message names the container's memory
  limit, when it had one. Any other end is **exited** with its exit code and the last lines of
  its log (`log_tail`: at most `LOG_TAIL_LINES` lines of at most `LOG_LINE_LIMIT` characters).
  A container that is gone altogether (removed behind the hub's back, an engine that lost it)
  is **engine lost**. In swarm mode, a lab whose node was drained, paused or lost (the swarm
  took its task off that node and may run it on no other: `stellars.domain.swarm`) is **node
  unavailable**, naming the node and what became of it (`stop_on_node`).
- **restarted**: the platform restarted the container in place (naming who asked); the server
  runs on, and the record tells about the restart until the server's next stop.

One stop is kept per server, the last, by this rule (`prevails`): a stop that follows the one
kept within `FOLLOW_UP` (at or after it, at most that much later) is a consequence of it, not
news, and the kept one stays. So a stop an admin asked for is not overwritten by the exit code
(137, 0) the poll may then find, nor the culler's "culled" by its own request arriving at the
hub as a service's stop, nor an exit by the "engine lost" of the same container removed
afterwards. Only a found end following a found end replaces it within `FOLLOW_UP` (the engine's
later account of the same end), unless it is "engine lost", which knows less. A stop that
happened before the one kept (an exit the engine dates before a cull that came too late) is
the real cause and replaces it; so does anything later than `FOLLOW_UP` (a request whose stop
never came is stale). A restart replaces anything, and anything replaces
a restart: it describes a server that ran again.

A stop happened when the engine says the container finished, else when the platform saw it.
The server's next start forgets its last stop (it told about the run before).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum

from .errors import InvalidValue
from .limits import describe_bytes
from .validation import clip, echo

#: The most characters of the engine's own words about a stop that are kept.
DETAIL_LIMIT = 500
#: The most lines of a container's log kept with its exit, the last ones.
LOG_TAIL_LINES = 50
#: The most characters of one log line kept (longer lines end in "...").
LOG_LINE_LIMIT = 300
#: The most characters of a name (who asked) kept.
ACTOR_LIMIT = 255
#: How long after a stop another one is taken as its consequence (see the module's rule).
FOLLOW_UP = timedelta(minutes=10)


class StopReason(str, Enum):
    """Why a server stopped."""

    OUT_OF_MEMORY = "out_of_memory"
    EXITED = "exited"
    CULLED = "culled"
    MAX_AGE = "max_age"
    STOPPED_BY_USER = "stopped_by_user"
    STOPPED_BY_ADMIN = "stopped_by_admin"
    STOPPED_BY_SERVICE = "stopped_by_service"
    RESTARTED = "restarted"
    ENGINE_LOST = "engine_lost"
    NODE_UNAVAILABLE = "node_unavailable"  # swarm mode: its node was drained, paused or lost


#: Stops somebody asked the hub for.
REQUESTED = frozenset(
    {
        StopReason.CULLED,
        StopReason.MAX_AGE,
        StopReason.STOPPED_BY_USER,
        StopReason.STOPPED_BY_ADMIN,
        StopReason.STOPPED_BY_SERVICE,
    }
)
#: Ends the hub's poll found.
FOUND = frozenset(
    {
        StopReason.OUT_OF_MEMORY,
        StopReason.EXITED,
        StopReason.ENGINE_LOST,
        StopReason.NODE_UNAVAILABLE,
    }
)
#: Reasons that name who asked (`actor` is required).
_NAMED = frozenset(
    {
        StopReason.STOPPED_BY_USER,
        StopReason.STOPPED_BY_ADMIN,
        StopReason.STOPPED_BY_SERVICE,
        StopReason.RESTARTED,
    }
)


def log_tail(text: str) -> str:
    """The last `LOG_TAIL_LINES` lines of a log, each cut to `LOG_LINE_LIMIT` characters,
    joined by newlines (carriage returns and trailing blank lines dropped)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n").split("\n")
    if lines == [""]:
        return ""
    return "\n".join(clip(line, LOG_LINE_LIMIT) for line in lines[-LOG_TAIL_LINES:])


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerExit:
    """How a server's container ended, as the engine reports it."""

    exit_code: int
    oom_killed: bool
    finished_at: datetime | None = None  # None: the engine does not say
    memory_limit: int | None = None  # the container's memory limit in bytes; None: none
    error: str = ""  # the engine's own message, usually empty
    log: str = ""  # the end of the container's log, as read (cut by `log_tail`)


def _utc_minute(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerStop:
    """One server's last stop the platform saw (see the module's rule)."""

    username: str
    server: str
    at: datetime
    reason: StopReason
    exit_code: int | None = None
    memory_limit: int | None = None
    detail: str = ""
    actor: str = ""  # who asked: the user, the admin, the service; "" for a found end
    idle_since: datetime | None = None  # culled: the server's last activity
    log_tail: str = ""  # exited, out of memory: the last lines of the container's log

    def __post_init__(self) -> None:
        if not isinstance(self.reason, StopReason):
            raise InvalidValue("reason", f"must be a StopReason, got {echo(self.reason)}")
        if self.at.tzinfo is None:
            raise InvalidValue("at", "must be timezone-aware")
        if self.idle_since is not None and self.idle_since.tzinfo is None:
            raise InvalidValue("idle_since", "must be timezone-aware")
        if self.reason in _NAMED and not self.actor:
            raise InvalidValue("actor", f"must name who asked for a {self.reason.value} stop")
        object.__setattr__(self, "detail", clip(self.detail, DETAIL_LIMIT))
        object.__setattr__(self, "actor", clip(self.actor, ACTOR_LIMIT))
        object.__setattr__(self, "log_tail", log_tail(self.log_tail))

    @property
    def requested(self) -> bool:
        """Whether somebody asked for this stop."""
        return self.reason in REQUESTED

    @property
    def explanation(self) -> str:
        """What happened, in words: "ran out of memory (limit 4 GiB)", "exited with code 1",
        "stopped by the admin bob"."""
        reason = self.reason
        if reason is StopReason.OUT_OF_MEMORY:
            if self.memory_limit is None:
                return "ran out of memory"
            return f"ran out of memory (limit {describe_bytes(self.memory_limit)})"
        if reason is StopReason.EXITED:
            return f"exited with code {self.exit_code}"
        if reason is StopReason.CULLED:
            if self.idle_since is None:
                return "culled for idleness"
            return f"culled for idleness (idle since {_utc_minute(self.idle_since)})"
        if reason is StopReason.MAX_AGE:
            return "reached its maximum age"
        if reason is StopReason.STOPPED_BY_USER:
            return f"stopped by its user {self.actor}"
        if reason is StopReason.STOPPED_BY_ADMIN:
            return f"stopped by the admin {self.actor}"
        if reason is StopReason.STOPPED_BY_SERVICE:
            return f"stopped by the service {self.actor}"
        if reason is StopReason.RESTARTED:
            return f"restarted by {self.actor}"
        if reason is StopReason.NODE_UNAVAILABLE:
            return self.detail
        return f"lost by the engine ({self.detail})" if self.detail else "lost by the engine"

    @property
    def message(self) -> str:
        """ "stopped: ran out of memory (limit 4 GiB)" """
        return f"stopped: {self.explanation}"


def stop_of(username: str, server: str, ended: ContainerExit, *, seen_at: datetime) -> ServerStop:
    """The stop of `username`'s `server` whose container ended as `ended`, seen at `seen_at`."""
    out_of_memory = ended.oom_killed and ended.exit_code != 0
    return ServerStop(
        username=username,
        server=server,
        at=ended.finished_at or seen_at,
        reason=StopReason.OUT_OF_MEMORY if out_of_memory else StopReason.EXITED,
        exit_code=ended.exit_code,
        memory_limit=ended.memory_limit,
        detail=ended.error,
        log_tail=ended.log,
    )


def lost_stop(username: str, server: str, *, detail: str, seen_at: datetime) -> ServerStop:
    """The stop of a server whose container the engine no longer has (`detail` says how it
    was found so), seen at `seen_at`."""
    return ServerStop(
        username=username, server=server, at=seen_at, reason=StopReason.ENGINE_LOST, detail=detail
    )


def requested_stop(
    username: str, server: str, *, by: str, by_service: bool, at: datetime
) -> ServerStop:
    """The stop of `username`'s `server` that `by` asked the hub for: a service's (when
    `by_service`), its user's own, or another user's (an admin's)."""
    if by_service:
        reason = StopReason.STOPPED_BY_SERVICE
    elif by == username:
        reason = StopReason.STOPPED_BY_USER
    else:
        reason = StopReason.STOPPED_BY_ADMIN
    return ServerStop(username=username, server=server, at=at, reason=reason, actor=by)


def culled_stop(
    username: str, server: str, *, max_age: bool, idle_since: datetime | None, at: datetime
) -> ServerStop:
    """The idle culler's stop: for the server's maximum age, else for idleness since
    `idle_since` (the server's last activity; None: never active)."""
    if max_age:
        return ServerStop(username=username, server=server, at=at, reason=StopReason.MAX_AGE)
    return ServerStop(
        username=username, server=server, at=at, reason=StopReason.CULLED, idle_since=idle_since
    )


def restarted_stop(username: str, server: str, *, by: str, at: datetime) -> ServerStop:
    """A restart in place of `username`'s `server` that `by` asked for."""
    return ServerStop(
        username=username, server=server, at=at, reason=StopReason.RESTARTED, actor=by
    )


def stop_on_node(
    username: str, server: str, node: str, why_not: str, *, seen_at: datetime
) -> ServerStop:
    """The stop of `username`'s `server` taken off swarm node `node`, which `why_not` ("is
    drained", as `SwarmNode.why_not` says), seen at `seen_at`."""
    return ServerStop(
        username=username,
        server=server,
        at=seen_at,
        reason=StopReason.NODE_UNAVAILABLE,
        detail=f"its node {node} {why_not}; it starts again there once an admin makes the node "
        "available",
    )


def prevails(new: ServerStop, kept: ServerStop | None) -> bool:
    """Whether `new` replaces `kept` as its server's last stop (the module's rule)."""
    if kept is None or StopReason.RESTARTED in (new.reason, kept.reason):
        return True
    if not kept.at <= new.at <= kept.at + FOLLOW_UP:
        return True  # before the kept one (its real cause), or long after it (news)
    # A consequence of the kept stop, unless both are the engine's accounts of one end and the
    # new one knows as much: a later reading of an exit replaces an earlier one, but "gone"
    # does not replace the exit of the container that was then removed.
    return kept.reason in FOUND and new.reason in FOUND and new.reason is not StopReason.ENGINE_LOST
