"""Why a server stopped: the stop the platform saw last, with its reason, for the user's home
page and the API, so that a server the kernel's OOM killer took reads "stopped: ran out of
memory (limit 4 GiB)" instead of vanishing.

When JupyterHub finds a server gone (its spawner's poll), the platform reads how the container
ended before DockerSpawner removes it, and records the stop by this rule:

- **out of memory**: the engine says the kernel's OOM killer struck in the container, and the
  server did not exit cleanly (an exit code other than 0). The engine marks a container so when
  the OOM killer killed any process in it, a notebook's kernel included, so a server that later
  shut down cleanly by itself is not blamed on memory. The message names the container's memory
  limit, when it had one.
- **exited**: any other end the hub did not ask for, with its exit code.
- **node unavailable** (swarm mode): the node that holds the server's volumes was drained,
  paused or lost, so the swarm took the lab off it and no other node may run it
  (stellars.domain.swarm); the message names the node and what became of it.

A stop happened when the engine says the container finished, else when the platform saw it.
One stop is kept per server, the last; the server's next start forgets it (it told about the
run before). The reasons are an enumeration that grows: stops the hub asks for itself (the
user, an admin, the idle culler) are for the next issue to add.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from .errors import InvalidValue
from .limits import describe_bytes
from .validation import clip, echo

#: The most characters of the engine's own words about a stop that are kept.
DETAIL_LIMIT = 500


class StopReason(str, Enum):
    """Why a server stopped."""

    OUT_OF_MEMORY = "out_of_memory"
    EXITED = "exited"
    NODE_UNAVAILABLE = "node_unavailable"  # swarm mode: its node was drained, paused or lost


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerExit:
    """How a server's container ended, as the engine reports it."""

    exit_code: int
    oom_killed: bool
    finished_at: datetime | None = None  # None: the engine does not say
    memory_limit: int | None = None  # the container's memory limit in bytes; None: none
    error: str = ""  # the engine's own message, usually empty


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

    def __post_init__(self) -> None:
        if not isinstance(self.reason, StopReason):
            raise InvalidValue("reason", f"must be a StopReason, got {echo(self.reason)}")
        if self.at.tzinfo is None:
            raise InvalidValue("at", "must be timezone-aware")
        object.__setattr__(self, "detail", clip(self.detail, DETAIL_LIMIT))

    @property
    def explanation(self) -> str:
        """What happened, in words: "ran out of memory (limit 4 GiB)", "exited with code 1"."""
        if self.reason is StopReason.OUT_OF_MEMORY:
            if self.memory_limit is None:
                return "ran out of memory"
            return f"ran out of memory (limit {describe_bytes(self.memory_limit)})"
        if self.reason is StopReason.NODE_UNAVAILABLE:
            return self.detail
        return f"exited with code {self.exit_code}"

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
