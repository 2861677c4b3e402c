"""DockerSpawner's SwarmSpawner as the platform runs it (STELLARS_SPAWNER=swarm): each lab a
one-replica Swarm service, started through the manager's engine, on the node that holds its
user's volumes.

What it changes in the stock SwarmSpawner, and why:

- **volumes as named volumes**: SwarmSpawner mounts `volumes` as bind mounts of host paths, and a
  named volume's name is no host path, so the task fails. Here each entry is a `volume` mount,
  created by the node's engine at the first start with the platform's labels (`stellars.user`,
  and `stellars.node` where the lab is pinned) and kept when the service goes.
- **placement** (`stellars.domain.swarm.place_lab`): the first start picks the Ready, active node
  with the fewest labs; the chosen node is recorded in the spawner's state (the hub's database,
  kept across stops and hub restarts: `clear_state` keeps it) and every later start is pinned
  there by a `node.hostname` constraint, or refused saying why when that node cannot take it.
  `pin_volumes` False (volumes on shared storage) lets the swarm choose any node.
- **reached by DNS, no virtual IP**: the service's endpoint mode is `dnsrr`, so the service's
  name on the overlay resolves straight to its one task (a virtual IP needs the kernel's IPVS on
  every node, which a one-replica lab does not need).
- **the platform's stop records**: a poll that finds the lab's node drained, paused or down (the
  swarm then holds the lab's task pending, since no other node may run it) reports the server
  stopped and records why for its user; a poll while the manager does not answer keeps the
  server as running (as EngineTolerantDockerSpawner does); a new start forgets the last stop.
  A stop the hub is asked for records who asked (its user, an admin, a service), as on one
  host (`lab_records.LabRecords`, which both spawners share).
- **progress and "ready means serving"**: a start reports its steps through JupyterHub's
  progress stream as on one host: the node chosen (and why), the service created, the task
  running on its node, the wait for JupyterLab, serving; `start` returns only once the lab
  answers HTTP. A task the swarm cannot run (its image missing on the node, rejected, exited)
  fails the start at once with the task's own words as an HTTP error, never a timeout; one no
  node can take (no GPU free) once the scheduler has said so for `UNPLACED_SECONDS`.
- **the Docker socket of a Docker-access group**: bind-mounted from the lab's node (a path
  every node has), with the socket's group id as a supplementary group of the lab's user
  (the service's `ContainerSpec.Groups`, which engines since API 1.25 take: `docker_socket_gid`),
  so that a lab running as a non-root user can use it.
- **GPUs through the nodes' generic resources**: the nodes advertise their GPUs
  (`node-generic-resources`, kind `gpu_resource`); a lab whose user's policy grants GPUs
  reserves that many (`Resources.generic_resources`), the swarm places it on a node with that
  many free and names them in the task (its `GenericResources`, and the task's
  `DOCKER_RESOURCE_<kind>`, which the NVIDIA runtime reads); the start reports them. No free
  GPU on the lab's node fails the start saying so; two labs never share an id.
- **what a service cannot have** (a privileged container, device requests, host paths
  other than the socket: a policy's bind mount of a directory that may be missing on the lab's
  node): the start is refused with a 409 saying so, never a lab started without what its
  user's groups give.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from typing import Any

import docker.errors
import requests
from docker.types import Mount
from dockerspawner import SwarmSpawner
from tornado import web
from traitlets import Bool, Integer, Unicode, default

from stellars.domain.errors import Refused
from stellars.domain.gpu_allocation import CUDA_VISIBLE_DEVICES, NO_GPU, NVIDIA_VISIBLE_DEVICES
from stellars.domain.spawn_progress import (
    IMAGE_FIRST,
    IMAGE_LAST,
    STEP_PERCENT,
    ProgressEvent,
    SpawnStep,
    StartFailure,
    serving,
    waiting_for_lab,
)
from stellars.domain.swarm import Placement, SwarmNode, lab_node_counts, place_lab
from stellars.domain.validation import clip

from .docker_spawner import (
    ASK_SECONDS,
    ENGINE_WORDS,
    SERVE_POLL_SECONDS,
    START_TIMEOUT_MARGIN_SECONDS,
    engine_words,
    lab_answers,
)
from .lab_records import LabRecords, start_failed
from .spawn_hook import spawn_refusal

#: The label every lab service carries (its value: the user's name); the labs per node are
#: counted from the running tasks of the services that carry it.
LAB_LABEL = "stellars.lab"
#: Labels the node's engine puts on the volumes it creates for a lab.
USER_LABEL = "stellars.user"
NODE_LABEL = "stellars.node"
#: Where the recorded node lives in the spawner's state.
NODE_STATE_KEY = "swarm_node"
#: Task states in which the swarm is still trying to run a lab (SwarmSpawner's own list), and
#: the states of a task a drain has just ended (its replacement not yet made): in either, a
#: lab whose recorded node takes no labs stopped because of that node.
_WAITING_STATES = frozenset({"new", "pending", "assigned", "accepted", "preparing", "starting"})
_ENDED_BY_NODE_STATES = frozenset({"shutdown", "orphaned", "remove"})
#: Task states of a task the swarm could not run.
_FAILED_STATES = frozenset({"failed", "rejected"})
#: What the scheduler says of a task no node can take (constraints, resources).
_NO_NODE = "no suitable node"
#: What swarmkit's constraint enforcer says of a task it rejects. On any update of a node it
#: rejects every task there that holds a named generic resource (a GPU), although the node
#: still has it (swarmkit's check is inverted; engine 20.10 has it), and the swarm replaces
#: the task. It fails no start (the start waits for the replacement); docs/deploy.md says how a
#: deployment avoids the update that comes with a lab (the node's first attachment to the
#: labs' overlay network).
_ENFORCER = "assigned node no longer meets constraints"
#: What the scheduler adds when no node has the resources a task reserves.
_NO_RESOURCES = "insufficient resources"
#: How often a start first looks at its service's task, how the wait grows, and at most: a task
#: on a node with the image runs within a second (bench/swarm_spawn.py), which SwarmSpawner's
#: own wait (1 s, growing by half) rounds up to 1 s or 2.5 s.
TASK_POLL_SECONDS = 0.25
TASK_POLL_GROWTH = 1.2
TASK_POLL_MAX_SECONDS = 2.0
#: How long the scheduler may find no node for a starting lab before the start fails: a lab
#: that just stopped holds its GPUs until its task has ended (up to its stop grace period,
#: 10 s by default, when its process ignores SIGTERM).
UNPLACED_SECONDS = 20.0


def task_state(task: Mapping[str, Any]) -> str:
    return str((task.get("Status") or {}).get("State") or "").lower()


def task_words(task: Mapping[str, Any]) -> str:
    """What the swarm says of a task (its `Err`, else its `Message`), short and on one line."""
    status = task.get("Status") or {}
    said = " ".join(str(status.get("Err") or status.get("Message") or "").split())
    return clip(said, ENGINE_WORDS)


def newest_first(tasks: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(tasks, key=lambda t: str(t.get("CreatedAt") or ""), reverse=True)


def task_failure(tasks: Sequence[Mapping[str, Any]]) -> str | None:
    """Why the swarm could not run a lab's task, in the task's own words: the newest task that
    failed or was rejected (an image missing on the node, a container that exited); None while
    none did."""
    for task in newest_first(tasks):
        state, words = task_state(task), task_words(task)
        if state == "rejected" and _ENFORCER in words:
            continue  # the swarm replaces it (see _ENFORCER)
        if state in _FAILED_STATES:
            return f"The swarm could not run your server ({state}): {words or 'no reason given'}"
    return None


def task_unplaced(tasks: Sequence[Mapping[str, Any]], *, gpus: int = 0) -> str | None:
    """Why the scheduler finds no node for a lab's newest task (its constraints, or the
    resources it reserves: for a lab that asks for `gpus`, no GPU free), in its words; None
    when it has found one or has not said."""
    newest = next(iter(newest_first(tasks)), None)
    if newest is None or task_state(newest) != "pending":
        return None
    words = task_words(newest)
    if _NO_NODE not in words:
        return None
    if gpus > 0 and _NO_RESOURCES in words:
        asked = f"{gpus} GPU{'s' if gpus > 1 else ''}"
        return (
            f"No GPU is free for your server now: it asks for {asked}, and no node it may run "
            f"on has that many free (the swarm says: {words})"
        )
    return f"No node of the swarm can run your server now: {words}"


def serve_seconds(start_timeout: float, http_timeout: float, spent: float) -> float:
    """How long the lab has to answer: JupyterHub's HTTP timeout, within what its start timeout
    leaves of a start that has taken `spent` seconds (less a margin for the failure)."""
    left = start_timeout - spent
    return max(0.0, min(float(http_timeout), left - START_TIMEOUT_MARGIN_SECONDS))


# The steps of a swarm start (the domain's steps, spawn_progress, in swarm's words): where the
# lab goes and its service stand where one host readies the image (the node's engine readies it
# while the task prepares), the task running where the container starts.


def node_chosen(placement: Placement) -> ProgressEvent:
    where = f"node {placement.node}" if placement.node else "the node the swarm chooses"
    return ProgressEvent(
        SpawnStep.IMAGE, IMAGE_FIRST, f"Your server goes to {where} ({placement.reason})."
    )


def service_created(service: str) -> ProgressEvent:
    return ProgressEvent(
        SpawnStep.IMAGE,
        (IMAGE_FIRST + IMAGE_LAST) // 2,
        f"The service {service} was created; its node prepares the task.",
    )


def task_running(node: str, gpus: Sequence[str] = ()) -> ProgressEvent:
    named = f" with GPU{'s' if len(gpus) > 1 else ''} {', '.join(gpus)}" if gpus else ""
    return ProgressEvent(
        SpawnStep.CONTAINER,
        STEP_PERCENT[SpawnStep.CONTAINER],
        f"The task of your server runs on node {node}{named}.",
    )


def assigned_resources(task: Mapping[str, Any], kind: str) -> tuple[str, ...]:
    """The ids of the generic resources of `kind` the swarm assigned to a task (its node's, as
    the task's environment has them in `DOCKER_RESOURCE_<kind>`), in their order: the Engine
    API's `GenericResources` of the task (swarmkit's `AssignedGenericResources`)."""
    return tuple(
        str(named["Value"])
        for resource in task.get("GenericResources") or []
        if (named := resource.get("NamedResourceSpec") or {}).get("Kind") == kind
    )


def gpu_environment(environment: Mapping[str, str], gpus: int) -> dict[str, str]:
    """A swarm lab's environment with its GPU variables: the NVIDIA runtime takes the GPUs the
    swarm assigned from `DOCKER_RESOURCE_<kind>` (its `swarm-resource` setting), so a lab that
    asks for some has its GPU tooling on and no device list of the hub's; one that asks for
    none sees no GPU (`NVIDIA_VISIBLE_DEVICES=void`, over an image's "all")."""
    result = dict(environment)
    if gpus <= 0:
        result[NVIDIA_VISIBLE_DEVICES] = NO_GPU
        return result
    result.pop(NVIDIA_VISIBLE_DEVICES, None)
    result.pop(CUDA_VISIBLE_DEVICES, None)
    result.update(ENABLE_GPU_SUPPORT="1", ENABLE_GPUSTAT="1", NVIDIA_DETECTED="1")
    return result


def swarm_nodes(nodes: Sequence[Mapping[str, Any]], tasks: Sequence[Mapping[str, Any]],
                lab_services: Sequence[str]) -> list[SwarmNode]:  # fmt: skip
    """The swarm's nodes as the placement rule sees them, from the manager's `node ls`, its
    running tasks and the ids of the lab services (the labs per node)."""
    labs = set(lab_services)
    counts = lab_node_counts(
        str(task.get("NodeID") or "")
        for task in tasks
        if task.get("ServiceID") in labs and task.get("DesiredState") == "running"
    )
    return [
        SwarmNode(
            hostname=str(node["Description"]["Hostname"]),
            state=str(node["Status"]["State"]),
            availability=str(node["Spec"]["Availability"]),
            labs=counts.get(str(node["ID"]), 0),
            manager=node["Spec"].get("Role") == "manager",
        )
        for node in nodes
    ]


def socket_mount(path: str, bind: Mapping[str, str]) -> Mount:
    """The Docker socket at `path` on the lab's node, bound where DockerSpawner's `volume_binds`
    entry says (a bind mount: a path every node has)."""
    return Mount(target=bind["bind"], source=path, type="bind", read_only=bind.get("mode") == "ro")


def volume_mounts(
    binds: Mapping[str, Mapping[str, str]],
    *,
    username: str,
    node: str | None,
    driver_config: Any = None,
) -> list[Mount]:
    """DockerSpawner's `volume_binds` (volume name -> {"bind": path, "mode": "rw"|"ro"}) as
    named-volume mounts, labelled with the user and the node they are pinned to (if any)."""
    labels = {USER_LABEL: username, **({NODE_LABEL: node} if node else {})}
    return [
        Mount(
            target=bind["bind"],
            source=name,
            type="volume",
            read_only=bind.get("mode") == "ro",
            driver_config=driver_config,
            labels=labels,
        )
        for name, bind in binds.items()
    ]


class PlatformSwarmSpawner(LabRecords, SwarmSpawner):
    """SwarmSpawner with named-volume mounts, the platform's node placement, its progress
    steps and stop records (`LabRecords`; see the module's docstring)."""

    pin_volumes = Bool(
        True,
        config=True,
        help="Start each user's lab on the node that holds their volumes; False only where the "
        "volumes are on storage every node reaches.",
    )

    docker_socket = Unicode(
        "/var/run/docker.sock",
        config=True,
        help="The nodes' Docker socket, which the Docker-access groups mount into a lab "
        "(the platform's socket path; the same path on every node).",
    )
    docker_socket_gid = Integer(
        None,
        allow_none=True,
        config=True,
        help="The group id of the Docker socket on the nodes (`stat -c %g /var/run/docker.sock`, "
        "the same on every node), given to a lab that mounts the socket as a supplementary "
        "group so that its user may use it. Default: the group of the socket at "
        "`docker_socket` as the hub sees it (the stack file mounts its manager's socket "
        "there); None where the hub has none.",
    )

    @default("docker_socket_gid")
    def _default_socket_gid(self) -> int | None:
        try:
            return os.stat(self.docker_socket).st_gid
        except OSError:
            return None

    #: The node that holds this user's volumes (None: not chosen yet, or the pin is lifted).
    swarm_node: str | None = None
    #: The placement of the start in progress (None outside `create_object`).
    placement: Placement | None = None
    #: Set by the platform while it restarts the lab (a forced service update).
    restart_in_progress = False
    #: The node the task of the current start runs on (None before it runs).
    task_node: str | None = None
    #: GPUs come from the swarm (the spawn hook reads this, and sets `gpus_wanted`).
    gpus_from_swarm = True
    #: How many GPUs this start asks the swarm for (the user's policy, from the spawn hook).
    gpus_wanted = 0
    #: The ids of the GPUs the swarm assigned to the running task.
    task_gpus: tuple[str, ...] = ()

    gpu_resource = Unicode(
        "NVIDIA-GPU",
        config=True,
        help="The kind of generic resource the nodes advertise their GPUs as "
        "(`node-generic-resources` in their daemon config: KIND=GPU-uuid).",
    )

    @default("extra_endpoint_spec")
    def _default_endpoint_spec(self) -> dict[str, Any]:
        return {"mode": "dnsrr"}

    @default("use_internal_ip")
    def _default_use_internal_ip(self) -> bool:
        return True

    # --- state: the recorded node survives stops and hub restarts ---------------------------

    def load_state(self, state: Mapping[str, Any]) -> None:
        super().load_state(state)
        self.swarm_node = state.get(NODE_STATE_KEY) or self.swarm_node

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()
        if self.swarm_node:
            state[NODE_STATE_KEY] = self.swarm_node
        return state

    def clear_state(self) -> None:
        node = self.swarm_node
        super().clear_state()
        self.swarm_node = node  # the volumes stay on that node after the lab stops

    # --- volumes and placement --------------------------------------------------------------

    @property
    def mounts(self) -> list[Mount]:
        node = self.placement.node if self.placement is not None else self.swarm_node
        binds = dict(self.volume_binds)
        socket = binds.pop(self.docker_socket, None)
        return volume_mounts(
            binds,
            username=self.user.name,
            node=node if self.pin_volumes else None,
            driver_config=self.mount_driver_config,
        ) + ([socket_mount(self.docker_socket, socket)] if socket is not None else [])

    def socket_groups(self) -> list[str]:
        """The supplementary groups of a lab that mounts the Docker socket: the socket's group
        id (`docker_socket_gid`), none where it is unknown or the lab has no socket."""
        if self.docker_socket not in self.volume_binds or self.docker_socket_gid is None:
            return []
        return [str(self.docker_socket_gid)]

    async def read_nodes(self) -> list[SwarmNode]:
        """The swarm's nodes with the labs running on each, from the manager (off the loop)."""
        nodes = await self.docker("nodes")
        tasks = await self.docker("tasks", filters={"desired-state": "running"})
        services = await self.docker("services", filters={"label": LAB_LABEL})
        return swarm_nodes(nodes, tasks, [service["ID"] for service in services])

    async def place(self) -> Placement:
        """Where this start goes (stellars.domain.swarm); records a newly chosen node. A start
        the rule refuses is a 409 whose message the user reads."""
        nodes = await self.read_nodes()
        try:
            placement = place_lab(self.user.name, self.swarm_node, nodes, pinned=self.pin_volumes)
        except Refused as refused:
            raise spawn_refusal(refused.reason) from None
        if placement.node is not None:
            self.swarm_node = placement.node
        self.log.info(
            "lab of %s goes to %s (%s)", self._log_name, placement.node or "any node",
            placement.reason,
        )  # fmt: skip
        return placement

    def unsupported(self) -> list[str]:
        """What this spawn asks for that a Swarm service cannot have (yet): a privileged
        container, GPUs, host paths mounted other than the Docker socket (a policy's bind
        mount: a host directory missing on the lab's node fails its task). Empty: nothing."""
        traits: Any = self  # DockerSpawner's Dict trait, which mypy cannot type
        host_config = traits.extra_host_config or {}
        missing = []
        if host_config.get("privileged"):
            missing.append("a privileged container")
        if host_config.get("device_requests"):
            missing.append("GPUs")
        paths = sorted(
            name
            for name in self.volume_binds
            if name.startswith("/") and name != self.docker_socket
        )
        if paths:
            missing.append(f"host paths mounted ({', '.join(paths)})")
        return missing

    async def create_object(self) -> Any:
        missing = self.unsupported()
        if missing:  # never a lab without what its user's groups give, nor a failing service
            raise spawn_refusal(
                f"The server of {self.user.name} cannot start: swarm mode cannot give it "
                f"{' or '.join(missing)} yet; an admin can change the user's groups"
            )
        self.placement = await self.place()
        traits: Any = self  # SwarmSpawner's Dict traits, which mypy cannot type
        placement_spec: dict[str, Any] = dict(traits.extra_placement_spec)
        placement_spec["constraints"] = self.placement.constraints or None
        traits.extra_placement_spec = placement_spec
        create_kwargs: dict[str, Any] = dict(traits.extra_create_kwargs)
        create_kwargs["labels"] = {**create_kwargs.get("labels", {}), LAB_LABEL: self.user.name}
        traits.extra_create_kwargs = create_kwargs
        # This start's socket group and GPUs over the configured specs, for this start only
        # (the spawner is reused: the next start may have neither).
        configured = (dict(traits.extra_container_spec), dict(traits.extra_resources_spec))
        container_spec, resources_spec = dict(configured[0]), dict(configured[1])
        # A service's labels never reach its task's container: the node samplers find a node's
        # labs by their containers' label.
        container_spec["labels"] = {
            **(container_spec.get("labels") or {}),
            LAB_LABEL: self.user.name,
        }
        groups = self.socket_groups()
        if groups:
            container_spec["groups"] = sorted({*container_spec.get("groups", []), *groups})
        if self.gpus_wanted > 0:
            resources_spec["generic_resources"] = {self.gpu_resource: self.gpus_wanted}
        traits.extra_container_spec, traits.extra_resources_spec = container_spec, resources_spec
        self.report_progress(node_chosen(self.placement))
        try:
            created = await super().create_object()
        finally:
            self.placement = None
            traits.extra_container_spec, traits.extra_resources_spec = configured
        self.report_progress(service_created(self.service_name))
        return created

    def get_env(self) -> dict[str, str]:
        return gpu_environment(super().get_env(), self.gpus_wanted)

    # --- start, poll and the platform's stop records ----------------------------------------

    async def start(self) -> Any:
        began = asyncio.get_running_loop().time()
        await self.forget_last_stop()
        try:
            ip, port = await super().start()
        except web.HTTPError:
            raise
        except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
            raise start_failed(
                StartFailure(f"The swarm could not start your server: {engine_words(error)}"),
                503,
            ) from None
        self.report_progress(waiting_for_lab())
        if self.internal_ssl:  # JupyterHub's own check, with its certificates, decides then
            return ip, port
        await self.until_serving(ip, port, began)
        self.report_progress(serving(self.server.base_url if self.server else "/"))
        return ip, port

    async def start_object(self) -> None:
        """Wait until the service's task runs (SwarmSpawner's `start_object`), reporting the
        node it runs on; a task the swarm could not run (its image missing on the node, a
        rejection, an exit, no node with what it asks for) fails the start at once with the
        task's own words, instead of JupyterHub waiting its whole start timeout."""
        # DockerSpawner's start has recorded the service's id; a caller that created the service
        # itself has it looked up (DockerSpawner's lookup records it, as the stock wait's does).
        if not self.object_id and await self.get_object() is None:
            raise start_failed(StartFailure(f"The service {self.service_name} is gone."), 503)
        delay = TASK_POLL_SECONDS
        unplaced_since: float | None = None
        while True:
            tasks = await self.docker("tasks", filters={"service": self.service_name})
            failure = task_failure(tasks)
            if failure is not None:
                raise start_failed(StartFailure(failure), 503)
            # A task no node can take now may be placed a moment later (the GPUs of a lab
            # that just stopped are free once its task is gone): it fails the start once the
            # scheduler has said so for UNPLACED_SECONDS.
            unplaced = task_unplaced(tasks, gpus=self.gpus_wanted)
            now = asyncio.get_running_loop().time()
            if unplaced is None:
                unplaced_since = None
            elif unplaced_since is None:
                unplaced_since = now
            elif now - unplaced_since >= UNPLACED_SECONDS:
                raise start_failed(StartFailure(unplaced), 503)
            running = next((t for t in tasks if task_state(t) == "running"), None)
            if running is not None:
                node = await self.docker("inspect_node", running["NodeID"])
                self.task_node = str(node["Description"]["Hostname"])
                self.task_gpus = assigned_resources(running, self.gpu_resource)
                self.report_progress(task_running(self.task_node, self.task_gpus))
                return
            await asyncio.sleep(delay)
            delay = min(delay * TASK_POLL_GROWTH, TASK_POLL_MAX_SECONDS)

    async def until_serving(self, ip: str, port: int, began: float) -> None:
        """Return once the lab answers HTTP at its API (ready means serving, as on one host);
        fail the start when its task ends first (with the task's words) or the lab does not
        answer in time."""
        base_url = self.server.base_url if self.server else "/"
        url = f"http://{ip}:{port}{base_url}api"
        loop = asyncio.get_running_loop()
        seconds = serve_seconds(self.start_timeout, self.http_timeout, loop.time() - began)
        deadline = loop.time() + seconds
        while True:
            tasks = await self.docker("tasks", filters={"service": self.service_name})
            failure = task_failure(tasks)
            if failure is not None:
                raise start_failed(StartFailure(failure))
            if await lab_answers(
                url, max(SERVE_POLL_SECONDS, min(ASK_SECONDS, deadline - loop.time()))
            ):
                return
            if loop.time() >= deadline:
                raise start_failed(
                    StartFailure(
                        f"JupyterLab did not answer within {seconds:.0f} s of its task's start "
                        f"on node {self.task_node or '?'}."
                    )
                )
            await asyncio.sleep(SERVE_POLL_SECONDS)

    async def poll(self) -> int | str | None:
        if self.restart_in_progress:
            return None
        try:
            task = await self.get_task()
            if task is None:
                return await super().poll()
            state = str(task["Status"]["State"]).lower()
            waiting_or_ended = _WAITING_STATES | _ENDED_BY_NODE_STATES
            if state in waiting_or_ended and self.swarm_node and self.pin_volumes:
                unavailable = await self.node_unavailable()
                if unavailable:
                    await self.record_node_stop(unavailable)
                    return f"node {self.swarm_node} {unavailable}"
            return await super().poll()
        except requests.exceptions.ConnectionError as error:
            self.log.warning(
                "Swarm manager unreachable while polling %s; keeping its server as running: %s",
                self.service_name,
                error,
            )
            return None

    async def node_unavailable(self) -> str:
        """Why the recorded node takes no labs now ("is drained"), or "" when it takes them."""
        for node in await self.read_nodes():
            if node.hostname == self.swarm_node:
                return node.why_not
        return "is no longer in the swarm"

    async def record_node_stop(self, why_not: str) -> None:
        """Hand the platform why the lab stopped (see `record`)."""
        node = self.swarm_node or ""
        await self.record(
            lambda stops: stops.node_unavailable(self.user.name, self.name, node, why_not)
        )
