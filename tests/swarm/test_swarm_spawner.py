"""The platform's SwarmSpawner on a real two-node swarm: where labs land, what stays where,
and what a drained node does to its labs. The spawner's service calls run as the hub would make
them (create, wait for the task, poll, remove); the hub itself is not in these tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import docker.types
import pytest
from tornado import web

from stellars.adapters.jupyterhub import PLUGIN_SETTING
from stellars.adapters.jupyterhub.hub_objects import acting_for
from stellars.adapters.jupyterhub.plugin.swarm_spawner import (
    LAB_LABEL,
    NODE_LABEL,
    USER_LABEL,
    PlatformSwarmSpawner,
)
from stellars.adapters.memory import InMemoryHubDirectory, InMemoryServerStopStore, ManualClock
from stellars.domain.services import ServerStopService
from stellars.domain.stops import StopReason
from tests.backends.fixtures import backend
from tests.backends.swarm import SwarmCluster, SwarmNode, start_swarm, wait_for
from tests.swarm.published import PublishedSwarmSpawner

pytestmark = [pytest.mark.swarm, pytest.mark.real]

WORK = "/home/user/work"
#: Seconds a lab's task may take to run on its node.
TASK_SECONDS = 120.0


class Platform:
    """The platform's stop service on the fakes, as the hub's settings carry it."""

    def __init__(self) -> None:
        self.store = InMemoryServerStopStore()
        self.stops = ServerStopService(
            store=self.store,
            directory=InMemoryHubDirectory(),
            clock=ManualClock(datetime(2026, 6, 1, tzinfo=timezone.utc)),
        )


@pytest.fixture
def platform() -> Platform:
    return Platform()


@pytest.fixture
def spawner_for(
    swarm: SwarmCluster, tiny_image: str, platform: Platform
) -> Iterator[Callable[..., PlatformSwarmSpawner]]:
    """Factory: a spawner of `username`'s lab (the tiny image, sleeping) on the swarm, its
    volume named under the cluster's prefix; every service made is removed at the end."""
    yield from spawners_on(swarm, tiny_image, platform)


#: The GPUs each node of the GPU swarm advertises (node 1 the manager): fake ids, as a
#: deployer's daemon config names the real ones.
NODE_GPUS = {1: ("GPU-m1",), 2: ("GPU-w1", "GPU-w2")}


@pytest.fixture(scope="module")
def gpu_swarm(docker_client: Any, swarm_node_image: str, tiny_image: str) -> Iterator[SwarmCluster]:
    """A second two-node swarm whose nodes advertise GPUs (`NODE_GPUS`) as generic resources;
    removed completely at the end of the module."""
    with backend("docker swarm"):
        cluster = start_swarm(
            docker_client,
            swarm_node_image,
            nodes=2,
            images=[tiny_image],
            node_resources={
                index: [f"{GPU_KIND}={gpu}" for gpu in gpus] for index, gpus in NODE_GPUS.items()
            },
        )
    try:
        overlay = cluster.create_overlay()
        # Every node attached to the labs' overlay before any lab, as the stack's global sampler
        # on that network does: the attachment is a node update, and at a node update swarmkit
        # rejects the GPU tasks of the node (docs/deploy.md, "GPUs in swarm mode").
        cluster.client().services.create(
            tiny_image,
            command=["sleep", "3600"],
            name=cluster.name("anchor"),
            networks=[overlay],
            mode=docker.types.ServiceMode("global"),
        )
        wait_for(
            "the global service on every node",
            lambda: (
                len(
                    [
                        task
                        for task in cluster.client().api.tasks(
                            filters={"service": cluster.name("anchor")}
                        )
                        if task["Status"]["State"] == "running"
                    ]
                )
                == len(cluster.nodes)
            ),
            TASK_SECONDS,
        )
        yield cluster
    finally:
        cluster.teardown()
    left = cluster.leftovers()
    if left:
        pytest.fail(f"the GPU swarm's teardown left {left}", pytrace=False)


@pytest.fixture
def gpu_spawner_for(
    gpu_swarm: SwarmCluster, tiny_image: str, platform: Platform
) -> Iterator[Callable[..., PlatformSwarmSpawner]]:
    """`spawner_for` on the GPU swarm."""
    yield from spawners_on(gpu_swarm, tiny_image, platform)


def spawners_on(
    swarm: SwarmCluster, tiny_image: str, platform: Platform
) -> Iterator[Callable[..., PlatformSwarmSpawner]]:
    """The factory of `spawner_for` on `swarm`, and its clean-up once the test is done."""
    # DockerSpawner keeps one client per class: a class of our own for this cluster's manager.
    cls: Any = type("TestSwarmSpawner", (PlatformSwarmSpawner,), {"_client": None})
    made: list[PlatformSwarmSpawner] = []

    async def get_command(self: Any) -> list[str]:
        return ["sleep", "3600"]

    def get_env(self: Any) -> dict[str, str]:
        return {"LAB_USER": self.user.name}

    cls.get_command, cls.get_env = get_command, get_env
    # A lab that serves HTTP (busybox's httpd on the lab's port), published on its node so
    # that this test process, outside the overlay, reaches it as a hub on the overlay would.
    serving_cls: Any = type("TestServingSwarmSpawner", (PublishedSwarmSpawner,), {"_client": None})

    async def get_serving_command(self: Any) -> list[str]:
        return ["httpd", "-f", "-p", str(self.port), "-h", "/tmp"]

    serving_cls.get_command, serving_cls.get_env = get_serving_command, get_env

    def make(
        username: str,
        state: dict[str, Any] | None = None,
        *,
        serving: bool = False,
        image: str | None = None,
    ) -> PlatformSwarmSpawner:
        user = SimpleNamespace(
            name=username,
            id=len(made) + 1,
            settings={PLUGIN_SETTING: SimpleNamespace(platform=platform)},
        )
        spawner = (serving_cls if serving else cls)(
            user=user,
            client_kwargs={"base_url": swarm.manager.engine_url},
            image=image or tiny_image,
            start_timeout=TASK_SECONDS * 2,
            http_timeout=TASK_SECONDS,
            prefix=swarm.name("lab"),
            name_template="{prefix}-{username}",
            network_name=swarm.overlay,
            volumes={swarm.name("{username}-work"): WORK},
        )
        if state is not None:
            spawner.load_state(state)
        made.append(spawner)
        return spawner

    yield make
    services = swarm.client().services.list(filters={"label": LAB_LABEL})
    for service in services:
        service.remove()
    for node in swarm.nodes:
        node_spec = next(
            n
            for n in swarm.client().nodes.list()
            if n.attrs["Description"]["Hostname"] == node.hostname
        )
        if node_spec.attrs["Spec"]["Availability"] != "active":
            spec = dict(node_spec.attrs["Spec"], Availability="active")
            node_spec.update(spec)


async def start(spawner: PlatformSwarmSpawner) -> None:
    """What DockerSpawner's start does with the service: create it, wait until it runs."""
    await spawner.create_object()
    await spawner.start_object()


async def stop(spawner: PlatformSwarmSpawner) -> dict[str, Any]:
    """The hub's stop (the service removed); the state the hub keeps afterwards."""
    await spawner.stop()
    return spawner.get_state()


def node_of(swarm: SwarmCluster, spawner: PlatformSwarmSpawner) -> SwarmNode:
    """The node the spawner's running task is on."""

    def running() -> list[dict[str, Any]]:
        return [
            task
            for task in swarm.client().api.tasks(filters={"service": spawner.service_name})
            if task["Status"]["State"] == "running"
        ]

    task = wait_for(f"{spawner.service_name} running", running, TASK_SECONDS)[0]
    hostname = next(
        n["Description"]["Hostname"] for n in swarm.swarm_nodes() if n["ID"] == task["NodeID"]
    )
    return swarm.node(hostname)


def lab_container(swarm: SwarmCluster, spawner: PlatformSwarmSpawner, node: SwarmNode) -> Any:
    return wait_for(
        f"{spawner.service_name}'s container on {node.hostname}",
        lambda: swarm.task_containers(spawner.service_name, node),
        TASK_SECONDS,
    )[0]


async def poll_until_stopped(spawner: PlatformSwarmSpawner, timeout: float) -> Any:
    """Poll as the hub does until the poll says the server stopped; its answer."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (status := await spawner.poll()) is None:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{spawner.service_name} still running after {timeout:.0f} s")
        await asyncio.sleep(1)
    return status


def set_availability(swarm: SwarmCluster, node: SwarmNode, availability: str) -> None:
    found = next(
        n
        for n in swarm.client().nodes.list()
        if n.attrs["Description"]["Hostname"] == node.hostname
    )
    found.update(dict(found.attrs["Spec"], Availability=availability))


async def test_two_users_labs_land_on_different_nodes(swarm, spawner_for):
    ann, bob = spawner_for("ann"), spawner_for("bob")
    await start(ann)
    first = node_of(swarm, ann)
    await start(bob)
    second = node_of(swarm, bob)
    assert {first.hostname, second.hostname} == {node.hostname for node in swarm.nodes}
    assert first is swarm.manager  # a tie of empty nodes goes to the first hostname
    assert ann.get_state()["swarm_node"] == first.hostname
    assert bob.get_state()["swarm_node"] == second.hostname
    # Each lab's volume is a named volume on its own node, labelled with its user and node.
    for spawner, node in ((ann, first), (bob, second)):
        volume = swarm.client(node).volumes.get(swarm.name(f"{spawner.user.name}-work"))
        labels = volume.attrs["Labels"]
        assert (labels[USER_LABEL], labels[NODE_LABEL]) == (spawner.user.name, node.hostname)
    assert await ann.poll() is None and await bob.poll() is None


async def test_a_second_start_lands_on_the_node_with_the_volumes_and_reads_back_a_file(
    swarm, spawner_for
):
    cid = spawner_for("cid")
    await start(cid)
    home = node_of(swarm, cid)
    wrote = lab_container(swarm, cid, home).exec_run(["sh", "-c", f"echo kept > {WORK}/note"])
    assert wrote.exit_code == 0
    state = await stop(cid)
    assert state == {"swarm_node": home.hostname}
    # Crowd the user's node so that the fewest-labs rule alone would choose the other one.
    crowd = [spawner_for(f"crowd{i}") for i in range(2)]
    for spawner in crowd:
        spawner.swarm_node = home.hostname
        await start(spawner)
    again = spawner_for("cid", state)  # a new spawner object: as after a hub restart
    await start(again)
    assert node_of(swarm, again) == home
    read = lab_container(swarm, again, home).exec_run(["cat", f"{WORK}/note"])
    assert (read.exit_code, read.output.decode().strip()) == (0, "kept")


async def test_a_drained_node_stops_its_labs_with_the_reason_and_refuses_their_start(
    swarm, spawner_for, platform
):
    dee = spawner_for("dee")
    dee.swarm_node = swarm.workers[0].hostname
    await start(dee)
    worker = node_of(swarm, dee)
    assert worker == swarm.workers[0]
    set_availability(swarm, worker, "drain")
    why = f"node {worker.hostname} is drained"
    status = await poll_until_stopped(dee, TASK_SECONDS)
    assert status == why
    stop_record = await platform.store.last("dee", "")
    assert stop_record is not None
    assert stop_record.reason is StopReason.NODE_UNAVAILABLE
    assert stop_record.message == (
        f"stopped: its node {worker.hostname} is drained; it starts again there once an admin "
        "makes the node available"
    )
    state = await stop(dee)
    again = spawner_for("dee", state)
    with pytest.raises(web.HTTPError) as refused:
        await start(again)
    assert refused.value.status_code == 409
    assert f"are on node '{worker.hostname}', which is drained" in refused.value.log_message
    assert not swarm.client().services.list(filters={"name": again.service_name})
    set_availability(swarm, worker, "active")
    await start(again)
    assert node_of(swarm, again) == worker


def test_the_hub_reads_the_nodes_from_the_manager_and_refuses_a_worker(swarm):
    from stellars.domain.errors import InvalidValue
    from stellars.entrypoints.hub import swarm_probe

    nodes = swarm_probe(swarm.manager.engine_url)
    assert sorted((node.hostname, node.manager, node.takes_labs) for node in nodes) == [
        (swarm.manager.hostname, True, True),
        (swarm.workers[0].hostname, False, True),
    ]
    with pytest.raises(InvalidValue) as refused:
        swarm_probe(swarm.workers[0].engine_url)
    assert refused.value.field == "kind"
    assert "is no swarm manager" in refused.value.message


async def test_a_start_reports_its_steps_in_order_and_an_admins_stop_is_recorded(
    swarm, spawner_for, platform
):
    eve = spawner_for("eve", serving=True)
    eve.swarm_node = swarm.workers[0].hostname
    eve.run_pre_spawn_hook()  # where a start's events begin (the hook itself reports none here)
    await eve.start()
    worker = swarm.workers[0].hostname
    messages = [(event["progress"], event["message"]) for event in eve.feed.events]
    assert messages == [
        (30, f"Your server goes to node {worker} (the node with the user's volumes)."),
        (45, f"The service {eve.service_name} was created; its node prepares the task."),
        (70, f"The task of your server runs on node {worker}."),
        (80, "Waiting for JupyterLab to answer..."),
        (100, "JupyterLab is serving at /."),
    ]
    assert node_of(swarm, eve).hostname == worker
    with acting_for(SimpleNamespace(name="root", kind="user")):
        await eve.stop()
    stop_record = await platform.store.last("eve", "")
    assert stop_record is not None
    assert (stop_record.reason, stop_record.message) == (
        StopReason.STOPPED_BY_ADMIN,
        "stopped: stopped by the admin root",
    )
    assert not swarm.client().services.list(filters={"name": eve.service_name})
    assert eve.feed.events == []


async def test_an_image_missing_on_the_node_fails_the_start_with_the_tasks_words(
    swarm, spawner_for
):
    fay = spawner_for("fay", image=swarm.name("missing") + ":nowhere")
    with pytest.raises(web.HTTPError) as failed:
        await fay.start()
    assert failed.value.status_code == 503
    said = failed.value.jupyterhub_message  # type: ignore[attr-defined]
    assert said.startswith("The swarm could not run your server (rejected): ")
    assert swarm.name("missing") in said
    await fay.stop()  # what JupyterHub does after a failed start: the service goes
    assert not swarm.client().services.list(filters={"name": fay.service_name})


SOCKET = "/var/run/docker.sock"


async def test_a_docker_access_lab_gets_its_nodes_socket_with_the_sockets_group(swarm, spawner_for):
    worker = swarm.workers[0]
    on_node = swarm.host.containers.get(worker.container).exec_run(
        ["stat", "-c", "%g %i %a", SOCKET]
    )
    assert on_node.exit_code == 0, on_node.output
    gid, inode, mode = on_node.output.decode().split()
    assert int(mode, 8) & 0o006 == 0  # only root and the socket's group may use it
    gus = spawner_for("gus")
    gus.swarm_node = worker.hostname
    # What the spawn hook gives a member of a Docker-access group (spawn_settings).
    gus.volumes = {**gus.volumes, SOCKET: {"bind": SOCKET, "mode": "rw"}}
    gus.docker_socket_gid = int(gid)
    gus.extra_container_spec = {"user": "1000"}  # the lab's user is no root, as the lab image's

    async def get_command() -> list[str]:
        # The lab's own process says what it is and may do (an exec into a container whose
        # process is no root does not start in the nested engines, so its log tells).
        report = f"id -u; id -G; stat -c '%F %g %i' {SOCKET}"
        usable = f"test -r {SOCKET} && test -w {SOCKET} && echo usable"
        return ["sh", "-c", f"{report}; {usable}; exec sleep 3600"]

    gus.get_command = get_command  # type: ignore[method-assign]
    await start(gus)
    container = lab_container(swarm, gus, worker)
    said = wait_for(
        "the lab's report", lambda: container.logs().decode().split("\n")[3:4], TASK_SECONDS
    )
    uid, groups, socket, usable = container.logs().decode().splitlines()[:4]
    assert uid == "1000" and gid in groups.split()
    assert socket.split() == ["socket", gid, inode]  # the node's own socket
    assert (usable, said) == ("usable", ["usable"])


GPU_KIND = "NVIDIA-GPU"


async def test_gpus_come_from_the_nodes_generic_resources_and_never_twice(
    gpu_swarm, gpu_spawner_for
):
    manager, worker = gpu_swarm.manager, gpu_swarm.workers[0]

    def lab_with_gpus(username: str, node: SwarmNode, gpus: int) -> PlatformSwarmSpawner:
        lab = gpu_spawner_for(username)
        lab.swarm_node, lab.gpus_wanted = node.hostname, gpus  # as the spawn hook sets them
        return lab

    ann = lab_with_gpus("ann", manager, 1)
    await start(ann)
    assert (ann.task_node, ann.task_gpus) == (manager.hostname, NODE_GPUS[1])
    env = lab_container(gpu_swarm, ann, manager).attrs["Config"]["Env"]
    assert f"DOCKER_RESOURCE_{GPU_KIND}=GPU-m1" in env  # what the NVIDIA runtime reads
    # The manager's one GPU is held: a second lab pinned there is refused at once.
    bob = lab_with_gpus("bob", manager, 1)
    with pytest.raises(web.HTTPError) as refused:
        await start(bob)
    assert refused.value.status_code == 503
    said = refused.value.jupyterhub_message  # type: ignore[attr-defined]
    assert said.startswith("No GPU is free for your server now: it asks for 1 GPU")
    assert "insufficient resources" in said
    await stop(bob)  # what JupyterHub does after a failed start: its pending task goes
    # The worker's two GPUs: one lab takes one, the next the other, the third none.
    cy, dee, eve = (lab_with_gpus(name, worker, 1) for name in ("cy", "dee", "eve"))
    await start(cy)
    await start(dee)
    assert {cy.task_gpus, dee.task_gpus} == {("GPU-w1",), ("GPU-w2",)}
    with pytest.raises(web.HTTPError) as refused:
        await start(eve)
    assert "No GPU is free" in refused.value.jupyterhub_message  # type: ignore[attr-defined]
    await stop(eve)
    # A stopped lab's GPU is free again, once its task has ended (its process, which ignores
    # SIGTERM, is killed after the stop grace period).
    await stop(cy)
    wait_for(
        f"{cy.service_name}'s task ended",
        lambda: not gpu_swarm.task_containers(cy.service_name, worker),
        TASK_SECONDS,
    )
    fay = lab_with_gpus("fay", worker, 1)
    await start(fay)
    assert fay.task_gpus == cy.task_gpus
