"""Benchmark: how long a lab takes to start (its creation until it answers HTTP) through the
platform's own spawner classes, on one host and on a swarm's manager and worker nodes, with the
same image.

    .venv/bin/python bench/swarm_spawn.py [--runs 5] [--warmup 1]

Three modes, RUNS starts each (after WARMUP starts that are not counted: the first start on a
node pays for its attachment to the overlay network, and the first on the host for the page
cache):

- **single host**: `EngineTolerantDockerSpawner` (the platform's DockerSpawner) on the host's
  engine, the lab's port published on 127.0.0.1; the baseline.
- **swarm, manager** and **swarm, worker**: `PlatformSwarmSpawner` on a real two-node swarm
  started on this machine by the test harness (tests/backends/swarm.py: each node a container
  running its own engine), the lab pinned to the manager or to the worker node (the recorded
  node, as for a user whose volumes are there), on the swarm's overlay network, its port
  published on its node (host mode) so that this process, outside the overlay, reaches it as a
  hub on the overlay would (tests/swarm/published.py).

The "lab" is the tiny test image's HTTP server (busybox `httpd` on the lab's port), for all
three: the project's JupyterLab image is large to load into each node and slow to boot under
this machine's load, which would measure Python's start rather than the spawner's path. Each
start is the spawner's whole `start()`: the image check (one host), the placement and the
service (swarm), the container or task started, and the wait until the lab answers HTTP (any
answer below 500, as the platform's "ready means serving"); each lab is then stopped through the
spawner. Beside each start, the engine's own part of it: the container's creation until it
started (one host), the task's creation until it ran (swarm). Numbers are printed, never
asserted; every container, service and node the bench made
is removed at the end, also when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # for tests.backends when run as a script

import docker  # noqa: E402
import docker.errors  # noqa: E402
from tests.backends import docker_client, ensure_tiny_image  # noqa: E402
from tests.backends.swarm import SwarmCluster, SwarmNode, start_swarm  # noqa: E402
from tests.swarm.published import PublishedSwarmSpawner  # noqa: E402
from tooling.images import ensure_image, swarm_node_recipe  # noqa: E402

from stellars.adapters.jupyterhub.plugin.docker_spawner import (  # noqa: E402
    EngineTolerantDockerSpawner,
    engine_time,
)
from stellars.adapters.jupyterhub.plugin.swarm_spawner import PlatformSwarmSpawner  # noqa: E402

#: The lab's port inside its container (DockerSpawner's default).
LAB_PORT = 8888
#: Generous limits: a slow start is a figure, not a failure.
START_TIMEOUT = 600
HTTP_TIMEOUT = 300


async def http_server_command(spawner: Any) -> list[str]:
    return ["httpd", "-f", "-p", str(spawner.port), "-h", "/tmp"]


def plain_env(spawner: Any) -> dict[str, str]:
    return {"LAB_USER": spawner.user.name}


def a_user(name: str) -> SimpleNamespace:
    return SimpleNamespace(name=name, id=1, settings={})


def single_host_spawner(image: str, prefix: str) -> Callable[[str], Any]:
    """Spawners of the platform's DockerSpawner on the host engine (a class of their own: one
    Docker client per class)."""
    cls: Any = type("BenchDockerSpawner", (EngineTolerantDockerSpawner,), {"_client": None})
    cls.get_command, cls.get_env = http_server_command, plain_env

    def make(username: str) -> Any:
        return cls(
            user=a_user(username),
            image=image,
            prefix=prefix,
            name_template="{prefix}-{username}",
            network_name="bridge",
            use_internal_ip=False,
            host_ip="127.0.0.1",
            remove=True,
            start_timeout=START_TIMEOUT,
            http_timeout=HTTP_TIMEOUT,
        )

    return make


def swarm_spawner(cluster: SwarmCluster, image: str, node: SwarmNode) -> Callable[[str], Any]:
    """Spawners of the platform's SwarmSpawner on `cluster`, pinned to `node`."""
    cls: Any = type("BenchSwarmSpawner", (PublishedSwarmSpawner,), {"_client": None})
    cls.get_command, cls.get_env = http_server_command, plain_env

    def make(username: str) -> Any:
        spawner = cls(
            user=a_user(username),
            client_kwargs={"base_url": cluster.manager.engine_url},
            image=image,
            prefix=cluster.name("lab"),
            name_template="{prefix}-{username}",
            network_name=cluster.overlay,
            start_timeout=START_TIMEOUT,
            http_timeout=HTTP_TIMEOUT,
        )
        spawner.swarm_node = node.hostname  # as for a user whose volumes are on that node
        return spawner

    return make


async def engine_seconds(spawner: Any) -> float | None:
    """The engine's own account of the start just made: its container's creation until it
    started (one host), or its task's creation until the task ran (swarm); None where the
    engine does not say."""
    if isinstance(spawner, PlatformSwarmSpawner):
        tasks = await spawner.docker("tasks", filters={"service": spawner.service_name})
        running = [task for task in tasks if task["Status"]["State"] == "running"]
        if not running:
            return None
        created, ran = running[0]["CreatedAt"], running[0]["Status"]["Timestamp"]
    else:
        container = await spawner.docker("inspect_container", spawner.container_id)
        created, ran = container["Created"], container["State"]["StartedAt"]
    start, end = engine_time(created), engine_time(ran)
    return None if start is None or end is None else (end - start).total_seconds()


async def timed_starts(
    make: Callable[[str], Any], runs: int, warmup: int, tag: str
) -> list[tuple[float, float | None]]:
    """Seconds of each counted start (the spawner's whole `start()`) and the engine's own part
    of it; each lab is stopped after."""
    loop = asyncio.get_running_loop()
    figures = []
    for run in range(warmup + runs):
        spawner = make(f"{tag}{run}-{uuid.uuid4().hex[:6]}")
        began = loop.time()
        await spawner.start()
        took = loop.time() - began
        engine = await engine_seconds(spawner)
        await spawner.stop(now=True)
        if run >= warmup:
            figures.append((took, engine))
        said = "?" if engine is None else f"{engine:.2f}"
        print(
            f"  {tag} start {run + 1}: {took:.2f} s (engine's own {said} s)"
            f"{'' if run >= warmup else ' (warm-up)'}"
        )
    return figures


def table(rows: list[tuple[str, list[tuple[float, float | None]]]]) -> str:
    """The figures per mode against the first mode's (one host)."""
    baseline = statistics.median(took for took, _ in rows[0][1])
    lines = [
        f"{'mode':<16} {'runs':>4} {'median s':>9} {'worst s':>8} {'vs one host':>12} "
        f"{'engine median s':>16}",
    ]
    for mode, figures in rows:
        took = [seconds for seconds, _ in figures]
        engine = [seconds for _, seconds in figures if seconds is not None]
        median = statistics.median(took)
        engine_median = f"{statistics.median(engine):.2f}" if engine else "?"
        lines.append(
            f"{mode:<16} {len(took):>4} {median:>9.2f} {max(took):>8.2f} "
            f"{median / baseline:>11.2f}x {engine_median:>16}"
        )
    return "\n".join(lines)


async def main_async(arguments: argparse.Namespace) -> None:
    host: docker.DockerClient = docker_client()
    image = ensure_tiny_image(host)
    node_image = ensure_image(host, swarm_node_recipe()).tag
    prefix = f"stellars-bench-spawn-{uuid.uuid4().hex[:8]}"
    rows: list[tuple[str, list[tuple[float, float | None]]]] = []
    print(f"image {image} (busybox httpd as the lab), {arguments.runs} runs per mode")
    try:
        rows.append(
            (
                "single host",
                await timed_starts(
                    single_host_spawner(image, prefix), arguments.runs, arguments.warmup, "host"
                ),
            )
        )
    finally:
        for container in host.containers.list(all=True, filters={"name": prefix}):
            with contextlib.suppress(docker.errors.APIError):  # gone, or going already
                container.remove(force=True)
    print("starting a two-node swarm ...")
    cluster = start_swarm(host, node_image, nodes=2, images=[image])
    try:
        cluster.create_overlay()
        for mode, node in (
            ("swarm, manager", cluster.manager),
            ("swarm, worker", cluster.workers[0]),
        ):
            make = swarm_spawner(cluster, image, node)
            rows.append(
                (mode, await timed_starts(make, arguments.runs, arguments.warmup, mode.split()[-1]))
            )
    finally:
        for service in cluster.client().services.list():
            service.remove()
        cluster.teardown()
    print()
    print(table(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="counted starts per mode")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted starts per mode first")
    arguments = parser.parse_args()
    if arguments.runs < 1 or arguments.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup at least 0")
    asyncio.run(main_async(arguments))


if __name__ == "__main__":
    main()
