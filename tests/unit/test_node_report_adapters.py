"""The hub's stats and volumes in swarm mode, read from the nodes' reports
(adapters.docker.node_reports), on a report store of this test and a fake of the node jobs."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta, timezone

import pytest

from stellars.adapters.docker.node_reports import (
    NodeReportStats,
    NodeReportVolumes,
    combined_outcome,
    labs_by_name,
    volume_nodes,
)
from stellars.domain.containers import ContainerReading, ContainerUsage
from stellars.domain.errors import BackendUnavailable
from stellars.domain.node_reports import LabReport, NodeReport
from stellars.domain.volumes import VolumeInfo, VolumeOutcome

REMOVED, NOT_FOUND, IN_USE = VolumeOutcome.REMOVED, VolumeOutcome.NOT_FOUND, VolumeOutcome.IN_USE
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
CREATED = datetime(2026, 5, 1, tzinfo=timezone.utc)


class LatestReports:
    """The NodeReportStore port as these adapters read it: the newest report of each node."""

    def __init__(self, *reports: NodeReport) -> None:
        self.reports = list(reports)
        self.reads = 0

    async def record(self, report: NodeReport) -> bool:
        self.reports.append(report)
        return True

    async def latest(self) -> list[NodeReport]:
        self.reads += 1
        return sorted(self.reports, key=lambda report: report.node)

    async def slots(self, node: str, since: datetime) -> list[datetime]:
        return []

    async def prune(self, before: datetime) -> int:
        return 0


class FakeJobs:
    """The swarm's volume jobs: each node's volumes and which of them a task mounts."""

    def __init__(self, volumes: dict[str, set[str]], in_use: set[str] = frozenset(),
                 ready: list[str] | None = None) -> None:  # fmt: skip
        self.volumes = volumes
        self.in_use = in_use
        self.ready = sorted(volumes) if ready is None else ready
        self.jobs: list[tuple[str, list[str]]] = []
        self.failing: str | None = None

    async def ready_nodes(self) -> list[str]:
        return self.ready

    async def remove(self, node: str, names: Collection[str]) -> dict[str, VolumeOutcome]:
        self.jobs.append((node, list(names)))
        if node == self.failing:
            raise BackendUnavailable(f"the volume job on node {node} failed: boom")
        held = self.volumes.setdefault(node, set())
        outcomes = {}
        for name in names:
            if name not in held:
                outcomes[name] = NOT_FOUND
            elif name in self.in_use:
                outcomes[name] = IN_USE
            else:
                held.discard(name)
                outcomes[name] = REMOVED
        return outcomes


def usage(cpu: float) -> ContainerUsage:
    return ContainerUsage(cpu_percent=cpu, memory_bytes=100, memory_limit_bytes=1000)


def reading(cpu_ns: int) -> ContainerReading:
    return ContainerReading(cpu_total_ns=cpu_ns, system_cpu_ns=10, online_cpus=2,
                            memory_usage_bytes=1, memory_limit_bytes=2)  # fmt: skip


def report(node: str, minutes: int, labs=(), volumes=()) -> NodeReport:
    taken = T0 + timedelta(minutes=minutes)
    return NodeReport(node=node, slot=taken, taken_at=taken, labs=tuple(labs),
                      volumes=tuple(volumes))  # fmt: skip


def volume(name: str, size: int | None = None, owner: str | None = None) -> VolumeInfo:
    return VolumeInfo(name, size, created_at=CREATED, owner=owner)


# --- stats ---------------------------------------------------------------------------------


async def test_usage_and_readings_come_from_the_newest_report_listing_each_lab():
    n1_labs = [LabReport("lab-ann", usage(1.0), reading(1)), LabReport("lab-bob", usage(2.0))]
    n2_labs = [
        LabReport("lab-ann", usage(9.0), reading(9)),
        LabReport("lab-cy", usage(3.0), reading(3)),
    ]
    store = LatestReports(report("n1", 0, n1_labs), report("n2", 1, n2_labs))
    stats = NodeReportStats(store)
    names = ["lab-ann", "lab-bob", "lab-cy", "lab-dee"]
    assert await stats.usage(names) == {
        "lab-ann": usage(9.0),  # moved to n2, whose report is newer
        "lab-bob": usage(2.0),
        "lab-cy": usage(3.0),
    }
    # lab-bob's node gave no counters for it; lab-dee runs nowhere
    assert await stats.readings(names) == {"lab-ann": reading(9), "lab-cy": reading(3)}
    assert await stats.usage(["lab-bob"]) == {"lab-bob": usage(2.0)}
    assert await stats.usage([]) == {}


def test_labs_by_name_breaks_a_tie_of_times_by_node_name():
    same = [report("n2", 0, [LabReport("lab", usage(2.0))]),
            report("n1", 0, [LabReport("lab", usage(1.0))])]  # fmt: skip
    assert labs_by_name(same) == {"lab": ("n1", LabReport("lab", usage(1.0)))}


async def test_no_reports_no_figures():
    stats = NodeReportStats(LatestReports())
    assert await stats.usage(["lab"]) == {}
    assert await stats.readings(["lab"]) == {}


# --- volumes -------------------------------------------------------------------------------


def store_of_two_nodes() -> LatestReports:
    return LatestReports(
        report("n1", 0, volumes=[volume("ann_home", 10, "user-1"), volume("shared", 1)]),
        report("n2", 2, volumes=[volume("bob_home", 20), volume("shared", 5)]),
    )


async def test_volumes_are_the_nodes_measurements_sorted_by_name():
    volumes = NodeReportVolumes(store_of_two_nodes(), FakeJobs({}))
    assert await volumes.volumes() == [
        volume("ann_home", 10, "user-1"),
        volume("bob_home", 20),
        volume("shared", 5),  # on both nodes: n2's report is the newer
    ]
    assert await volumes.volumes(["shared", "ann_home", "nope"]) == [
        volume("ann_home", 10, "user-1"),
        volume("shared", 5),
    ]
    assert await volumes.volumes([]) == []


async def test_describe_gives_no_sizes_and_provision_creates_nothing():
    jobs = FakeJobs({})
    volumes = NodeReportVolumes(store_of_two_nodes(), jobs)
    assert await volumes.describe(["bob_home", "ann_home", "cy_home"]) == [
        volume("ann_home", None, "user-1"),
        volume("bob_home", None),
    ]
    assert await volumes.provision("ann_home", owner="user-9") == volume("ann_home", None, "user-1")
    made = await volumes.provision("cy_home", owner="user-3")
    assert made == VolumeInfo("cy_home", None, owner="user-3")
    assert jobs.jobs == []


def test_volume_nodes_and_combined_outcomes():
    assert volume_nodes(store_of_two_nodes().reports) == {
        "ann_home": ["n1"],
        "bob_home": ["n2"],
        "shared": ["n1", "n2"],
    }
    assert combined_outcome([NOT_FOUND, REMOVED, IN_USE]) is REMOVED
    assert combined_outcome([NOT_FOUND, IN_USE]) is IN_USE
    assert combined_outcome([NOT_FOUND, NOT_FOUND]) is NOT_FOUND
    assert combined_outcome([]) is NOT_FOUND


async def test_remove_runs_one_job_on_each_node_that_holds_the_volumes():
    jobs = FakeJobs({"n1": {"ann_home", "ann_cache", "shared"}, "n2": {"bob_home", "shared"},
                     "n3": set()}, in_use={"bob_home"})  # fmt: skip
    store = store_of_two_nodes()
    store.reports[0] = report("n1", 0, volumes=[volume("ann_home"), volume("ann_cache"),
                                                volume("shared")])  # fmt: skip
    volumes = NodeReportVolumes(store, jobs)
    outcomes = await volumes.remove(["ann_home", "bob_home", "ann_cache", "ann_home"])
    assert outcomes == {"ann_home": REMOVED, "bob_home": IN_USE, "ann_cache": REMOVED}
    assert list(outcomes) == ["ann_home", "bob_home", "ann_cache"]
    assert sorted(jobs.jobs) == [("n1", ["ann_home", "ann_cache"]), ("n2", ["bob_home"])]
    assert await volumes.remove([]) == {}


async def test_a_volume_on_several_nodes_is_removed_on_each():
    jobs = FakeJobs({"n1": {"shared"}, "n2": {"shared"}})
    outcomes = await NodeReportVolumes(store_of_two_nodes(), jobs).remove(["shared"])
    assert outcomes == {"shared": REMOVED}
    assert sorted(jobs.jobs) == [("n1", ["shared"]), ("n2", ["shared"])]
    assert jobs.volumes == {"n1": set(), "n2": set()}


async def test_a_volume_no_report_lists_is_looked_for_on_every_node_that_takes_tasks():
    jobs = FakeJobs({"n1": set(), "n2": {"cy_home"}, "n3": {"cy_home"}}, ready=["n1", "n2"])
    outcomes = await NodeReportVolumes(store_of_two_nodes(), jobs).remove(["cy_home", "bob_home"])
    assert outcomes == {"cy_home": REMOVED, "bob_home": NOT_FOUND}
    assert sorted(jobs.jobs) == [("n1", ["cy_home"]), ("n2", ["bob_home", "cy_home"])]
    assert jobs.volumes["n3"] == {"cy_home"}  # not taking tasks: not asked


async def test_a_name_no_node_holds_is_not_found():
    jobs = FakeJobs({"n1": set()}, ready=[])
    assert await NodeReportVolumes(LatestReports(), jobs).remove(["x"]) == {"x": NOT_FOUND}
    assert jobs.jobs == []


async def test_a_failed_job_fails_the_removal_naming_the_node():
    jobs = FakeJobs({"n1": {"ann_home"}, "n2": {"bob_home"}})
    jobs.failing = "n2"
    with pytest.raises(BackendUnavailable, match="volume job on node n2 failed"):
        await NodeReportVolumes(store_of_two_nodes(), jobs).remove(["ann_home", "bob_home"])
