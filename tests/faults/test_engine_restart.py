"""Fault 4: the Docker engine restarted while 5 labs run and 10 clients poll the dashboard.

The host's engine is never touched: the hub (a subprocess on the host, deploy/jupyterhub_config.py)
drives a private nested engine, one node container of the swarm harness's node image with its own
dockerd (tests.backends.swarm, a one-node cluster), over TCP on the test's network. Labs are
stand-ins from the tiny image (busybox's httpd on the lab port answers the hub's readiness
check), published on the node; the hub listens on the host's address on that network. The node's
dockerd is its container's first process, so the engine is stopped (SIGTERM) and started again by
stopping and starting the node container (its /var/lib/docker lives on a volume and survives).

While the engine is away and after it is back the dashboard (`/hub/api/activity` and the
activity page) answers every poll with 200, or 503 with a message, never a 500; each lab comes
back or is reported stopped with its reason (the last-stop API); the sampler's ticks record every
user each time, none twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import requests
from tooling.images import SWARM_NODE_ENGINE_PORT, ensure_image, swarm_node_recipe
from tooling.run import gateway

from tests.backends.fixtures import backend
from tests.backends.hub_helpers import wait_for
from tests.backends.platform import (
    ADMIN_PASSWORD,
    DEPLOY_CONFIG,
    HubClient,
    platform_env,
    signed_up_user,
)
from tests.backends.processes import free_port
from tests.backends.swarm import SwarmCluster, start_swarm

from .rig import Answer, child_with, judge, problems, statuses

LABS = 5
POLLERS = 10
FAULT = "engine restarted (5 labs, 10 pollers)"
TICK = "stellars.activity_sampler] Tick: "
#: The stand-in lab: busybox's httpd on the lab's port (extra arguments land in $0.. and are
#: ignored), answering the hub's readiness check.
STAND_IN_CMD = ["sh", "-c", "exec httpd -f -p 8888 -h /tmp", "stand-in"]
#: What busybox's httpd answers for a missing file (no hub or proxy page says it).
STAND_IN_404 = "The requested URL was not found"


@pytest.fixture
def node(docker_client: docker.DockerClient, tiny_image: str) -> Iterator[SwarmCluster]:
    with backend("nested docker engine"):
        image = ensure_image(docker_client, swarm_node_recipe()).tag
        cluster = start_swarm(docker_client, image, nodes=1, images=[tiny_image])
    try:
        yield cluster
    finally:
        cluster.teardown()
    left = cluster.leftovers()
    assert not left, f"the node's teardown left {left}"


def render_config(directory: Path, poll_seconds: int) -> Path:
    """deploy/jupyterhub_config.py with stand-in labs published on every address of the node
    (DockerSpawner then reaches them at the engine's own address) and a short spawner poll."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "jupyterhub_config.py"
    config.write_text(
        "c = get_config()  # noqa: F821\n"
        f"load_subconfig({str(DEPLOY_CONFIG)!r})  # noqa: F821\n"
        f"c.DockerSpawner.cmd = {STAND_IN_CMD!r}\n"
        'c.DockerSpawner.host_ip = "0.0.0.0"\n'
        f"c.Spawner.poll_interval = {poll_seconds}\n"
    )
    return config


def samples(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as connection:
        return list(connection.execute("SELECT username, timestamp FROM activity_samples"))


def test_the_engine_restarted_under_five_labs_and_ten_pollers(
    tmp_path, jupyterhub_factory, node: SwarmCluster, docker_client, tiny_image, outcomes
):
    engine = node.manager
    host_address = gateway(docker_client, node.network)
    assert host_address, f"the network {node.network} has no gateway"
    data = tmp_path / "data"
    env = platform_env(
        data,
        JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
        STELLARS_SPAWNER="docker",
        DOCKER_HOST=f"tcp://{engine.address}:{SWARM_NODE_ENGINE_PORT}",
        JUPYTERHUB_NOTEBOOK_IMAGE=tiny_image,
        JUPYTERHUB_HUB_BIND_URL=f"http://{host_address}:{free_port(host_address)}",
    )
    hub = jupyterhub_factory(render_config(tmp_path / "config", 5), env, workdir=tmp_path / "hub")
    assert hub.process is not None
    admin = HubClient(hub.public_url)
    admin.login("admin", ADMIN_PASSWORD)
    users = [f"lab{index}" for index in range(LABS)]
    for name in users:
        signed_up_user(hub.public_url, admin, name, f"{name}-password-1")
    for name in users:
        answer = admin.api("POST", f"/users/{name}/server")
        assert answer.status_code in {201, 202}, answer.text

    def server(name: str) -> dict | None:
        return (admin.api("GET", f"/users/{name}").json().get("servers") or {}).get("")

    for name in users:
        wait_for(lambda name=name: (server(name) or {}).get("ready"), 120, f"{name} ready")
    token = admin.new_token("admin")

    def lab_answers(name: str) -> bool:
        """The stand-in itself answers through the proxy (busybox's own 404 page), not the
        hub's page for a server that is not there."""
        try:
            answer = requests.get(
                f"{hub.public_url}/user/{name}/",
                headers={"Authorization": f"token {token}"},
                allow_redirects=False,
                timeout=10,
            )
        except requests.RequestException:
            return False
        return STAND_IN_404 in answer.text

    assert all(lab_answers(name) for name in users)
    nested = node.client(engine)
    assert len(nested.containers.list(filters={"name": "jupyterlab-"})) == LABS

    sampler = wait_for(lambda: child_with(hub.process.pid, "activity_sampler"), 30, "sampler")
    wait_for(lambda: TICK in hub.log_path.read_text(errors="replace"), 60, "the first tick")
    database = data / "stellars.sqlite"
    everyone = {"admin", *users}

    def tick() -> None:
        count = len(samples(database))
        os.kill(sampler, signal.SIGUSR1)
        wait_for(lambda: len(samples(database)) >= count + len(everyone), 60, "a tick")

    earlier = set(samples(database))  # ticks before every user had signed up
    tick()

    answers: list[Answer] = []
    polling = threading.Event()
    polling.set()

    def poll() -> None:
        client = HubClient(hub.public_url, token)
        while polling.is_set():
            try:
                answers.append(judge("/activity", client.api("GET", "/activity"), api=True))
            except Exception as error:
                answers.append(Answer("/activity", 0, f"no answer: {error}"))

    pollers = [threading.Thread(target=poll, daemon=True) for _ in range(POLLERS)]
    for thread in pollers:
        thread.start()
    try:
        host_node = docker_client.containers.get(engine.container)
        # SIGTERM to the node's dockerd, its first process: it stops its containers and
        # exits (a SIGKILL would leave its pid file, and a dockerd started on it refuses to run).
        host_node.stop(timeout=30)
        host_node.wait(timeout=60)
        tick()  # the sampler reads the hub alone: it records while the engine is away
        page_while_away = judge("/activity page", admin.page("/activity"), api=False)
        host_node.start()
        wait_for(lambda: nested_ping(node), 90, "the nested engine back")
        # Each lab comes back, or the hub finds it gone at its next poll and stops it.
        wait_for(
            lambda: all(server(name) is None or lab_answers(name) for name in users),
            120,
            "each lab answering or stopped",
        )
        tick()
    finally:
        polling.clear()
        for thread in pollers:
            thread.join(timeout=60)

    assert answers, "no poll answered"
    assert not problems(answers), problems(answers)[:10]
    assert not page_while_away.problem, page_while_away.problem
    seen = statuses(answers)["/activity"]
    outcomes(FAULT, f"dashboard polls ({len(answers)})", f"statuses {sorted(seen)}, never a 500")

    back, stopped = [], []
    for name in users:
        found = server(name)
        if found:
            assert lab_answers(name), f"{name}: the hub says running, the lab does not answer"
            back.append(name)
            continue
        last = admin.api("GET", f"/users/{name}/last-stop")
        assert last.status_code == 200, last.text
        reason = last.json()
        assert reason, f"{name} stopped with no reason recorded"
        stopped.append(f"{name}: {reason}")
    outcomes(FAULT, "labs", f"{len(back)} back, {len(stopped)} stopped with a reason")
    print("\n".join(stopped))
    left = {found.name for found in nested.containers.list(all=True)}
    orphans = [name for name in users if name not in back and f"jupyterlab-{name}" in left]
    assert not orphans, f"stopped labs left their containers: {orphans}"
    # The platform spawns again on the engine that came back.
    again = users[0]
    if again not in back:
        answer = admin.api("POST", f"/users/{again}/server")
        assert answer.status_code in {201, 202}, answer.text
    wait_for(lambda: lab_answers(again), 120, f"{again} answering again")
    outcomes(FAULT, "a spawn after it", "ready, answers through the proxy")

    rows = samples(database)
    assert len(set(rows)) == len(rows), "a sample written twice"
    per_tick: dict[str, list[str]] = {}
    for name, at in set(rows) - earlier:
        per_tick.setdefault(at, []).append(name)
    assert len(per_tick) == 3, per_tick  # before, while away, after
    assert all(sorted(names) == sorted(everyone) for names in per_tick.values()), per_tick
    outcomes(FAULT, "samples", f"{len(per_tick)} ticks, every user each, none twice")

    after = [judge("/activity", admin.api("GET", "/activity"), api=True)]
    assert not problems(after) and after[0].status == 200, after


def nested_ping(node: SwarmCluster) -> bool:
    try:
        return bool(docker.DockerClient(base_url=node.manager.engine_url, timeout=5).ping())
    except Exception:
        return False
