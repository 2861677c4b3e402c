from __future__ import annotations

from datetime import datetime
from typing import Protocol

from stellars.domain.node_reports import NodeReport


class NodeReportStore(Protocol):
    """Each swarm node's reports, one per (node, slot) (stellars.domain.node_reports). Shared
    by the nodes' samplers, which write, and the hub, which reads. Raises BackendUnavailable."""

    async def record(self, report: NodeReport) -> bool:
        """Store `report` unless its node already has one for its slot; True when stored."""
        ...

    async def latest(self) -> list[NodeReport]:
        """The newest report of every node that has one, by node name."""
        ...

    async def slots(self, node: str, since: datetime) -> list[datetime]:
        """The slots `node` reported at or after `since`, oldest first, each once."""
        ...

    async def prune(self, before: datetime) -> int:
        """Forget the reports of slots before `before` (each node's newest is kept); returns
        how many were removed."""
        ...
