"""Benchmark: the node sampler on a real two-node swarm, 20 labs per node: the tick time of each
node's sampler against a baseline tick with no labs in the same run, and the slots lost or
stored twice across a restart of the samplers.

    .venv/bin/python bench/node_sampler.py [--labs 20] [--interval 3] [--ticks 6]

It starts the test suite's two-node swarm (tests.backends.swarm: nested engines on this host),
loads the project's hub image and the tiny test image into both nodes, starts a throwaway
PostgreSQL on the host (forwarded to the cluster's gateway, as tests/swarm/sampling.py
does) and deploys the node sampler as a global service (INTERVAL seconds). Then:

1. baseline: TICKS ticks of each node's sampler with no labs;
2. LABS lab-like services per node (the tiny image, labelled as the swarm spawner labels labs,
   each with a volume the node's engine creates), and TICKS ticks once every node reports all
   of its labs;
3. a forced update of the sampler (`docker service update --force`, start-first as
   deploy/stack.yml updates it), then the worker's sampler task container killed (a crash:
   the swarm starts a new task after its restart delay): the slots of each node missing or
   stored twice between the first report before and the last after.

Tick times are the samplers' own (the `in X s` of each tick's log line: reading the engine,
the stats of every lab, the volumes and the database write). Bar (issue 22): a tick <= 2 s
across 2 nodes x 20 labs; no slot lost or duplicated across a restart. The numbers are
printed, never asserted. Everything is removed at the end, also when interrupted.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # for tests.backends when run as a script

from tests.backends import docker_client  # noqa: E402
from tests.backends.postgres import PostgresCluster  # noqa: E402
from tests.backends.swarm import SwarmCluster, start_swarm, wait_for  # noqa: E402
from tests.swarm.sampling import (  # noqa: E402
    PortForward,
    SharedDatabase,
    cluster_gateway,
    deploy_node_sampler,
    force_update,
    gaps_and_repeats,
    lab_service,
    remove_services,
    running_tasks,
)
from tooling.images import (  # noqa: E402
    ensure_hub_image,
    ensure_image,
    ensure_tiny_image,
    swarm_node_recipe,
)

BAR_TICK_SECONDS = 2.0
TICK_LINE = re.compile(
    r"node (?P<node>\S+) slot (?P<slot>\S+ \S+): (?P<labs>\d+) labs, (?P<volumes>\d+) volumes, "
    r"(?P<stored>stored|already reported) in (?P<seconds>[\d.]+) s"
)


def tick_lines(swarm: SwarmCluster, service: str) -> list[dict[str, Any]]:
    """Every tick line the service's task containers (also exited ones) logged, on all nodes."""
    found = []
    for node in swarm.nodes:
        for container in swarm.client(node).containers.list(
            all=True, filters={"label": f"com.docker.swarm.service.name={service}"}
        ):
            text = container.logs(stdout=True, stderr=True).decode(errors="replace")
            for match in TICK_LINE.finditer(text):
                found.append({**match.groupdict(), "task": container.name})
    return found


def ticks_with(
    swarm: SwarmCluster, service: str, labs: int, count: int, timeout: float
) -> dict[str, list[float]]:
    """Wait for `count` ticks of every node's sampler that saw `labs` labs; their seconds."""

    def enough() -> dict[str, list[float]] | None:
        per_node: dict[str, list[float]] = {node.hostname: [] for node in swarm.nodes}
        for line in tick_lines(swarm, service):
            if int(line["labs"]) == labs and line["node"] in per_node:
                per_node[line["node"]].append(float(line["seconds"]))
        return per_node if all(len(v) >= count for v in per_node.values()) else None

    return wait_for(f"{count} ticks with {labs} labs on every node", enough, timeout, 2)


def describe(seconds: list[float]) -> str:
    return (
        f"median {statistics.median(seconds):.3f} s, worst {max(seconds):.3f} s "
        f"({len(seconds)} ticks)"
    )


def restart_figures(
    database: SharedDatabase, swarm: SwarmCluster, since: datetime, interval: timedelta
) -> dict[str, tuple[int, int]]:
    return {
        node.hostname: gaps_and_repeats(database.slots(node.hostname, since), interval)
        for node in swarm.nodes
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labs", type=int, default=20, help="lab services per node")
    parser.add_argument("--interval", type=int, default=3, help="seconds between reports")
    parser.add_argument("--ticks", type=int, default=6, help="ticks measured per node and phase")
    args = parser.parse_args(argv)
    interval = timedelta(seconds=args.interval)
    timeout = 600.0

    host = docker_client()
    started = time.perf_counter()
    tiny = ensure_tiny_image(host)
    hub = ensure_hub_image(host)
    node_image = ensure_image(host, swarm_node_recipe()).tag
    print(f"images ready in {time.perf_counter() - started:.0f} s: {hub}, {tiny}")
    started = time.perf_counter()
    swarm = start_swarm(host, node_image, nodes=2, images=[tiny, hub])
    postgres = PostgresCluster()
    services: list[Any] = []
    forward = None
    try:
        swarm.create_overlay()
        print(f"swarm of {len(swarm.nodes)} nodes ready in {time.perf_counter() - started:.0f} s")
        postgres.start()
        url = postgres.create_database()
        forward = PortForward(cluster_gateway(swarm), ("127.0.0.1", postgres.port))
        gateway, port = forward.address
        database = SharedDatabase(
            url, url.replace(f"@127.0.0.1:{postgres.port}/", f"@{gateway}:{port}/")
        )
        name = swarm.name("node-sampler")
        services.append(
            deploy_node_sampler(swarm, hub, database.node_url, interval=args.interval, name=name)
        )
        baseline = ticks_with(swarm, name, 0, args.ticks, timeout)

        started = time.perf_counter()
        for index, node in enumerate(swarm.nodes, start=1):
            for lab in range(args.labs):
                service = swarm.name(f"lab-{index}-{lab:02d}")
                services.append(lab_service(swarm, tiny, service, f"u{index}-{lab}", node))
        wait_for(
            "every node reporting all its labs",
            lambda: (
                all(
                    len(report.labs) == args.labs and len(report.volumes) == args.labs
                    for report in database.latest().values()
                )
                and len(database.latest()) == len(swarm.nodes)
            ),
            timeout,
            2,
        )
        print(
            f"{args.labs} labs per node running and reported in "
            f"{time.perf_counter() - started:.0f} s"
        )
        loaded = ticks_with(swarm, name, args.labs, args.ticks + 1, timeout)

        print()
        print(
            f"node sampler, 2 nodes, interval {args.interval} s "
            f"(bar: a tick <= {BAR_TICK_SECONDS:g} s)"
        )
        for node in swarm.nodes:
            host_name = node.hostname
            role = "manager" if node.manager else "worker"
            first, rest = loaded[host_name][0], loaded[host_name][1:]
            print(f"  {host_name} ({role})")
            print(f"    baseline, 0 labs:        {describe(baseline[host_name])}")
            print(f"    {args.labs} labs + {args.labs} volumes: {describe(rest)}")
            print(f"    first tick with them:    {first:.3f} s (a full stats read each)")
        worst = max(max(seconds[1:]) for seconds in loaded.values())
        print(f"  worst tick with {args.labs} labs: {worst:.3f} s: "
              f"{'within' if worst <= BAR_TICK_SECONDS else 'OVER'} the bar")  # fmt: skip
        # Restarts: a forced update (start-first), then a crash of the worker's sampler.
        since = datetime.now(timezone.utc) - 2 * interval
        before = running_tasks(swarm, name)
        force_update(services[0])
        wait_for(
            "every node's sampler replaced",
            lambda: all(
                running_tasks(swarm, name).get(node) not in (None, before[node]) for node in before
            ),
            timeout,
            1,
        )
        time.sleep(3 * args.interval)
        update = restart_figures(database, swarm, since, interval)
        since = datetime.now(timezone.utc) - 2 * interval
        worker = swarm.workers[0]
        before = running_tasks(swarm, name)
        [task] = swarm.client(worker).containers.list(
            filters={"label": f"com.docker.swarm.service.name={name}"}
        )
        task.kill()
        wait_for(
            "the worker's sampler back",
            lambda: (
                running_tasks(swarm, name).get(worker.hostname)
                not in (
                    None,
                    before[worker.hostname],
                )
            ),
            timeout,
            1,
        )
        time.sleep(3 * args.interval)
        crash = restart_figures(database, swarm, since, interval)
        refused = sum(line["stored"] != "stored" for line in tick_lines(swarm, name))

        for what, figures in (("forced update (start-first)", update), ("worker crash", crash)):
            for host_name, (missing, twice) in figures.items():
                print(f"  {what}, {host_name}: {missing} slots lost, {twice} stored twice")
        print(f"  reports refused as already reported (the store's dedup at work): {refused}")
        return 0
    finally:
        try:
            remove_services(swarm, services)
        finally:
            if forward is not None:
                forward.close()
            postgres.stop()
            swarm.teardown()


if __name__ == "__main__":
    sys.exit(main())
