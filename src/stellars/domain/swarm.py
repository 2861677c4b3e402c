"""Where a user's lab runs in swarm mode: the node that holds the user's volumes.

A named volume lives on one node's engine. A lab started elsewhere would get new, empty volumes
there and the user's files would split across nodes, so each user is pinned to one node:

- **first start** (no node recorded for the user): the lab goes to a node that can take it (Ready
  and active, not drained or paused) with the fewest labs running; a tie goes to the first
  hostname in sorted order, so the choice never depends on the order the engine lists nodes in.
  The chosen node is then recorded with the user's volumes.
- **later starts**: the recorded node, whatever the load. When that node cannot take a lab (down,
  drained, paused, gone from the swarm) the start is refused with the reason: moving the files
  is an admin's decision (docs/deploy.md), never a silent new, empty home elsewhere.
- **pin lifted** (the deployer keeps the volumes on storage every node reaches, e.g. NFS through
  the local driver's options): no constraint; the swarm places the lab on any node that can
  take one, and nothing is recorded.

`lab_node_counts` counts the labs per node from the swarm's running tasks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from .errors import InvalidValue, Refused
from .validation import echo, non_empty_text

#: Node states as Swarm reports them (`Status.State`, `Spec.Availability`).
READY = "ready"
ACTIVE = "active"
_AVAILABILITY_WORDS = MappingProxyType({"drain": "is drained", "pause": "is paused"})


@dataclass(frozen=True, slots=True, kw_only=True)
class SwarmNode:
    """One node of the swarm as its manager reports it, and the labs running on it."""

    hostname: str
    state: str  # Status.State: ready, down, unknown, disconnected
    availability: str  # Spec.Availability: active, pause, drain
    labs: int = 0
    manager: bool = False

    def __post_init__(self) -> None:
        non_empty_text("hostname", self.hostname)
        if self.labs < 0:
            raise InvalidValue("labs", f"must be 0 or more, got {self.labs}")

    @property
    def takes_labs(self) -> bool:
        """Whether the swarm places new tasks on this node: Ready and active."""
        return self.state == READY and self.availability == ACTIVE

    @property
    def why_not(self) -> str:
        """Why the node takes no labs ("is drained", "is down"); empty when it takes them."""
        if self.state != READY:
            return f"is {self.state}"
        if self.availability != ACTIVE:
            return _AVAILABILITY_WORDS.get(self.availability, f"is {self.availability}")
        return ""


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a lab goes: `node` (a hostname to pin it to, and to record), or None for any node."""

    node: str | None
    reason: str

    @property
    def constraints(self) -> list[str]:
        """The service's placement constraints: its node's hostname, or none."""
        return [] if self.node is None else [f"node.hostname=={self.node}"]


def place_lab(
    username: str, recorded: str | None, nodes: Sequence[SwarmNode], *, pinned: bool = True
) -> Placement:
    """The node `username`'s lab goes to, by the module's rule.

    Raises Refused (a sentence for the user) when the recorded node cannot take the lab, or
    when no node can take one at all.
    """
    if not pinned:
        if not any(node.takes_labs for node in nodes):
            raise Refused("no node of the swarm can take a lab now (every node down or drained)")
        return Placement(None, "volumes on shared storage: any node")
    if recorded:
        found = next((node for node in nodes if node.hostname == recorded), None)
        if found is None:
            raise Refused(
                f"the files of {echo(username)} are on node {echo(recorded)}, which is no longer "
                "in the swarm: an admin must move them to another node, or bring it back"
            )
        if not found.takes_labs:
            raise Refused(
                f"the files of {echo(username)} are on node {echo(recorded)}, which "
                f"{found.why_not}: the lab starts again once an admin makes that node available"
            )
        return Placement(recorded, "the node with the user's volumes")
    candidates = sorted((node for node in nodes if node.takes_labs), key=_load_order)
    if not candidates:
        raise Refused("no node of the swarm can take a lab now (every node down or drained)")
    return Placement(candidates[0].hostname, "first start: the node with the fewest labs")


def _load_order(node: SwarmNode) -> tuple[int, str]:
    return (node.labs, node.hostname)


def lab_node_counts(task_nodes: Iterable[str]) -> Counter[str]:
    """Labs per node id (or hostname), from the node of each running lab task."""
    return Counter(node for node in task_nodes if node)
