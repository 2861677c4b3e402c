"""NodeReportStore in memory: the reports in a dict keyed by (node, slot)."""

from __future__ import annotations

from datetime import datetime

from stellars.domain.node_reports import NodeReport
from stellars.domain.timeutil import require_aware


class InMemoryNodeReportStore:
    """Each node's reports, one per (node, slot); the first report of a slot stays."""

    def __init__(self) -> None:
        self.reports: dict[tuple[str, datetime], NodeReport] = {}

    async def record(self, report: NodeReport) -> bool:
        # Naive times are refused, as the SQL columns refuse them.
        require_aware(report.slot, "slot")
        require_aware(report.taken_at, "taken_at")
        key = (report.node, report.slot)
        if key in self.reports:
            return False
        self.reports[key] = report
        return True

    async def latest(self) -> list[NodeReport]:
        newest: dict[str, NodeReport] = {}
        for report in self.reports.values():
            kept = newest.get(report.node)
            if kept is None or report.slot > kept.slot:
                newest[report.node] = report
        return [newest[node] for node in sorted(newest)]

    async def slots(self, node: str, since: datetime) -> list[datetime]:
        require_aware(since, "since")
        return sorted(slot for name, slot in self.reports if name == node and slot >= since)

    async def prune(self, before: datetime) -> int:
        require_aware(before, "before")
        newest = {report.node: report.slot for report in await self.latest()}
        doomed = [
            (node, slot) for node, slot in self.reports if slot < before and slot != newest[node]
        ]
        for key in doomed:
            del self.reports[key]
        return len(doomed)
