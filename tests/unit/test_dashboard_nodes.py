"""The dashboard in swarm mode: each row's lab node and every node's report age, from the nodes'
newest reports (a report store of this test); outside swarm mode neither is there. Also the
JSON of `GET /hub/api/activity` for both."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from stellars.adapters.jupyterhub.web.activity import ActivityAPI, node_json
from stellars.adapters.memory import InMemoryVolumeStore
from stellars.domain.containers import ContainerUsage
from stellars.domain.disk import DiskMeasurement
from stellars.domain.hub import HubUser
from stellars.domain.node_reports import LabReport, NodeReport
from stellars.domain.services import DashboardService, NodeState, Refresher, VolumeService
from stellars.domain.services.dashboard import lab_nodes, node_states
from stellars.domain.settings import PlatformSettings
from stellars.domain.volumes import DockerNaming
from tests.unit.test_dashboard import NOW, VOLUMES, World, server

USAGE = ContainerUsage(cpu_percent=1.0, memory_bytes=1, memory_limit_bytes=2)
INTERVAL = timedelta(seconds=10)
SPAWNER_NAMING = DockerNaming(prefix="lab", name_template="")


def report(node: str, age: timedelta, *labs: str) -> NodeReport:
    taken = NOW - age
    return NodeReport(node=node, slot=taken, taken_at=taken,
                      labs=tuple(LabReport(lab, USAGE) for lab in labs))  # fmt: skip


class LatestReports:
    """The newest report of each node (the NodeReportStore port as the dashboard reads it)."""

    def __init__(self, *reports: NodeReport) -> None:
        self.reports = list(reports)

    async def record(self, report: NodeReport) -> bool:
        return True

    async def latest(self) -> list[NodeReport]:
        return list(self.reports)

    async def slots(self, node: str, since: datetime) -> list[datetime]:
        return []

    async def prune(self, before: datetime) -> int:
        return 0


def swarm_dashboard(world: World, store: LatestReports) -> DashboardService:
    # DockerSpawner's default names: a named server's lab is "lab-ann--gpu"
    volumes = VolumeService(store=InMemoryVolumeStore(), directory=world.directory,
                            volumes=VOLUMES, naming=SPAWNER_NAMING, sizes=world.sizes)  # fmt: skip
    return DashboardService(
        directory=world.directory,
        activity=world.activity,
        sessions=world.sessions,
        volumes=volumes,
        credentials=world.credentials,
        container_stats=world.usage,
        volume_sizes=world.sizes,
        clock=world.clock,
        node_reports=store,
        report_interval=INTERVAL,
    )


@pytest.fixture
def world() -> World:
    w = World()
    w.directory.put(HubUser(name="ann", servers={
        "": server("ann", idle=timedelta(minutes=5)),
        "gpu": server("ann", idle=timedelta(minutes=5), name="gpu"),
    }))  # fmt: skip
    w.directory.put(HubUser(name="bob", servers={"": server("bob", idle=timedelta(hours=2))}))
    w.directory.put(HubUser(name="cy"))  # offline, though a stale report still lists its lab
    w.directory.put(HubUser(name="dee", servers={"": server("dee", idle=timedelta(0))}))
    return w


def store_of_two_nodes() -> LatestReports:
    return LatestReports(
        report("worker", timedelta(seconds=31), "lab-ann--gpu", "lab-bob", "lab-cy"),
        report("manager", timedelta(seconds=4), "lab-ann", "lab-bob"),
    )


async def test_rows_name_their_labs_nodes_and_the_page_lists_each_nodes_report_age(world):
    page = await swarm_dashboard(world, store_of_two_nodes()).page()
    nodes = {row.username: row.node for row in page.rows}
    assert nodes == {
        "ann": "manager, worker",  # two servers, one on each node
        "bob": "manager",  # in both reports: the newer one's node (it moved)
        "cy": None,  # offline
        "dee": None,  # running, in no report yet
    }
    assert page.nodes == (
        NodeState("manager", timedelta(seconds=4), False),
        NodeState("worker", timedelta(seconds=31), True),  # over 3 intervals of 10 s
    )


async def test_no_reports_yet_is_an_empty_node_list(world):
    page = await swarm_dashboard(world, LatestReports()).page()
    assert page.nodes == ()
    assert {row.node for row in page.rows} == {None}


async def test_outside_swarm_mode_no_nodes(world):
    page = await world.dashboard.page()
    assert page.nodes is None
    assert {row.node for row in page.rows} == {None}


def test_node_states_and_lab_nodes():
    reports = [report("b", timedelta(seconds=30), "x"), report("a", timedelta(seconds=30), "x"),
               report("c", -timedelta(seconds=5), "y")]  # fmt: skip
    assert node_states(reports, NOW, INTERVAL) == (
        NodeState("a", timedelta(seconds=30), False),  # exactly 3 intervals: not yet stale
        NodeState("b", timedelta(seconds=30), False),
        NodeState("c", timedelta(0), False),  # a node's clock ahead counts as just now
    )
    assert lab_nodes(reports) == {"x": "a", "y": "c"}  # equal times: the first node by name


# --- the JSON of GET /hub/api/activity ---------------------------------------------------


def api_of(world: World) -> SimpleNamespace:
    """What ActivityAPI's encoding reads of its handler: the platform's settings, clock and
    host-disk snapshot."""
    disk = Refresher(
        lambda: None, empty=DiskMeasurement.unknown("not measured yet"), interval=INTERVAL,
        clock=world.clock, name="host disk",
    )  # fmt: skip
    platform = SimpleNamespace(settings=PlatformSettings(), clock=world.clock, host_disk=disk)
    handler = SimpleNamespace(platform=platform)
    handler._page_json = lambda page, offset, limit: ActivityAPI._page_json(
        handler, page, offset, limit
    )
    return handler


async def encoded(world: World, dashboard: DashboardService) -> dict:
    page = await dashboard.page()
    body = await ActivityAPI._encode(api_of(world), page, 0, 1000)  # type: ignore[arg-type]
    return json.loads(body)


async def test_the_json_in_swarm_mode_has_each_rows_node_and_the_nodes(world):
    answer = await encoded(world, swarm_dashboard(world, store_of_two_nodes()))
    assert [(row["username"], row["node"]) for row in answer["users"]] == [
        ("ann", "manager, worker"), ("bob", "manager"), ("cy", None), ("dee", None),
    ]  # fmt: skip
    assert answer["nodes"] == [
        {"node": "manager", "report_age_seconds": 4, "is_stale": False},
        {"node": "worker", "report_age_seconds": 31, "is_stale": True},
    ]


async def test_the_json_outside_swarm_mode_is_unchanged(world):
    answer = await encoded(world, world.dashboard)
    assert "nodes" not in answer
    assert all("node" not in row for row in answer["users"])
    assert answer["total"] == 4


def test_node_json():
    assert node_json(NodeState("n1", timedelta(seconds=90.7), True)) == {
        "node": "n1",
        "report_age_seconds": 90,
        "is_stale": True,
    }
