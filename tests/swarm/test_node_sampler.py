"""The node sampler on the real two-node swarm: the project's hub image on both nodes, the
sampler deployed as a global service (one task per node, each reading its own node's engine
through its socket), lab-like services labelled as the swarm spawner labels labs, one on each
node with a volume of its own, and PostgreSQL on the host: both nodes' reports arrive with
their own labs and volumes, and a forced update of the sampler (the new task started before the
old one stops, as deploy/stack.yml updates it) leaves no slot of either node missing or twice.

PostgreSQL (the `postgres` fixture) listens on the host's 127.0.0.1 only; the nodes reach the
host at the cluster network's gateway (as the labs reach the hub in test_platform_on_swarm), so
the test forwards a port there to PostgreSQL (`PortForward`): PostgreSQL is used as it is, and
sees the samplers' connections coming from the host itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import docker
import docker.types
import pytest
from tooling.images import hub_base_recipe, hub_recipe

from stellars.adapters.sql import SqlDatabase, create_store_engine
from stellars.adapters.sql.node_reports import SqlNodeReportStore
from stellars.domain.node_reports import NodeReport
from tests.backends.fixtures import _ensure
from tests.backends.swarm import SwarmCluster, SwarmNode, wait_for

pytestmark = [pytest.mark.swarm, pytest.mark.real]

#: What the swarm spawner labels a lab with (its service, and its container: see the report).
LAB_LABEL = "stellars.lab"
VOLUME_LABEL = "stellars.user"
#: Seconds between reports: short, so a restart spans few slots.
INTERVAL = 3
#: Seconds a service may take to run on every node (two busy cores, nested engines).
START_SECONDS = 240.0


class PortForward:
    """A TCP port on `listen_host` whose connections are relayed to `target` (host, port), one
    pair of threads per connection; `close()` stops accepting and ends every relay."""

    def __init__(self, listen_host: str, target: tuple[str, int]) -> None:
        self.target = target
        self._server = socket.create_server((listen_host, 0))
        self.address = self._server.getsockname()[:2]
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._closed = True
        self._server.close()
        for each in self._sockets:
            with contextlib.suppress(OSError):
                each.close()


def cluster_gateway(swarm: SwarmCluster) -> str:
    """The host's address on the cluster's network (where the nodes reach the host)."""
    network = swarm.host.networks.get(swarm.network)
    return str(network.attrs["IPAM"]["Config"][0]["Gateway"])


@dataclass
class SharedDatabase:
    """One PostgreSQL database: `url` for the host, `node_url` for the swarm's tasks."""

    url: str
    node_url: str

    def read(self, work: Any) -> Any:
        async def run() -> Any:
            database = SqlDatabase(create_store_engine(self.url))
            try:
                return await work(SqlNodeReportStore(database))
            finally:
                database.close()

        return asyncio.run(run())

    def latest(self) -> dict[str, NodeReport]:
        async def work(store: SqlNodeReportStore) -> list[NodeReport]:
            return await store.latest()

        return {report.node: report for report in self.read(work)}

    def slots(self, node: str, since: datetime) -> list[datetime]:
        async def work(store: SqlNodeReportStore) -> list[datetime]:
            return await store.slots(node, since)

        return list(self.read(work))


@contextlib.contextmanager
def shared_database(swarm: SwarmCluster, postgres: Any) -> Iterator[SharedDatabase]:
    """A fresh database of the `postgres` fixture, reachable from the nodes (see the module's
    docstring)."""
    url = postgres.create_database()
    forward = PortForward(cluster_gateway(swarm), ("127.0.0.1", postgres.port))
    host, port = forward.address
    try:
        yield SharedDatabase(url, url.replace(f"@127.0.0.1:{postgres.port}/", f"@{host}:{port}/"))
    finally:
        forward.close()


def hub_image_of(request: pytest.FixtureRequest, host: docker.DockerClient) -> str:
    """The hub image of this tree (as tests/e2e/test_container.py builds it)."""
    import jupyterhub

    base = _ensure(request, host, hub_base_recipe())
    return _ensure(request, host, hub_recipe(base, jupyterhub.__version__))


def deploy_node_sampler(
    swarm: SwarmCluster, image: str, db_url: str, *, interval: int = INTERVAL, name: str
) -> Any:
    """The node sampler as deploy/stack.yml runs it: a global service on the node's socket, no
    health check, updated start-first; the database URL in its environment (the stack's
    entrypoint exports it from a secret)."""
    return swarm.client().services.create(
        image,
        name=name,
        command=["python", "-m", "stellars.entrypoints.node_sampler"],
        args=["--interval-seconds", str(interval)],
        env=[f"STELLARS_DB_URL={db_url}"],
        user="0",
        mounts=["/var/run/docker.sock:/var/run/docker.sock:rw"],
        networks=[swarm.overlay] if swarm.overlay else [],
        healthcheck=docker.types.Healthcheck(test=["NONE"]),
        mode=docker.types.ServiceMode("global"),
        update_config=docker.types.UpdateConfig(order="start-first"),
        restart_policy=docker.types.RestartPolicy(condition="any", delay=1_000_000_000),
    )


def lab_service(
    swarm: SwarmCluster, image: str, name: str, user: str, on: SwarmNode, *, volume: bool = True
) -> Any:
    """A lab-like service pinned to `on`: labelled `stellars.lab` on the service and on its
    task's container, as the swarm spawner labels labs, with a named volume the node's engine
    creates with the label `stellars.user` (as the spawner's mounts give it)."""
    mounts = []
    if volume:
        mounts.append(
            docker.types.Mount(
                target="/home", source=f"{name}-home", type="volume", labels={VOLUME_LABEL: user}
            )
        )
    return swarm.client().services.create(
        image,
        command=["sh", "-c", "head -c 200000 /dev/zero > /home/file; exec sleep 3600"],
        name=name,
        labels={LAB_LABEL: user},
        container_labels={LAB_LABEL: user},
        mounts=mounts,
        constraints=[f"node.hostname=={on.hostname}"],
        mode=docker.types.ServiceMode("replicated", replicas=1),
    )


def force_update(service: Any) -> None:
    """`docker service update --force` on the service's current version."""
    service.reload()
    service.force_update()


def running_tasks(swarm: SwarmCluster, service: str) -> dict[str, str]:
    """node hostname -> task id of `service`'s running tasks."""
    hostnames = {node["ID"]: node["Description"]["Hostname"] for node in swarm.swarm_nodes()}
    return {
        hostnames[task["NodeID"]]: task["ID"]
        for task in swarm.client().api.tasks(filters={"service": service})
        if task["Status"]["State"] == "running" and task.get("DesiredState") == "running"
    }


def gaps_and_repeats(slots: list[datetime], interval: timedelta) -> tuple[int, int]:
    """(slots missing between the first and the last, slots listed more than once)."""
    missing = sum(
        max(int((later - earlier) / interval) - 1, 0)
        for earlier, later in itertools.pairwise(slots)
    )
    return missing, len(slots) - len(set(slots))


@pytest.fixture(scope="module")
def hub_image(request: pytest.FixtureRequest, swarm: SwarmCluster) -> str:
    image = hub_image_of(request, swarm.host)
    swarm.load_image(image)
    return image


def test_each_nodes_sampler_reports_its_own_labs_and_volumes_with_no_slot_lost_on_restart(
    swarm: SwarmCluster, hub_image: str, tiny_image: str, postgres: Any
) -> None:
    interval = timedelta(seconds=INTERVAL)
    made: list[Any] = []
    labs = {
        node.hostname: swarm.name(f"lab-{index}") for index, node in enumerate(swarm.nodes, start=1)
    }
    with shared_database(swarm, postgres) as database:
        try:
            for index, node in enumerate(swarm.nodes, start=1):
                made.append(lab_service(swarm, tiny_image, labs[node.hostname], f"u{index}", node))
            sampler_name = swarm.name("node-sampler")
            made.append(deploy_node_sampler(swarm, hub_image, database.node_url, name=sampler_name))
            wanted = {node.hostname for node in swarm.nodes}

            def every_node_reports_its_lab() -> bool:
                latest = database.latest()
                return set(latest) == wanted and all(
                    [lab.name for lab in latest[node].labs] == [labs[node]]
                    and [volume.name for volume in latest[node].volumes] == [f"{labs[node]}-home"]
                    for node in wanted
                )

            wait_for("both nodes' reports with their labs", every_node_reports_its_lab,
                     START_SECONDS, 2)  # fmt: skip
            latest = database.latest()
            for node in wanted:
                [lab] = latest[node].labs
                assert lab.usage.memory_bytes > 0 and lab.reading is not None
                [volume] = latest[node].volumes
                assert volume.size_bytes is not None and volume.size_bytes >= 200_000
            # Every node's own sampler, and only its own labs: no node reports the other's.
            assert {lab.name for report in latest.values() for lab in report.labs} == set(
                labs.values()
            )

            # A forced update: each node's new sampler starts before its old one stops.
            before = running_tasks(swarm, sampler_name)
            assert set(before) == wanted
            since = datetime.now(timezone.utc) - 2 * interval
            force_update(made[-1])

            def replaced() -> bool:
                now = running_tasks(swarm, sampler_name)
                return set(now) == wanted and all(now[n] != before[n] for n in wanted)

            wait_for("every node's sampler replaced", replaced, START_SECONDS, 1)
            restarted_at = datetime.now(timezone.utc)
            wait_for(
                "three reports after the restart",
                lambda: all(len(database.slots(node, restarted_at)) >= 3 for node in wanted),
                START_SECONDS,
                1,
            )
            for node in wanted:
                slots = database.slots(node, since)
                assert slots[0] <= since + interval  # reports from before the restart ...
                assert gaps_and_repeats(slots, interval) == (0, 0), (node, slots)
        finally:
            remove_services(swarm, made)
            for node in swarm.nodes:
                for name in labs.values():
                    with contextlib.suppress(docker.errors.NotFound):
                        swarm.client(node).volumes.get(f"{name}-home").remove(force=True)


def remove_services(swarm: SwarmCluster, services: list[Any]) -> None:
    """Remove `services` and wait until their task containers are gone from every node."""
    names = []
    for service in services:
        names.append(service.name)
        with contextlib.suppress(docker.errors.NotFound):
            service.remove()

    def gone() -> bool:
        return not any(
            swarm.client(node).containers.list(
                all=True, filters={"label": f"com.docker.swarm.service.name={name}"}
            )
            for node in swarm.nodes
            for name in names
        )

    wait_for("the services' tasks gone", gone, 120, 1)
