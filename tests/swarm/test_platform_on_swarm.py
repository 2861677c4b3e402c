"""The platform on the real two-node swarm, end to end: deploy/jupyterhub_config.py in a hub
with STELLARS_SPAWNER=swarm (the manager's engine over TCP, PostgreSQL), its proxy, and the
project's lab image on both nodes. The hub and the proxy run on the host, off the overlay, so
the labs also publish their port on their node (tests/swarm/published.py). The project's hub
image is on both nodes too: a volume reset runs it there as a one-off job."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import requests

from tests.backends.paths import REPO_ROOT
from tests.backends.platform import (
    ADMIN_PASSWORD,
    DEPLOY_CONFIG,
    HubClient,
    platform_env,
    signed_up_user,
)
from tests.backends.processes import free_port
from tests.backends.swarm import SwarmCluster, SwarmNode, wait_for
from tests.swarm.sampling import deploy_node_sampler, remove_services, shared_database

pytestmark = [pytest.mark.swarm, pytest.mark.real]

ADMIN = "admin"
#: Seconds a lab may take to start on a node (two busy cores, nested engines).
LAB_SECONDS = 300.0
#: How often the idle culler runs, and the shortest idle timeout a group policy may set.
CULL_EVERY = 10
BRIEF_TIMEOUT = 60


def hub_config(directory: Path) -> Path:
    """The deploy config, with the spawner that publishes labs on their node."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "jupyterhub_config.py"
    path.write_text(
        f"load_subconfig({str(DEPLOY_CONFIG)!r})\n"
        "c.JupyterHub.spawner_class = 'tests.swarm.published.PublishedSwarmSpawner'\n"
    )
    return path


def cluster_gateway(swarm: SwarmCluster) -> str:
    """The host's address on the cluster's network (where the labs reach the hub)."""
    network = swarm.host.networks.get(swarm.network)
    return str(network.attrs["IPAM"]["Config"][0]["Gateway"])


class Site:
    def __init__(self, hub: Any, swarm: SwarmCluster) -> None:
        self.hub, self.swarm, self.url = hub, swarm, hub.public_url
        self.admin = HubClient(self.url)
        self.admin.login(ADMIN, ADMIN_PASSWORD)
        self.users: dict[str, HubClient] = {}

    def user(self, name: str) -> HubClient:
        if name not in self.users:
            self.users[name] = signed_up_user(self.url, self.admin, name, f"{name}-password-1")
        return self.users[name]


@pytest.fixture(scope="module")
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as exits:
        yield exits


@pytest.fixture(scope="module")
def site(
    stack: contextlib.ExitStack,
    swarm: SwarmCluster,
    jupyterhub_factory_module,
    tmp_path_factory,
    lab_image,
    hub_image_on_nodes,
    postgres,
) -> Iterator[Site]:
    swarm.load_image(lab_image)
    database = stack.enter_context(shared_database(swarm, postgres))
    # The node samplers, as deploy/stack.yml runs them: one per node, on the platform's database.
    sampler = deploy_node_sampler(
        swarm,
        hub_image_on_nodes,
        database.node_url,
        volume_sizes_seconds=10,  # the least: measured soon, not hourly
        name=swarm.name("site-node-sampler"),
    )
    tmp = tmp_path_factory.mktemp("swarm-site")
    host = cluster_gateway(swarm)
    env = platform_env(
        tmp / "data",
        JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
        JUPYTERHUB_ADMIN=ADMIN,
        STELLARS_SPAWNER="swarm",
        DOCKER_HOST=swarm.manager.engine_url,
        STELLARS_DB_URL=database.url,
        JUPYTERHUB_NOTEBOOK_IMAGE=lab_image,
        STELLARS_SWARM_JOB_IMAGE=hub_image_on_nodes,
        JUPYTERHUB_NETWORK_NAME=str(swarm.overlay),
        JUPYTERHUB_HUB_BIND_URL=f"http://{host}:{free_port(host)}",
        JUPYTERHUB_SPAWN_TIMEOUT=str(int(LAB_SECONDS)),
        JUPYTERHUB_ACTIVITYMON_VOLUMES_UPDATE_INTERVAL="10",  # the least: sizes seen soon
        # The real culler, every CULL_EVERY seconds; an hour's idle timeout keeps the other
        # tests' labs, and a group policy gives the culler's test its shortest timeout.
        JUPYTERHUB_IDLE_CULLER_ENABLED="1",
        JUPYTERHUB_IDLE_CULLER_TIMEOUT="3600",
        JUPYTERHUB_IDLE_CULLER_INTERVAL=str(CULL_EVERY),
        PYTHONPATH=str(REPO_ROOT),
    )
    hub = jupyterhub_factory_module(hub_config(tmp / "config"), env, workdir=tmp / "hub")
    yield Site(hub, swarm)
    for service in swarm.client().services.list(filters={"label": "stellars.lab"}):
        service.remove()
    remove_services(swarm, [sampler])


def server_of(client: HubClient, user: str) -> dict[str, Any] | None:
    return (client.api("GET", f"/users/{user}").json().get("servers") or {}).get("")


def start(client: HubClient, user: str) -> None:
    answer = client.api("POST", f"/users/{user}/server")
    assert answer.status_code in {201, 202}, answer.text
    wait_for(f"{user} ready", lambda: (server_of(client, user) or {}).get("ready"), LAB_SECONDS, 2)


def stop(client: HubClient, user: str) -> None:
    answer = client.api("DELETE", f"/users/{user}/server")
    assert answer.status_code in {202, 204}, answer.text
    wait_for(f"{user} stopped", lambda: server_of(client, user) is None, LAB_SECONDS, 2)


def lab_node(site: Site, user: str) -> SwarmNode:
    """The node of `user`'s running lab task."""
    tasks = site.swarm.client().api.tasks(
        filters={"service": f"jupyterlab-{user}", "desired-state": "running"}
    )
    (task,) = tasks
    hostname = next(
        node["Description"]["Hostname"]
        for node in site.swarm.swarm_nodes()
        if node["ID"] == task["NodeID"]
    )
    return site.swarm.node(hostname)


def lab_answers(site: Site, client: HubClient, user: str) -> bool:
    """Whether the user's JupyterLab answers its API through the proxy."""
    token = client.new_token(user, [f"access:servers!server={user}/"])
    status = requests.get(
        f"{site.url}/user/{user}/api/status",
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    return status.status_code == 200


def lab_api(site: Site, client: HubClient, user: str, method: str, path: str, **kwargs: Any):
    """A call to the user's JupyterLab server API through the proxy."""
    token = client.new_token(user, [f"access:servers!server={user}/"])
    return requests.request(
        method,
        f"{site.url}/user/{user}/api/{path}",
        headers={"Authorization": f"token {token}"},
        timeout=30,
        **kwargs,
    )


def test_two_users_labs_land_on_different_nodes_and_both_answer_through_the_proxy(site):
    ann, bob = site.user("ann"), site.user("bob")
    start(ann, "ann")
    start(bob, "bob")
    assert {lab_node(site, "ann"), lab_node(site, "bob")} == set(site.swarm.nodes)
    assert lab_answers(site, ann, "ann")
    assert lab_answers(site, bob, "bob")
    settings = site.admin.api("GET", "/settings").json()
    text = str(settings)
    assert "swarm" in text
    for node in site.swarm.nodes:
        assert node.hostname in text


def test_a_second_start_lands_on_the_node_with_the_volumes_and_reads_back_a_file(site):
    ann = site.user("ann")
    if server_of(ann, "ann") is None:
        start(ann, "ann")
    home = lab_node(site, "ann")
    note = {"type": "file", "format": "text", "content": "kept"}
    wrote = lab_api(site, ann, "ann", "PUT", "contents/work/note.txt", json=note)
    assert wrote.status_code in {200, 201}, wrote.text
    stop(ann, "ann")
    start(ann, "ann")
    assert lab_node(site, "ann") == home
    read = lab_api(site, ann, "ann", "GET", "contents/work/note.txt")
    assert read.status_code == 200, read.text
    assert read.json()["content"] == "kept"


def set_availability(site: Site, node: SwarmNode, availability: str) -> None:
    found = next(
        n
        for n in site.swarm.client().nodes.list()
        if n.attrs["Description"]["Hostname"] == node.hostname
    )
    found.update(dict(found.attrs["Spec"], Availability=availability))


def test_a_drained_node_stops_its_lab_with_the_reason_and_starts_it_only_there(site):
    bob = site.user("bob")
    if server_of(bob, "bob") is None:
        start(bob, "bob")
    node = lab_node(site, "bob")
    set_availability(site, node, "drain")
    try:
        # The hub's periodic poll (every 30 s) finds the lab's task held pending.
        wait_for("bob's server stopped", lambda: server_of(bob, "bob") is None, 180, 3)
        last = bob.api("GET", "/users/bob/last-stop").json()["last_stop"]
        assert last["reason"] == "node_unavailable"
        assert last["message"] == (
            f"stopped: its node {node.hostname} is drained; it starts again there once an "
            "admin makes the node available"
        )
        refused = bob.api("POST", "/users/bob/server")
        assert refused.status_code == 409, refused.text
        assert (
            f"the files of 'bob' are on node '{node.hostname}', which is drained"
            in (refused.json()["message"])
        )
        assert server_of(bob, "bob") is None
    finally:
        set_availability(site, node, "active")
    start(bob, "bob")
    assert lab_node(site, "bob") == node
    assert lab_answers(site, bob, "bob")


def test_a_restart_on_the_worker_is_a_forced_update_answered_once_the_lab_serves(site):
    bob = site.user("bob")
    if server_of(bob, "bob") is None:
        start(bob, "bob")
    node = lab_node(site, "bob")
    before = site.swarm.client().api.inspect_service("jupyterlab-bob")
    restarted = bob.api("POST", "/users/bob/restart-server", timeout=LAB_SECONDS)
    assert restarted.status_code == 200, restarted.text
    assert restarted.json()["message"] == "The server of bob restarted and answers again."
    after = site.swarm.client().api.inspect_service("jupyterlab-bob")
    assert after["ID"] == before["ID"]  # the same service, a new task
    force = after["Spec"]["TaskTemplate"]["ForceUpdate"]
    assert force == before["Spec"]["TaskTemplate"].get("ForceUpdate", 0) + 1
    assert lab_node(site, "bob") == node  # still on the node with the volumes
    assert lab_answers(site, bob, "bob")


def test_a_broadcast_reaches_the_labs_on_both_nodes(site):
    for name in ("ann", "bob"):
        if server_of(site.user(name), name) is None:
            start(site.user(name), name)
    assert {lab_node(site, "ann"), lab_node(site, "bob")} == set(site.swarm.nodes)
    body = {"message": "Maintenance at noon", "recipients": ["ann", "bob"]}
    report = site.admin.api("POST", "/notifications/broadcast", json=body).json()
    assert (report["total"], report["successful"], report["failed"]) == (2, 2, 0), report
    assert {d["username"]: d["outcome"] for d in report["details"]} == {
        "ann": "delivered",
        "bob": "delivered",
    }


def dashboard_rows(site: Site) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The admin's `GET /hub/api/activity`: users by name, nodes by name."""
    page = site.admin.api("GET", "/activity").json()
    users = {row["username"]: row for row in page["users"]}
    return users, {node["node"]: node for node in page.get("nodes", [])}


def test_the_dashboard_shows_stats_from_both_nodes_with_each_labs_node(site):
    for name in ("ann", "bob"):
        if server_of(site.user(name), name) is None:
            start(site.user(name), name)
    where = {name: lab_node(site, name).hostname for name in ("ann", "bob")}
    assert set(where.values()) == {node.hostname for node in site.swarm.nodes}

    def from_both_nodes() -> bool:
        users, nodes = dashboard_rows(site)
        return set(nodes) == set(where.values()) and all(
            users[name]["node"] == node
            and users[name]["memory_mb"]
            and users[name]["volume_size_mb"] is not None
            for name, node in where.items()
        )

    # Each node's sampler reports every 3 s; the hub refreshes its stats every 10 s.
    wait_for("the dashboard's figures of both nodes", from_both_nodes, 120, 3)
    users, nodes = dashboard_rows(site)
    for name in ("ann", "bob"):
        assert users[name]["cpu_percent"] is not None
        assert users[name]["memory_mb"] > 0  # a running JupyterLab's memory, as its node saw it
        assert users[name]["volume_size_mb"] is not None  # its volumes, sized on its node
    for node in nodes.values():
        assert node["is_stale"] is False
        assert 0 <= node["report_age_seconds"] < 60


def test_a_volume_reset_of_a_lab_on_the_worker_removes_its_files_there(site):
    for name in ("ann", "bob"):  # ann first: alone, this test puts bob where the others do
        if server_of(site.user(name), name) is None:
            start(site.user(name), name)
    bob = site.user("bob")
    node = lab_node(site, "bob")
    assert not node.manager  # bob's volumes are on the worker (ann's lab went to the manager)
    note = {"type": "file", "format": "text", "content": "to be reset"}
    wrote = lab_api(site, bob, "bob", "PUT", "contents/work/reset-me.txt", json=note)
    assert wrote.status_code in {200, 201}, wrote.text
    running = bob.api("DELETE", "/users/bob/manage-volumes", json={"volumes": ["workspace"]})
    assert running.status_code == 409, running.text
    stop(bob, "bob")
    workspace = "jupyterlab-bob_workspace"
    assert site.swarm.client(node).volumes.get(workspace).name == workspace
    reset = bob.api("DELETE", "/users/bob/manage-volumes", json={"volumes": ["workspace"]},
                    timeout=LAB_SECONDS)  # fmt: skip
    assert reset.status_code == 200, reset.text
    assert (reset.json()["reset_volumes"], reset.json()["failed_volumes"]) == (["workspace"], [])
    with pytest.raises(docker.errors.NotFound):
        site.swarm.client(node).volumes.get(workspace)
    assert site.swarm.client(node).volumes.get("jupyterlab-bob_home")  # not chosen: kept
    assert site.swarm.client().services.list(filters={"label": "stellars.volume-job"}) == []
    start(bob, "bob")
    assert lab_node(site, "bob") == node
    gone = lab_api(site, bob, "bob", "GET", "contents/work/reset-me.txt")
    assert gone.status_code == 404, gone.text


def test_the_culler_stops_idle_labs_on_both_nodes_and_keeps_an_extended_one(site):
    # Two members of a group whose policy allows a minute's idleness; the placement spreads
    # their labs over the two nodes (the fewest labs first).
    assert site.admin.api("POST", "/groups/brief").status_code == 201
    cyd, dee = site.user("cyd"), site.user("dee")
    added = site.admin.api("POST", "/groups/brief/users", json={"users": ["cyd", "dee"]})
    assert added.status_code == 200, added.text
    policy = site.admin.api("PUT", "/policies/brief", json={"idle_timeout_seconds": BRIEF_TIMEOUT})
    assert policy.status_code == 200, policy.text
    start(cyd, "cyd")
    start(dee, "dee")
    assert {lab_node(site, "cyd"), lab_node(site, "dee")} == set(site.swarm.nodes)
    extended = cyd.api("POST", "/users/cyd/extend-session", json={"hours": 1})
    assert extended.status_code == 200, extended.text
    assert dee.api("GET", "/users/dee/session-info").json()["timeout_seconds"] == BRIEF_TIMEOUT

    # The real culler, through the hub API: dee's idle lab goes, its service with it.
    wait_for("dee's lab culled", lambda: server_of(dee, "dee") is None,
             BRIEF_TIMEOUT + 6 * CULL_EVERY + 60, 3)  # fmt: skip
    last = dee.api("GET", "/users/dee/last-stop").json()["last_stop"]
    assert (last["reason"], last["actor"]) == ("culled", None)
    assert last["message"].startswith("stopped: culled for idleness (idle since ")
    wait_for(
        "dee's service removed from the swarm",
        lambda: not site.swarm.client().services.list(filters={"name": "jupyterlab-dee"}),
        60,
        2,
    )
    # Two more passes keep cyd, whose extension holds the deadline an hour away.
    time.sleep(2 * CULL_EVERY + 2)
    assert server_of(cyd, "cyd") is not None
    info = cyd.api("GET", "/users/cyd/session-info").json()
    assert info["time_remaining_seconds"] > 3000
    assert lab_answers(site, cyd, "cyd")
    stop(cyd, "cyd")
