"""The node sampler on the real two-node swarm: the project's hub image on both nodes, the
sampler deployed as a global service (one task per node, each reading its own node's engine
through its socket), lab-like services labelled as the swarm spawner labels labs, one on each
node with a volume of its own, and PostgreSQL on the host: both nodes' reports arrive with
their own labs and volumes, and a forced update of the sampler (the new task started before the
old one stops, as deploy/stack.yml updates it) leaves no slot of either node missing or twice.

PostgreSQL reaches the nodes through a forwarded port (tests/swarm/sampling.py).
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta, timezone
from typing import Any

import docker
import docker.errors
import pytest

from tests.backends.swarm import SwarmCluster, wait_for
from tests.swarm.sampling import (
    INTERVAL,
    START_SECONDS,
    deploy_node_sampler,
    force_update,
    gaps_and_repeats,
    lab_service,
    remove_services,
    running_tasks,
    shared_database,
)

pytestmark = [pytest.mark.swarm, pytest.mark.real]


def test_each_nodes_sampler_reports_its_own_labs_and_volumes_with_no_slot_lost_on_restart(
    swarm: SwarmCluster, hub_image_on_nodes: str, tiny_image: str, postgres: Any
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
            made.append(
                deploy_node_sampler(swarm, hub_image_on_nodes, database.node_url, name=sampler_name)
            )
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
            # The newest slot each node reported before the restart: from it on, none missing.
            last_before = {
                node: database.slots(node, datetime.now(timezone.utc) - timedelta(hours=1))[-1]
                for node in wanted
            }
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
                slots = database.slots(node, last_before[node])
                assert slots[0] == last_before[node]  # reports from before the restart ...
                assert gaps_and_repeats(slots, interval) == (0, 0), (node, slots)
        finally:
            remove_services(swarm, made)
            for node in swarm.nodes:
                for name in labs.values():
                    with contextlib.suppress(docker.errors.NotFound):
                        swarm.client(node).volumes.get(f"{name}-home").remove(force=True)
