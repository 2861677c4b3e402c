"""deploy/stack.yml deployed for real on the two-node test swarm, with the real CLI
(`docker stack deploy -c`), and the platform used through it: the hub on the manager (its port
8000 published on that node), a node sampler on each node, PostgreSQL from the offline image
(tooling/images.py, `postgres_recipe`) on the node labelled `stellars.db=true`, every secret a
Docker secret, a user's lab as a Swarm service on the stack's overlay network.

The stack file is used unchanged; only its image variables are set. It names a network and
secrets with fixed names, so the module's cleanup removes everything the deploy made on the
cluster (what was not there before it: services, networks, secrets, configs, every node's
volumes, the node label), also when a test fails.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import docker.errors
import pytest
import requests

from tests.backends.paths import REPO_ROOT
from tests.backends.platform import HubClient, signed_up_user
from tests.backends.swarm import SwarmCluster, SwarmNode, wait_for

pytestmark = [pytest.mark.swarm, pytest.mark.real]

STACK_FILE = REPO_ROOT / "deploy" / "stack.yml"
ADMIN = "admin"  # the stack's default JUPYTERHUB_ADMIN
USER = "stacy"  # no other swarm test's user: its lab service and volumes are this module's
DB_LABEL = "stellars.db"
#: Seconds the stack may take to answer: PostgreSQL's first start, the hub's (restarted by
#: Swarm until the database answers), on two busy cores with nested engines.
HUB_SECONDS = 300.0
#: Seconds a lab may take to start (the stack's spawn timeout is the platform's 120 s).
LAB_SECONDS = 240.0
#: Seconds the removal of the stack's tasks may take.
REMOVE_SECONDS = 180.0


def docker_cli(swarm: SwarmCluster, *args: str, env: dict[str, str] | None = None) -> str:
    """The real docker CLI against the manager's engine; its output, or a failure with it."""
    done = subprocess.run(
        ["docker", "--host", swarm.manager.engine_url, *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


@dataclass(frozen=True)
class ClusterObjects:
    """What the cluster holds, by name: the manager's services, networks, secrets and configs,
    and each node's volumes."""

    services: frozenset[str]
    networks: frozenset[str]
    secrets: frozenset[str]
    configs: frozenset[str]
    volumes: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, swarm: SwarmCluster) -> ClusterObjects:
        manager = swarm.client()
        return cls(
            services=frozenset(s.name for s in manager.services.list()),
            networks=frozenset(n["Name"] for n in manager.api.networks()),
            secrets=frozenset(s.name for s in manager.secrets.list()),
            configs=frozenset(c.name for c in manager.configs.list()),
            volumes={
                node.hostname: frozenset(v.name for v in swarm.client(node).volumes.list())
                for node in swarm.nodes
            },
        )

    def added_since(self, before: ClusterObjects) -> list[str]:
        """What is here and was not `before`, as `kind: name`."""
        found = [f"service: {name}" for name in sorted(self.services - before.services)]
        found += [f"network: {name}" for name in sorted(self.networks - before.networks)]
        found += [f"secret: {name}" for name in sorted(self.secrets - before.secrets)]
        found += [f"config: {name}" for name in sorted(self.configs - before.configs)]
        for node, names in sorted(self.volumes.items()):
            added = names - before.volumes.get(node, frozenset())
            found += [f"volume: {name} on {node}" for name in sorted(added)]
        return found


def set_db_label(swarm: SwarmCluster, node: SwarmNode, on: bool) -> None:
    """Add (or remove) the label `stellars.db=true` that places the stack's database."""
    found = swarm.client().nodes.get(swarm.node_id(node))
    spec = dict(found.attrs["Spec"])
    labels = dict(spec.get("Labels") or {})
    if on:
        labels[DB_LABEL] = "true"
    else:
        labels.pop(DB_LABEL, None)
    found.update({**spec, "Labels": labels})


def task_containers(swarm: SwarmCluster, services: set[str]) -> list[str]:
    """The containers (also stopped) of `services`' tasks on every node."""
    return [
        f"{container.name} on {node.hostname}"
        for node in swarm.nodes
        for container in swarm.client(node).containers.list(all=True)
        if container.labels.get("com.docker.swarm.service.name") in services
    ]


def remove_added(swarm: SwarmCluster, before: ClusterObjects) -> None:
    """Remove what the cluster holds now and did not `before`: services first (waiting until
    their tasks' containers are gone from every node), then networks, secrets, configs and
    volumes."""
    manager = swarm.client()
    now = ClusterObjects.of(swarm)
    doomed = set(now.services - before.services)
    for name in doomed:
        with contextlib.suppress(docker.errors.NotFound):
            manager.services.get(name).remove()
    with contextlib.suppress(TimeoutError):
        wait_for("the tasks gone", lambda: not task_containers(swarm, doomed), REMOVE_SECONDS, 2)
    for name in now.networks - before.networks:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            manager.networks.get(name).remove()
    for name in now.secrets - before.secrets:
        with contextlib.suppress(docker.errors.NotFound):
            manager.secrets.get(name).remove()
    for name in now.configs - before.configs:
        with contextlib.suppress(docker.errors.NotFound):
            manager.configs.get(name).remove()

    def volumes_removed() -> bool:
        """One attempt at every added volume; True once none is left. A volume still "in use"
        is tried again: a node removes a stopped task's container a few seconds after its
        service is gone."""
        left = []
        for node in swarm.nodes:
            added = now.volumes[node.hostname] - before.volumes.get(node.hostname, frozenset())
            for name in added:
                try:
                    swarm.client(node).volumes.get(name).remove(force=True)
                except docker.errors.NotFound:
                    pass
                except docker.errors.APIError:
                    left.append(f"{name} on {node.hostname}")
        return not left

    with contextlib.suppress(TimeoutError):
        wait_for("the added volumes removed", volumes_removed, REMOVE_SECONDS, 2)


@dataclass
class Stack:
    """The deployed stack: its name, the cluster, the hub's public URL, the admin's client, the
    secrets' values and what the cluster held before the deploy."""

    name: str
    swarm: SwarmCluster
    url: str
    admin_password: str
    postgres_password: str
    before: ClusterObjects
    db_node: SwarmNode
    admin: HubClient | None = None
    users: dict[str, HubClient] = field(default_factory=dict)

    def service_logs(self, service: str) -> str:
        done = subprocess.run(
            ["docker", "--host", self.swarm.manager.engine_url, "service", "logs", "--raw",
             "--tail", "40", f"{self.name}_{service}"],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        return done.stdout + done.stderr

    def user(self, name: str) -> HubClient:
        assert self.admin is not None
        if name not in self.users:
            self.users[name] = signed_up_user(self.url, self.admin, name, f"{name}-password-1")
        return self.users[name]


def hub_answers(url: str) -> bool:
    return requests.get(f"{url}/hub/health", timeout=10).status_code == 200


@pytest.fixture(scope="module")
def stack(
    swarm: SwarmCluster, hub_image_on_nodes: str, lab_image: str, postgres_image: str
) -> Iterator[Stack]:
    """deploy/stack.yml deployed with `docker stack deploy -c`, answering on the manager's port
    8000; everything it made removed afterwards (see the module's docstring)."""
    db_node = swarm.workers[0]  # the hub is on the manager: the database on the other node
    swarm.load_image(lab_image)
    swarm.load_image(postgres_image, nodes=[db_node])
    before = ClusterObjects.of(swarm)
    postgres_password = secrets.token_hex(24)
    deployed = Stack(
        name=swarm.name("stack"),
        swarm=swarm,
        url=f"http://{swarm.manager.address}:8000",
        admin_password=secrets.token_urlsafe(18),
        postgres_password=postgres_password,
        before=before,
        db_node=db_node,
    )
    try:
        set_db_label(swarm, db_node, on=True)
        database = f"postgresql+psycopg://hub:{postgres_password}@db:5432"
        for name, value in {
            "stellars-admin-password": deployed.admin_password,
            "stellars-postgres-password": postgres_password,
            "stellars-cookie-secret": secrets.token_hex(32),
            "stellars-hub-db-url": f"{database}/jupyterhub",
            "stellars-db-url": f"{database}/stellars",
        }.items():
            swarm.client().secrets.create(name=name, data=value.encode())
        # The images are in the nodes' engines, not in a registry: nothing to resolve.
        docker_cli(
            swarm, "stack", "deploy", "--resolve-image", "never", "-c", str(STACK_FILE),
            deployed.name,
            env={
                "STELLARS_HUB_IMAGE": hub_image_on_nodes,
                "STELLARS_LAB_IMAGE": lab_image,
                "STELLARS_POSTGRES_IMAGE": postgres_image,
            },
        )  # fmt: skip
        try:
            wait_for("the stack's hub answering", lambda: hub_answers(deployed.url), HUB_SECONDS, 3)
        except TimeoutError as error:
            logs = "\n".join(
                f"--- {service}:\n{deployed.service_logs(service)}"
                for service in ("hub", "db", "node-sampler")
            )
            raise AssertionError(f"{error}\n{logs}") from error
        deployed.admin = HubClient(deployed.url)
        deployed.admin.login(ADMIN, deployed.admin_password)
        yield deployed
    finally:
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            docker_cli(swarm, "stack", "rm", deployed.name)
        remove_added(swarm, before)
        set_db_label(swarm, db_node, on=False)


def server_of(client: HubClient, user: str) -> dict[str, Any] | None:
    return (client.api("GET", f"/users/{user}").json().get("servers") or {}).get("")


def running_task_nodes(swarm: SwarmCluster, service: str) -> list[str]:
    """The hostnames of the nodes running `service`'s tasks."""
    hostnames = {node["ID"]: node["Description"]["Hostname"] for node in swarm.swarm_nodes()}
    return sorted(
        hostnames[task["NodeID"]]
        for task in swarm.client().api.tasks(filters={"service": service})
        if task["Status"]["State"] == "running" and task.get("DesiredState") == "running"
    )


def test_the_stack_places_the_hub_on_the_manager_the_samplers_everywhere_the_db_on_its_node(
    stack: Stack,
):
    swarm = stack.swarm
    assert running_task_nodes(swarm, f"{stack.name}_hub") == [swarm.manager.hostname]
    assert running_task_nodes(swarm, f"{stack.name}_db") == [stack.db_node.hostname]
    wait_for(
        "a node sampler on every node",
        lambda: (
            running_task_nodes(swarm, f"{stack.name}_node-sampler")
            == sorted(node.hostname for node in swarm.nodes)
        ),
        120,
        2,
    )


def test_the_admin_logs_in_with_the_secret_and_the_settings_say_swarm_and_postgresql(
    stack: Stack,
):
    assert stack.admin is not None
    answer = stack.admin.api("GET", "/settings")
    assert answer.status_code == 200, answer.text
    values = {row["variable"]: row["value"] for row in answer.json()["settings"]}
    assert values["STELLARS_SPAWNER"] == "swarm"
    assert values["STELLARS_DB_URL"].startswith("postgresql+psycopg://hub:")
    assert values["STELLARS_DB_URL"].endswith("@db:5432/stellars")
    assert stack.postgres_password not in answer.text  # masked, as every database URL
    # A wrong password is refused: the admin's password is the secret's, nothing else.
    stranger = HubClient(stack.url)
    refused = stranger.session.post(
        stranger.url("/login"),
        data={"username": ADMIN, "password": "not-the-secret",
              "_xsrf": stranger.form_xsrf("/login")},
        allow_redirects=False,
        timeout=10,
    )  # fmt: skip
    assert refused.status_code != 302


def test_a_users_lab_runs_as_a_swarm_service_and_answers_through_the_hubs_proxy(stack: Stack):
    client = stack.user(USER)
    started = client.api("POST", f"/users/{USER}/server")
    assert started.status_code in {201, 202}, started.text
    try:
        wait_for(
            f"{USER}'s lab ready",
            lambda: (server_of(client, USER) or {}).get("ready"),
            LAB_SECONDS,
            2,
        )
    except TimeoutError as error:
        raise AssertionError(f"{error}\n--- hub:\n{stack.service_logs('hub')}") from error
    (node,) = running_task_nodes(stack.swarm, f"jupyterlab-{USER}")
    assert node in {n.hostname for n in stack.swarm.nodes}
    token = client.new_token(USER, [f"access:servers!server={USER}/"])
    status = requests.get(
        f"{stack.url}/user/{USER}/api/status",
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    assert status.status_code == 200, status.text


def test_the_node_samplers_of_both_nodes_report_to_the_dashboard(stack: Stack):
    assert stack.admin is not None
    admin = stack.admin
    wanted = {node.hostname for node in stack.swarm.nodes}

    def fresh_nodes() -> set[str]:
        page = admin.api("GET", "/activity").json()
        return {
            node["node"]
            for node in page.get("nodes", [])
            if node["is_stale"] is False and 0 <= node["report_age_seconds"] < 60
        }

    # Each sampler reports every 10 s (the stack's interval); the hub reads the newest.
    wait_for("fresh reports of both nodes", lambda: fresh_nodes() == wanted, 120, 3)


def test_the_lab_stops_and_stack_rm_removes_everything(stack: Stack):
    swarm = stack.swarm
    client = stack.user(USER)
    if server_of(client, USER) is not None:
        stopped = client.api("DELETE", f"/users/{USER}/server")
        assert stopped.status_code in {202, 204}, stopped.text
        wait_for(f"{USER}'s lab stopped", lambda: server_of(client, USER) is None, 120, 2)
    assert not swarm.client().services.list(filters={"name": f"jupyterlab-{USER}"})

    docker_cli(swarm, "stack", "rm", stack.name)
    stack_services = {f"{stack.name}_{service}" for service in ("hub", "node-sampler", "db")}
    wait_for(
        "the stack's services and tasks gone",
        lambda: (
            not (
                {s.name for s in swarm.client().services.list()} & stack_services
                or task_containers(swarm, stack_services)
            )
        ),
        REMOVE_SECONDS,
        2,
    )
    wait_for(
        "the stack's network and config gone",
        lambda: (
            not [
                item
                for item in ClusterObjects.of(swarm).added_since(stack.before)
                if item.startswith(("service:", "network:", "config:"))
            ]
        ),
        REMOVE_SECONDS,
        2,
    )
    # What `stack rm` keeps by design: the external secrets and the volumes (the database,
    # the hub's state, the user's files). The operator removes them; so does this test.
    kept = ClusterObjects.of(swarm).added_since(stack.before)
    assert {item for item in kept if item.startswith("secret:")} == {
        f"secret: {name}"
        for name in (
            "stellars-admin-password",
            "stellars-cookie-secret",
            "stellars-db-url",
            "stellars-hub-db-url",
            "stellars-postgres-password",
        )
    }
    assert f"volume: {stack.name}_db-data on {stack.db_node.hostname}" in kept
    assert f"volume: {stack.name}_hub-data on {swarm.manager.hostname}" in kept
    remove_added(swarm, stack.before)
    assert ClusterObjects.of(swarm).added_since(stack.before) == []
