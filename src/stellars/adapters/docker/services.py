"""Lifecycle actions on labs that are Swarm services (STELLARS_SPAWNER=swarm), through the
manager's engine: the ContainerControl port, by the same names (a lab's service is named as its
container would be).

- **restart**: a forced service update (`docker service update --force`): the swarm replaces
  the lab's task with a new one of the same spec, on the same node (the placement constraint
  stays), with the same volumes. The call returns once the new task runs; the platform then
  waits until the lab answers, as for a container.
- **is_running**: the service has a task that runs and should.
- **docker access**: a service has no privileged mode; the socket counts when the service
  mounts it.
- **GPUs**: the swarm gives swarm labs their nodes' GPUs (generic resources, reserved by the
  spawner, `plugin.swarm_spawner`); the hub holds none of them, so there is nothing to read
  back into its holdings.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from typing import Any

import docker.errors

from stellars.domain.docker_access import DockerAccess
from stellars.domain.errors import BackendUnavailable, ContainerNotFound
from stellars.domain.gpu_allocation import ContainerGpus

from .engine import DockerEngine

#: Seconds between two looks at a restarting service's tasks.
_POLL_SECONDS = 0.5


def running_task(tasks: Collection[Mapping[str, Any]], force: int | None = None) -> bool:
    """Whether one of a service's tasks runs and should (of the spec with `ForceUpdate` ==
    `force`, when given)."""
    return any(
        task.get("DesiredState") == "running"
        and (task.get("Status") or {}).get("State") == "running"
        and (force is None or (task.get("Spec") or {}).get("ForceUpdate", 0) == force)
        for task in tasks
    )


def service_docker_access(service: Mapping[str, Any], socket_path: str) -> DockerAccess:
    """The Docker access a lab service was created with: whether it mounts `socket_path`."""
    spec = ((service.get("Spec") or {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}
    mounts = spec.get("Mounts") or []
    return DockerAccess(
        mount_socket=any(mount.get("Source") == socket_path for mount in mounts),
        privileged=False,
    )


class SwarmServiceControl:
    """Restarts lab services and tells whether they run (the ContainerControl port)."""

    def __init__(self, engine: DockerEngine) -> None:
        self._engine = engine

    def _service(self, name: str) -> Mapping[str, Any]:
        try:
            found = self._engine.api.inspect_service(name)
        except docker.errors.NotFound:
            raise ContainerNotFound(f"No service named {name!r}") from None
        if (found.get("Spec") or {}).get("Name") != name:
            raise ContainerNotFound(f"No service named {name!r}")
        return found

    def _tasks(self, name: str) -> list[Mapping[str, Any]]:
        return list(self._engine.api.tasks(filters={"service": name}))

    async def restart(self, name: str, *, timeout_seconds: int = 10) -> None:
        """A forced update of the service; returns once a task of the new spec runs (within the
        engine's deadline plus `timeout_seconds`). Raises ContainerNotFound,
        BackendUnavailable."""
        deadline_seconds = self._engine.timeout_seconds + timeout_seconds

        def restart() -> None:
            service = self._service(name)
            template = dict(service["Spec"]["TaskTemplate"])
            force = int(template.get("ForceUpdate", 0)) + 1
            template["ForceUpdate"] = force
            try:
                self._engine.api.update_service(
                    service["ID"],
                    service["Version"]["Index"],
                    task_template=template,
                    fetch_current_spec=True,
                )
            except docker.errors.NotFound:
                raise ContainerNotFound(f"No service named {name!r}") from None
            deadline = time.monotonic() + deadline_seconds
            while not running_task(self._tasks(name), force):
                if time.monotonic() > deadline:
                    raise BackendUnavailable(
                        f"the restarted service {name!r} has no running task after "
                        f"{deadline_seconds:.0f} s"
                    )
                time.sleep(_POLL_SECONDS)

        await self._engine.run(
            restart, what=f"restart of {name!r}", timeout_seconds=deadline_seconds + 5
        )

    async def is_running(self, name: str) -> bool:
        """Whether the service exists and has a running task. Raises BackendUnavailable."""

        def running() -> bool:
            try:
                self._service(name)
            except ContainerNotFound:
                return False
            return running_task(self._tasks(name))

        return await self._engine.run(running, what=f"inspection of {name!r}")

    async def docker_access(self, name: str, *, socket_path: str) -> DockerAccess:
        """Whether the service mounts the socket (services run unprivileged). Raises
        ContainerNotFound, BackendUnavailable."""
        service = await self._engine.run(
            lambda: self._service(name), what=f"inspection of {name!r}"
        )
        return service_docker_access(service, socket_path)

    async def gpu_devices(self, names: Collection[str]) -> dict[str, ContainerGpus]:
        """None: the swarm, not the hub, holds swarm labs' GPUs (see the module's docstring)."""
        return {}
