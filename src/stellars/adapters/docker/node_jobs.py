"""Volume removal on one node of a swarm (STELLARS_SPAWNER=swarm), with no SSH and no agent of
our own: a one-off Swarm job, created through the manager's engine.

A named volume lives on one node's engine, which only that node's engine can remove. The hub
reaches only the manager, so it asks the swarm to run, once, on that node, a task of the
project's own image that mounts the node's Docker socket and runs
`python -m stellars.entrypoints.volume_job remove NAME...`: the task removes each volume
through its node's engine and prints one JSON line of outcomes (`outcomes_line`), which the hub
reads back from the job's logs (`parse_outcomes`).

- **the job**: a `replicated-job` service (engine API 1.41, Docker 20.10 and later) of one
  completion, pinned by `node.hostname == NODE`, restart condition none (a failed removal is
  reported, never retried behind the caller's back), labelled `stellars.volume-job` with the
  node's name.
- **a lab just stopped**: its service is gone, but the node's engine stops and removes its
  container a few seconds later, and until then its volumes are in use; the job tries a volume
  in use again for up to `in_use_wait_seconds` (20 s) before it says "in use".
- **waiting**: off the event loop, polling the job's task until it completes, fails or is
  rejected, for at most `timeout_seconds` (a node that is down or drained never runs it).
- **always removed**: the job's service is removed whatever happened, so no job outlives its
  call.
- **errors**: a job that fails, is rejected, times out or prints no outcome line is
  BackendUnavailable naming the node (the web layer answers 503), never a 500.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import docker.errors
from docker.types import (
    ContainerSpec,
    Mount,
    Placement,
    RestartPolicy,
    ServiceMode,
    TaskTemplate,
)

from stellars.domain.errors import BackendUnavailable
from stellars.domain.volumes import VolumeOutcome

from .engine import DockerEngine, describe

#: The label on every volume job's service (its value: the node the job runs on).
JOB_LABEL = "stellars.volume-job"
#: The module the job runs (`python -m`), with its one command.
JOB_MODULE = "stellars.entrypoints.volume_job"
JOB_COMMAND = "remove"
#: The key of the outcome line the job prints.
OUTCOMES_KEY = "volume_outcomes"
#: Where the node's Docker socket is, on the node and in the job's container.
NODE_SOCKET = "/var/run/docker.sock"
#: Task states after which a job's task does nothing more (Swarm's own names).
_DONE_STATES = frozenset({"complete", "failed", "rejected", "shutdown", "orphaned", "remove"})
#: Seconds between two looks at a job's task.
_POLL_SECONDS = 0.5


def outcomes_line(outcomes: Mapping[str, VolumeOutcome]) -> str:
    """The one JSON line a volume job prints: each volume's outcome, by name."""
    return json.dumps(
        {OUTCOMES_KEY: {name: outcome.value for name, outcome in outcomes.items()}},
        sort_keys=True,
    )


def parse_outcomes(logs: str, names: Sequence[str], node: str) -> dict[str, VolumeOutcome]:
    """The outcome of each of `names` from a job's logs: the last line that is an outcome line
    (whatever else the job printed). Raises BackendUnavailable naming `node` when there is no
    such line, or it leaves out one of `names` or holds an outcome that is not one."""
    for line in reversed(logs.splitlines()):
        try:
            found = json.loads(line.strip())
        except ValueError:
            continue
        if not isinstance(found, dict) or not isinstance(found.get(OUTCOMES_KEY), dict):
            continue
        reported: dict[str, Any] = found[OUTCOMES_KEY]
        outcomes = {}
        for name in names:
            try:
                outcomes[name] = VolumeOutcome(reported.get(name))
            except ValueError:
                raise BackendUnavailable(
                    f"the volume job on node {node} gave no outcome for volume {name!r}"
                ) from None
        return outcomes
    shown = logs.strip().splitlines()[-1:] or ["nothing"]
    raise BackendUnavailable(f"the volume job on node {node} printed no outcomes: {shown[0][:200]}")


def job_task_template(
    image: str, node: str, names: Sequence[str], *, in_use_wait_seconds: float = 0
) -> TaskTemplate:
    """The job's one task: the image's Python running the volume job on `node`, as root (the
    node's Docker socket is root's), with the node's socket mounted; a volume in use is tried
    again for up to `in_use_wait_seconds`."""
    wait = ["--in-use-wait-seconds", f"{in_use_wait_seconds:g}"]
    container = ContainerSpec(
        image,
        command=["python", "-m", JOB_MODULE, JOB_COMMAND, *wait, "--", *names],
        user="0",
        mounts=[Mount(NODE_SOCKET, NODE_SOCKET, type="bind")],
    )
    return TaskTemplate(
        container,
        restart_policy=RestartPolicy(condition="none"),
        placement=Placement(constraints=[f"node.hostname=={node}"]),
    )


def job_state(tasks: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """The state of a job's task and the engine's message about it ("" when none); ("new", "")
    before the swarm made the task."""
    if not tasks:
        return "new", ""
    status = tasks[0].get("Status") or {}
    return str(status.get("State") or "new"), str(status.get("Err") or status.get("Message") or "")


class SwarmVolumeJobs:
    """Removes volumes on a chosen node of the swarm by one-off jobs (see the module's
    docstring), through the manager's engine."""

    def __init__(
        self,
        engine: DockerEngine,
        *,
        image: str,
        timeout_seconds: float = 120.0,
        in_use_wait_seconds: float = 20.0,
        name_prefix: str = "stellars-volume-job",
    ) -> None:
        self._engine = engine
        self.image = image
        self.timeout_seconds = timeout_seconds
        self.in_use_wait_seconds = in_use_wait_seconds
        self._name_prefix = name_prefix

    async def remove(self, node: str, names: Collection[str]) -> dict[str, VolumeOutcome]:
        """Remove each of `names` on `node`; removed / not found / in use per name. Raises
        BackendUnavailable naming the node when the job cannot run or finish."""
        unique = list(dict.fromkeys(names))
        if not unique:
            return {}
        return await self._engine.run(
            lambda: self._run_job(node, unique),
            what=f"a volume job on node {node}",
            timeout_seconds=self.timeout_seconds + self._engine.timeout_seconds + 5,
        )

    async def ready_nodes(self) -> list[str]:
        """The hostnames of the nodes that run tasks now (Ready and active), sorted: a job
        placed on any other would wait until it times out."""
        nodes = await self._engine.run(lambda: self._engine.api.nodes(), what="the node list")
        return sorted(
            str(node["Description"]["Hostname"])
            for node in nodes
            if (node.get("Status") or {}).get("State") == "ready"
            and (node.get("Spec") or {}).get("Availability") == "active"
        )

    def _run_job(self, node: str, names: list[str]) -> dict[str, VolumeOutcome]:
        api = self._engine.api
        name = f"{self._name_prefix}-{uuid.uuid4().hex[:12]}"
        try:
            created = api.create_service(
                job_task_template(
                    self.image, node, names, in_use_wait_seconds=self.in_use_wait_seconds
                ),
                name=name,
                labels={JOB_LABEL: node},
                mode=ServiceMode("replicated-job", replicas=1),
            )
        except docker.errors.APIError as error:
            raise BackendUnavailable(
                f"the volume job on node {node} could not be created: {describe(error)}"
            ) from error
        service_id = str(created["ID"])
        try:
            state, message = self._wait(service_id, node)
            logs = self._logs(service_id)
            if state != "complete":
                shown = message or (logs.strip().splitlines() or ["no output"])[-1][:200]
                raise BackendUnavailable(f"the volume job on node {node} {state}: {shown}")
            return parse_outcomes(logs, names, node)
        finally:
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_service(service_id)

    def _wait(self, service_id: str, node: str) -> tuple[str, str]:
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            tasks = self._engine.api.tasks(filters={"service": service_id})
            state, message = job_state(tasks)
            if state in _DONE_STATES:
                return state, message
            if time.monotonic() > deadline:
                why = f" ({message})" if message else ""
                raise BackendUnavailable(
                    f"the volume job on node {node} did not finish within "
                    f"{self.timeout_seconds:g} s: its task is {state}{why}"
                )
            time.sleep(_POLL_SECONDS)

    def _logs(self, service_id: str) -> str:
        try:
            raw = self._engine.api.service_logs(service_id, stdout=True, stderr=True)
        except docker.errors.APIError:
            return ""
        if isinstance(raw, bytes):
            return raw.decode("utf-8", "replace")
        return b"".join(raw).decode("utf-8", "replace")
