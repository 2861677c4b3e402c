"""A real Docker Swarm of two or three nodes on this machine, for the swarm-mode tests.

Each node is a container of the node image (tooling/images.py, `swarm_node_recipe`) running its
own Docker engine; the host engine's own swarm mode is never touched. The grants are the
narrowest that run a nested engine here (`--privileged` fails on these machines, see
shared/research/swarm-recipe.md): SYS_ADMIN and NET_ADMIN, no seccomp or AppArmor profile, the
host's cgroup tree mounted read-write (without it every nested container fails to make its
cgroup), and `/var/lib/docker` on a volume of its own (so the nested engine uses overlay2).

Everything this module creates on the host engine is named `<prefix>-...` (prefix
`stellars-swarm-<random>`) and carries the test session's label, so a crashed run's leftovers
are removed by the next session (tests.backends.dockerhost); `SwarmCluster.teardown` removes
every node container, volume and network, and `leftovers` lists what is still there.

The nodes' engines listen on TCP 2375 on the network the test creates (the test tooling on the
host talks to them there); node 1 is the manager, the others join as workers. Images reach the
nodes by `docker save | docker load` (no registry), once per image id per node.

A node may advertise generic resources (`start_swarm(node_resources=...)`): fake GPU ids, say,
as a deployer's daemon config does with `node-generic-resources` (docs/deploy.md), given to the
node's engine as `--node-generic-resource KIND=ID` flags. Nodes without any run as before.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import docker.types
import requests
from tooling.images import SWARM_NODE_ENGINE_PORT

from tests.backends.dockerhost import HARNESS_LABEL, session_labels
from tests.backends.errors import BackendMissing

#: Every name on the host engine starts with this, then a random part per cluster.
NAME_PREFIX = "stellars-swarm"
#: Seconds a node's engine may take to answer after its container starts.
ENGINE_START_SECONDS = 90.0
#: Seconds a joined node may take to be Ready on the manager.
NODE_READY_SECONDS = 90.0
#: The overlay networks' address pool: clear of the host's networks and of Docker's defaults.
ADDRESS_POOL = "10.213.0.0/16"

#: The nested engine's grants (see the module's docstring).
NODE_CAPABILITIES = ("SYS_ADMIN", "NET_ADMIN")
NODE_SECURITY_OPTIONS = ("seccomp=unconfined", "apparmor=unconfined")


def new_prefix() -> str:
    """A fresh prefix for one cluster's objects: `stellars-swarm-<8 hex digits>`."""
    return f"{NAME_PREFIX}-{secrets.token_hex(4)}"


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Call `check` until it returns something truthy (returned), or raise TimeoutError naming
    `what` with the last exception or value seen."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
        except Exception as error:
            last = error
        else:
            if result:
                return result
            last = result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s (last: {last!r})")
        time.sleep(interval)


@dataclass(frozen=True)
class SwarmNode:
    """One node: its container on the host, its address on the cluster's network, its role."""

    container: str  # the container's name on the host engine, also the node's hostname
    volume: str  # the volume holding the node engine's /var/lib/docker
    address: str  # on the cluster's network; the host reaches it there
    manager: bool

    @property
    def engine_url(self) -> str:
        return f"tcp://{self.address}:{SWARM_NODE_ENGINE_PORT}"

    @property
    def hostname(self) -> str:
        return self.container


@dataclass
class SwarmCluster:
    """A running swarm of node containers (see the module's docstring); `start_swarm` makes one."""

    host: docker.DockerClient
    prefix: str
    network: str
    node_image: str
    nodes: list[SwarmNode] = field(default_factory=list)
    #: The attachable overlay network made on the manager (None until made).
    overlay: str | None = None
    _clients: dict[str, docker.DockerClient] = field(default_factory=dict)
    #: image id -> the nodes (container names) that have it, so each loads once.
    _loaded: dict[str, set[str]] = field(default_factory=dict)

    @property
    def manager(self) -> SwarmNode:
        return self.nodes[0]

    @property
    def workers(self) -> list[SwarmNode]:
        return self.nodes[1:]

    def node(self, hostname: str) -> SwarmNode:
        for node in self.nodes:
            if node.hostname == hostname:
                return node
        raise KeyError(hostname)

    def client(self, node: SwarmNode | None = None) -> docker.DockerClient:
        """A Docker client of `node`'s engine (default: the manager's)."""
        node = node or self.manager
        if node.container not in self._clients:
            self._clients[node.container] = docker.DockerClient(
                base_url=node.engine_url, version="auto", timeout=120
            )
        return self._clients[node.container]

    def name(self, suffix: str) -> str:
        """A name for something the test makes, under this cluster's prefix."""
        return f"{self.prefix}-{suffix}"

    # --- images -------------------------------------------------------------------------------

    def load_image(self, tag: str, nodes: Sequence[SwarmNode] | None = None) -> None:
        """Copy the host engine's image `tag` into every node (or `nodes`) by `docker save |
        docker load`; a node that already has the image id is skipped, and only tagged."""
        image = self.host.images.get(tag)
        have = self._loaded.setdefault(image.id, set())
        for node in nodes or self.nodes:
            if node.container in have:
                continue
            client = self.client(node)
            try:
                client.images.get(image.id)
            except docker.errors.ImageNotFound:
                _pipe_image(tag, node.engine_url)
            repository, _, version = tag.rpartition(":")
            client.images.get(image.id).tag(repository, version)
            have.add(node.container)

    # --- swarm --------------------------------------------------------------------------------

    def swarm_nodes(self) -> list[dict[str, Any]]:
        """`docker node ls` on the manager, as the engine's node objects."""
        return [node.attrs for node in self.client().nodes.list()]

    def ready_hostnames(self) -> set[str]:
        """The hostnames of the nodes the manager sees Ready and active."""
        return {
            node["Description"]["Hostname"]
            for node in self.swarm_nodes()
            if node["Status"]["State"] == "ready" and node["Spec"]["Availability"] == "active"
        }

    def node_id(self, node: SwarmNode) -> str:
        for found in self.swarm_nodes():
            if found["Description"]["Hostname"] == node.hostname:
                return str(found["ID"])
        raise KeyError(node.hostname)

    def create_overlay(self, suffix: str = "overlay") -> str:
        """An attachable overlay network on the manager (remembered as `overlay`)."""
        name = self.name(suffix)
        self.client().networks.create(name, driver="overlay", attachable=True)
        self.overlay = name
        return name

    def task_containers(self, service: str, node: SwarmNode) -> list[Any]:
        """The running containers of `service`'s tasks on `node`."""
        return self.client(node).containers.list(
            filters={"label": f"com.docker.swarm.service.name={service}"}
        )

    # --- teardown -----------------------------------------------------------------------------

    def teardown(self) -> None:
        """Remove every node container (its tasks and containers first, so none outlives its
        engine), the nodes' volumes and the cluster's network. Safe to call twice."""
        for node in reversed(self.nodes):
            with contextlib.suppress(Exception):
                client = self.client(node)
                if node.manager:
                    for service in client.services.list():
                        service.remove()
                for container in client.containers.list(all=True):
                    container.remove(force=True)
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                client.close()
        self._clients.clear()
        remove_prefixed(self.host, self.prefix)

    def leftovers(self) -> list[str]:
        """What the host engine still has under this cluster's prefix (kind: name)."""
        return prefixed(self.host, self.prefix)


def _pipe_image(tag: str, engine_url: str) -> None:
    """`docker save tag | docker -H engine_url load`, streamed (the CLI's, as the recipe)."""
    save = subprocess.Popen(["docker", "save", tag], stdout=subprocess.PIPE)
    try:
        load = subprocess.run(
            ["docker", "-H", engine_url, "load", "-q"],
            stdin=save.stdout,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    finally:
        if save.stdout is not None:
            save.stdout.close()
        save.wait(timeout=600)
    if save.returncode != 0 or load.returncode != 0:
        raise RuntimeError(
            f"copying {tag} to {engine_url} failed: save rc {save.returncode}, "
            f"load rc {load.returncode}: {load.stderr.strip()}"
        )


def _prefixed_containers(host: docker.DockerClient, prefix: str) -> list[tuple[str, str]]:
    """(id, name) of the containers (also stopped) named `prefix...`. The low-level list: the
    high-level one inspects every container of the engine, and other processes remove theirs
    meanwhile."""
    found = host.api.containers(all=True, filters={"name": prefix})
    named = ((c["Id"], name.lstrip("/")) for c in found for name in c.get("Names") or ())
    return [(cid, name) for cid, name in named if name.startswith(prefix)]


def prefixed(host: docker.DockerClient, prefix: str) -> list[str]:
    """Containers (also stopped), volumes and networks on `host` whose name starts with
    `prefix`, as `kind: name`."""
    found = [f"container: {name}" for _, name in _prefixed_containers(host, prefix)]
    volumes = host.api.volumes(filters={"name": prefix}).get("Volumes") or []
    found += [f"volume: {v['Name']}" for v in volumes if v["Name"].startswith(prefix)]
    networks = host.api.networks(names=[prefix])
    found += [f"network: {n['Name']}" for n in networks if n["Name"].startswith(prefix)]
    return found


def remove_prefixed(host: docker.DockerClient, prefix: str) -> None:
    """Remove the containers, then the volumes and networks, named `prefix...` on `host`."""
    for cid, _ in _prefixed_containers(host, prefix):
        with contextlib.suppress(docker.errors.NotFound):
            host.api.remove_container(cid, force=True, v=True)
    for volume in host.api.volumes(filters={"name": prefix}).get("Volumes") or []:
        if volume["Name"].startswith(prefix):
            with contextlib.suppress(docker.errors.NotFound):
                host.api.remove_volume(volume["Name"], force=True)
    for network in host.api.networks(names=[prefix]):
        if network["Name"].startswith(prefix):
            with contextlib.suppress(docker.errors.NotFound):
                host.api.remove_network(network["Id"])


def node_command(resources: Sequence[str] = ()) -> list[str] | None:
    """The node container's command: the image's own (None) unless the node advertises
    generic resources ("KIND=ID" each), which its engine then takes as flags."""
    if not resources:
        return None
    flags = [flag for resource in resources for flag in ("--node-generic-resource", resource)]
    return [
        "dockerd",
        "--host",
        "unix:///var/run/docker.sock",
        "--host",
        f"tcp://0.0.0.0:{SWARM_NODE_ENGINE_PORT}",
        *flags,
    ]


def _start_node(
    host: docker.DockerClient,
    cluster: SwarmCluster,
    index: int,
    labels: Mapping[str, str],
    resources: Sequence[str] = (),
) -> SwarmNode:
    name = cluster.name(f"node{index}")
    volume = f"{name}-data"
    host.volumes.create(volume, labels=dict(labels))
    container = host.containers.run(
        cluster.node_image,
        node_command(resources),
        name=name,
        hostname=name,
        network=cluster.network,
        cap_add=list(NODE_CAPABILITIES),
        security_opt=list(NODE_SECURITY_OPTIONS),
        volumes={
            "/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"},
            volume: {"bind": "/var/lib/docker", "mode": "rw"},
        },
        labels=dict(labels),
        detach=True,
    )
    container.reload()
    address = container.attrs["NetworkSettings"]["Networks"][cluster.network]["IPAddress"]
    return SwarmNode(container=name, volume=volume, address=address, manager=index == 1)


def _engine_answers(cluster: SwarmCluster, node: SwarmNode) -> bool:
    try:
        return bool(cluster.client(node).ping())
    except (docker.errors.DockerException, requests.RequestException):
        cluster._clients.pop(node.container, None)  # negotiate the version again next time
        raise


def start_swarm(
    host: docker.DockerClient,
    node_image: str,
    *,
    nodes: int = 2,
    images: Iterable[str] = (),
    labels: Mapping[str, str] | None = None,
    prefix: str | None = None,
    node_resources: Mapping[int, Sequence[str]] | None = None,
) -> SwarmCluster:
    """Start `nodes` node containers on a network of their own, `swarm init` on the first, join
    the others as workers, wait until every node is Ready, and load `images` into each.
    `node_resources`: the generic resources ("KIND=ID") node `index` (1: the manager)
    advertises.

    On any failure what was made so far is removed before the error propagates. Raises
    BackendMissing when the nested engine cannot start here (its log in the message).
    """
    if nodes < 1:
        raise ValueError("a swarm needs at least one node")
    labels = {**(labels if labels is not None else session_labels()), HARNESS_LABEL: "swarm"}
    prefix = prefix or new_prefix()
    network = f"{prefix}-net"
    host.networks.create(network, driver="bridge", labels=labels)
    cluster = SwarmCluster(host=host, prefix=prefix, network=network, node_image=node_image)
    try:
        for index in range(1, nodes + 1):
            resources = (node_resources or {}).get(index, ())
            cluster.nodes.append(_start_node(host, cluster, index, labels, resources))
        for node in cluster.nodes:
            try:
                wait_for(
                    f"the engine of {node.container}",
                    lambda node=node: _engine_answers(cluster, node),
                    ENGINE_START_SECONDS,
                )
            except TimeoutError as error:
                tail = host.containers.get(node.container).logs(tail=30).decode(errors="replace")
                raise BackendMissing(
                    f"a nested Docker engine does not start: {error}\n{tail}"
                ) from error
        manager = cluster.manager
        cluster.client(manager).swarm.init(
            advertise_addr=manager.address,
            listen_addr=f"{manager.address}:2377",
            default_addr_pool=[ADDRESS_POOL],
            subnet_size=24,
        )
        token = cluster.client(manager).swarm.attrs["JoinTokens"]["Worker"]
        for worker in cluster.workers:
            cluster.client(worker).swarm.join(
                remote_addrs=[f"{manager.address}:2377"],
                join_token=token,
                advertise_addr=worker.address,
                listen_addr=f"{worker.address}:2377",
            )
        wanted = {node.hostname for node in cluster.nodes}
        wait_for(
            "every node Ready",
            lambda: cluster.ready_hostnames() == wanted,
            NODE_READY_SECONDS,
        )
        for tag in images:
            cluster.load_image(tag)
    except BaseException:
        cluster.teardown()
        raise
    return cluster


def run_service(
    cluster: SwarmCluster,
    name: str,
    image: str,
    command: Sequence[str],
    *,
    on: SwarmNode,
    networks: Sequence[str] = (),
) -> Any:
    """A one-replica service of `image` running `command`, pinned to node `on` (a placement
    constraint on its hostname), on `networks`."""
    return cluster.client().services.create(
        image,
        command=list(command),
        name=name,
        constraints=[f"node.hostname=={on.hostname}"],
        networks=list(networks),
        mode=docker.types.ServiceMode("replicated", replicas=1),
    )
