"""Volume removal on a worker node by a one-off Swarm job (adapters.docker.node_jobs) on a real
two-node swarm: the job runs the project's hub image on the worker, removes a user's volume
there after a file was written in it, says "in use" for a volume a running task mounts, and
leaves no service behind."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import docker
import docker.errors
import pytest

from stellars.adapters.docker import DockerEngine, connect
from stellars.adapters.docker.node_jobs import JOB_LABEL, SwarmVolumeJobs
from stellars.domain.errors import BackendUnavailable
from stellars.domain.volumes import VolumeOutcome
from tests.backends.swarm import SwarmCluster, wait_for

pytestmark = [pytest.mark.swarm, pytest.mark.real]

#: Seconds a task may take to run on its node.
TASK_SECONDS = 120.0


@pytest.fixture(scope="module")
def jobs(swarm: SwarmCluster, hub_image_on_nodes: str) -> Iterator[SwarmVolumeJobs]:
    """Volume jobs through the manager, of the hub image loaded into every node."""
    engine = DockerEngine(lambda: connect(swarm.manager.engine_url, timeout_seconds=60),
                          timeout_seconds=60)  # fmt: skip
    yield SwarmVolumeJobs(engine, image=hub_image_on_nodes, timeout_seconds=TASK_SECONDS)
    engine.close()


def job_services(swarm: SwarmCluster) -> list[Any]:
    return swarm.client().services.list(filters={"label": JOB_LABEL})


def write_file(swarm: SwarmCluster, tiny_image: str, volume: str, node: Any) -> None:
    """A file written into `volume` on `node` by a task that then ends."""
    name = swarm.name("writer")
    client = swarm.client(node)
    client.containers.run(
        tiny_image,
        ["sh", "-c", "echo kept > /data/file"],
        name=name,
        volumes={volume: {"bind": "/data", "mode": "rw"}},
        remove=True,
    )
    assert client.volumes.get(volume).name == volume


async def test_a_job_on_the_worker_removes_a_volume_written_there_and_is_gone_after(
    swarm: SwarmCluster, jobs: SwarmVolumeJobs, tiny_image: str
) -> None:
    worker = swarm.workers[0]
    volume = swarm.name("ann_home")
    write_file(swarm, tiny_image, volume, worker)
    absent = swarm.name("ann_cache")

    outcomes = await jobs.remove(worker.hostname, [volume, absent])

    assert outcomes == {volume: VolumeOutcome.REMOVED, absent: VolumeOutcome.NOT_FOUND}
    with pytest.raises(docker.errors.NotFound):
        swarm.client(worker).volumes.get(volume)
    assert job_services(swarm) == []


async def test_a_volume_a_running_task_mounts_is_in_use_and_stays(
    swarm: SwarmCluster, jobs: SwarmVolumeJobs, tiny_image: str
) -> None:
    worker = swarm.workers[0]
    volume = swarm.name("bob_home")
    service = swarm.client().services.create(
        tiny_image,
        command=["sleep", "3600"],
        name=swarm.name("bob-lab"),
        constraints=[f"node.hostname=={worker.hostname}"],
        mounts=[f"{volume}:/data:rw"],
    )
    try:
        wait_for(
            "the lab's task mounting the volume",
            lambda: any(
                volume in str(c.attrs.get("Mounts"))
                for c in swarm.task_containers(service.name, worker)
            ),
            TASK_SECONDS,
        )
        outcomes = await jobs.remove(worker.hostname, [volume])
        assert outcomes == {volume: VolumeOutcome.IN_USE}
        assert swarm.client(worker).volumes.get(volume).name == volume
    finally:
        service.remove()
    assert job_services(swarm) == []


async def test_a_job_on_a_node_that_is_not_in_the_swarm_times_out_naming_it_and_is_removed(
    swarm: SwarmCluster, hub_image_on_nodes: str
) -> None:
    engine = DockerEngine(lambda: connect(swarm.manager.engine_url, timeout_seconds=30),
                          timeout_seconds=30)  # fmt: skip
    quick = SwarmVolumeJobs(engine, image=hub_image_on_nodes, timeout_seconds=3)
    try:
        with pytest.raises(BackendUnavailable, match="volume job on node no-such-node did not"):
            await quick.remove("no-such-node", [swarm.name("v")])
    finally:
        engine.close()
    assert job_services(swarm) == []
