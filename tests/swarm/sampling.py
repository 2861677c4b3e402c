"""What the swarm tests and bench/node_sampler.py share to run the node sampler on the
two-node swarm: PostgreSQL reachable from the nodes, the hub image (the sampler's and the
volume jobs' image), the sampler as deploy/stack.yml runs it, lab-like services labelled as the
swarm spawner labels labs, and the slot arithmetic of a restart.

PostgreSQL (the `postgres` fixture) listens on the host's 127.0.0.1 only; the nodes reach the
host at the cluster network's gateway (as the labs reach the hub in test_platform_on_swarm), so
a port there is forwarded to PostgreSQL (`PortForward`): PostgreSQL is used as it is, and sees
the samplers' connections coming from the host itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import docker
import docker.types
import pytest
from tooling.images import hub_base_recipe, hub_recipe

from stellars.adapters.sql import SqlDatabase, SqlNodeReportStore, create_store_engine
from stellars.domain.node_reports import NodeReport
from tests.backends.fixtures import _ensure
from tests.backends.swarm import SwarmCluster, SwarmNode, wait_for

#: What the swarm spawner labels a lab with (its service, and its container: see the report).
LAB_LABEL = "stellars.lab"
VOLUME_LABEL = "stellars.user"
#: Seconds between reports: short, so a restart spans few slots, and longer than a tick of a
#: loaded two-core machine (a lab's stats read waits about 1 s on the engine).
INTERVAL = 5
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
    swarm: SwarmCluster,
    image: str,
    db_url: str,
    *,
    interval: int = INTERVAL,
    volume_sizes_seconds: int | None = None,
    name: str,
) -> Any:
    """The node sampler as deploy/stack.yml runs it: a global service on the node's socket, no
    health check, updated start-first; the database URL in its environment (the stack's
    entrypoint exports it from a secret). `volume_sizes_seconds`: between two measurements of
    the volumes' sizes (None: the sampler's default)."""
    sizes = (
        []
        if volume_sizes_seconds is None
        else ["--volume-sizes-seconds", str(volume_sizes_seconds)]
    )
    return swarm.client().services.create(
        image,
        name=name,
        command=["python", "-m", "stellars.entrypoints.node_sampler"],
        args=["--interval-seconds", str(interval), *sizes],
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
