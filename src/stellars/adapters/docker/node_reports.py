"""The hub's volumes and container stats in swarm mode (STELLARS_SPAWNER=swarm), read from the
nodes' reports (stellars.domain.node_reports) instead of one engine.

Each node's engine answers only for its own containers and volumes, and the hub reaches only
the manager; each node's sampler writes what its engine sees to the shared database, and these
adapters read the newest report of every node (the NodeReportStore port):

- **stats** (`NodeReportStats`, the ContainerStats port): each lab's usage and counters from the
  newest report that lists it (a lab's service name is the server's container name). A stale
  report still counts: its figures are as of that report, and the dashboard says how old.
- **volumes** (`NodeReportVolumes`, the VolumeStore port): the platform's volumes as the nodes
  measured them; a volume listed by several nodes (a lifted pin) is taken from the newest
  report. `provision` creates nothing: the node's engine creates a lab's volumes when the lab
  first starts there (the swarm spawner labels them), so it describes the volume as known.
- **removal**: on each node that holds the volume, by a one-off Swarm job
  (`node_jobs.SwarmVolumeJobs`). A volume no report lists yet (created since the last report)
  is looked for on every node that takes tasks now (Ready and active). Outcomes of several
  nodes combine: removed on any node is removed, else in use on any is in use, else not found.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping
from typing import Protocol

from stellars.domain.containers import ContainerReading, ContainerUsage
from stellars.domain.node_reports import LabReport, NodeReport
from stellars.domain.volumes import VolumeInfo, VolumeOutcome
from stellars.ports.node_reports import NodeReportStore

#: How outcomes of several nodes for one volume combine: the first that any node gave.
_OUTCOME_ORDER = (VolumeOutcome.REMOVED, VolumeOutcome.IN_USE, VolumeOutcome.NOT_FOUND)


class NodeVolumeJobs(Protocol):
    """What removal needs of the swarm (`node_jobs.SwarmVolumeJobs`)."""

    async def remove(self, node: str, names: Collection[str]) -> Mapping[str, VolumeOutcome]: ...

    async def ready_nodes(self) -> list[str]: ...


def newest_first(reports: Iterable[NodeReport]) -> list[NodeReport]:
    """Reports from the newest to the oldest (equal times: by node name), so that the first
    report to list a lab or volume is the one that counts."""
    return sorted(reports, key=lambda report: (-report.taken_at.timestamp(), report.node))


def labs_by_name(reports: Iterable[NodeReport]) -> dict[str, tuple[str, LabReport]]:
    """Each lab of the reports with its node, from the newest report that lists it."""
    found: dict[str, tuple[str, LabReport]] = {}
    for report in newest_first(reports):
        for lab in report.labs:
            found.setdefault(lab.name, (report.node, lab))
    return found


def volumes_by_name(reports: Iterable[NodeReport]) -> dict[str, VolumeInfo]:
    """Each volume of the reports, from the newest report that lists it."""
    found: dict[str, VolumeInfo] = {}
    for report in newest_first(reports):
        for volume in report.volumes:
            found.setdefault(volume.name, volume)
    return found


def volume_nodes(reports: Iterable[NodeReport]) -> dict[str, list[str]]:
    """Each volume of the reports and every node whose newest report lists it, sorted."""
    nodes: dict[str, set[str]] = {}
    for report in reports:
        for volume in report.volumes:
            nodes.setdefault(volume.name, set()).add(report.node)
    return {name: sorted(held) for name, held in nodes.items()}


def combined_outcome(outcomes: Iterable[VolumeOutcome]) -> VolumeOutcome:
    """One volume's outcome over several nodes (see the module's docstring)."""
    given = set(outcomes)
    return next((outcome for outcome in _OUTCOME_ORDER if outcome in given), _OUTCOME_ORDER[-1])


class NodeReportStats:
    """Lab usage from the nodes' newest reports (the ContainerStats port)."""

    def __init__(self, reports: NodeReportStore) -> None:
        self._reports = reports

    async def usage(self, names: Collection[str]) -> dict[str, ContainerUsage]:
        labs = labs_by_name(await self._reports.latest())
        return {name: labs[name][1].usage for name in names if name in labs}

    async def readings(self, names: Collection[str]) -> dict[str, ContainerReading]:
        labs = labs_by_name(await self._reports.latest())
        found = {}
        for name in names:
            reading = labs[name][1].reading if name in labs else None
            if reading is not None:
                found[name] = reading
        return found


class NodeReportVolumes:
    """The platform's volumes across the swarm's nodes (the VolumeStore port; see the module's
    docstring)."""

    def __init__(self, reports: NodeReportStore, jobs: NodeVolumeJobs) -> None:
        self._reports = reports
        self._jobs = jobs

    async def volumes(self, names: Collection[str] | None = None) -> list[VolumeInfo]:
        listed = volumes_by_name(await self._reports.latest())
        wanted = listed.keys() if names is None else set(names) & listed.keys()
        return [listed[name] for name in sorted(wanted)]

    async def describe(self, names: Collection[str]) -> list[VolumeInfo]:
        return [
            VolumeInfo(info.name, None, created_at=info.created_at, owner=info.owner)
            for info in await self.volumes(names)
        ]

    async def provision(self, name: str, *, owner: str | None) -> VolumeInfo:
        """Nothing to create (the node's engine creates it at the lab's first start): the
        volume as the reports know it, else as it will be made."""
        known = await self.describe([name])
        return known[0] if known else VolumeInfo(name, None, owner=owner)

    async def remove(self, names: Collection[str]) -> dict[str, VolumeOutcome]:
        unique = list(dict.fromkeys(names))
        if not unique:
            return {}
        held = volume_nodes(await self._reports.latest())
        per_node: dict[str, list[str]] = {}
        unknown = [name for name in unique if name not in held]
        for name in unique:
            for node in held.get(name, ()):
                per_node.setdefault(node, []).append(name)
        if unknown:
            for node in await self._jobs.ready_nodes():
                per_node.setdefault(node, []).extend(unknown)
        results = await asyncio.gather(
            *(self._jobs.remove(node, node_names) for node, node_names in sorted(per_node.items()))
        )
        seen: dict[str, list[VolumeOutcome]] = {name: [] for name in unique}
        for outcomes in results:
            for name, outcome in outcomes.items():
                if name in seen:
                    seen[name].append(outcome)
        return {name: combined_outcome(given) for name, given in seen.items()}
