"""The swarm harness itself: nodes Ready, traffic between nodes over the overlay, a complete
teardown."""

from __future__ import annotations

import docker
import pytest

from tests.backends.swarm import SwarmCluster, prefixed, run_service, start_swarm, wait_for

pytestmark = [pytest.mark.swarm, pytest.mark.real]

#: Seconds a one-replica service of the tiny image may take to run its task.
TASK_SECONDS = 90.0


def test_every_node_is_ready_and_the_first_one_manages(swarm: SwarmCluster) -> None:
    nodes = swarm.swarm_nodes()
    assert len(nodes) == 2
    by_hostname = {node["Description"]["Hostname"]: node for node in nodes}
    assert set(by_hostname) == {node.hostname for node in swarm.nodes}
    for node in nodes:
        assert node["Status"]["State"] == "ready"
        assert node["Spec"]["Availability"] == "active"
    assert by_hostname[swarm.manager.hostname]["Spec"]["Role"] == "manager"
    assert by_hostname[swarm.workers[0].hostname]["Spec"]["Role"] == "worker"
    # Each node is its own engine, and none of them is the host's.
    host_id = swarm.host.info()["ID"]
    engine_ids = {swarm.client(node).info()["ID"] for node in swarm.nodes}
    assert len(engine_ids) == 2 and host_id not in engine_ids
    assert swarm.host.info()["Swarm"]["LocalNodeState"] in ("inactive", "")


def test_images_are_loaded_into_every_node_once(swarm: SwarmCluster, tiny_image: str) -> None:
    image_id = swarm.host.images.get(tiny_image).id
    for node in swarm.nodes:
        assert swarm.client(node).images.get(tiny_image).id == image_id
    swarm.load_image(tiny_image)  # a second load of the same id copies nothing
    assert swarm._loaded[image_id] == {node.container for node in swarm.nodes}


def test_a_task_on_the_manager_reaches_a_task_on_the_worker_over_the_overlay(
    swarm: SwarmCluster, tiny_image: str
) -> None:
    assert swarm.overlay is not None
    manager, worker = swarm.manager, swarm.workers[0]
    server, client = swarm.name("httpd"), swarm.name("client")
    page = "served-on-the-worker"
    run_service(
        swarm,
        server,
        tiny_image,
        ["sh", "-c", f"mkdir -p /tmp/www && echo {page} > /tmp/www/index.html "
         "&& exec httpd -f -p 8080 -h /tmp/www"],
        on=worker,
        networks=[swarm.overlay],
    )  # fmt: skip
    run_service(swarm, client, tiny_image, ["sleep", "3600"], on=manager, networks=[swarm.overlay])
    served = wait_for(
        f"{server} on {worker.hostname}",
        lambda: swarm.task_containers(server, worker),
        TASK_SECONDS,
    )
    asking = wait_for(
        f"{client} on {manager.hostname}",
        lambda: swarm.task_containers(client, manager),
        TASK_SECONDS,
    )
    assert not swarm.task_containers(server, manager)
    served[0].reload()
    address = served[0].attrs["NetworkSettings"]["Networks"][swarm.overlay]["IPAddress"]

    def fetch(target: str) -> str:
        # busybox's nc: its static wget crashes (SIGSEGV) in these containers.
        request = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {target} 8080"
        result = asking[0].exec_run(["sh", "-c", request])
        answer = result.output.decode()
        return answer.rsplit("\r\n\r\n", 1)[-1].strip() if " 200 " in answer else ""

    # By the task's address on the overlay, and by the swarm's DNS name of the service's tasks.
    assert wait_for("the worker's page by address", lambda: fetch(address), 30) == page
    assert wait_for("the worker's page by name", lambda: fetch(f"tasks.{server}"), 30) == page


def test_teardown_removes_every_node_volume_and_network(
    docker_client: docker.DockerClient, swarm_node_image: str, tiny_image: str
) -> None:
    cluster = start_swarm(docker_client, swarm_node_image, nodes=1, images=[tiny_image])
    try:
        overlay = cluster.create_overlay()
        run_service(cluster, cluster.name("sleeper"), tiny_image, ["sleep", "3600"],
                    on=cluster.manager, networks=[overlay])  # fmt: skip
        wait_for(
            "the sleeper's task",
            lambda: cluster.task_containers(cluster.name("sleeper"), cluster.manager),
            TASK_SECONDS,
        )
        made = prefixed(docker_client, cluster.prefix)
        assert f"container: {cluster.manager.container}" in made
        assert f"volume: {cluster.manager.volume}" in made
        assert f"network: {cluster.network}" in made
    finally:
        cluster.teardown()
    assert cluster.leftovers() == []
    assert prefixed(docker_client, cluster.prefix) == []
    cluster.teardown()  # a second teardown finds nothing and fails on nothing
