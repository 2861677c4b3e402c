from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol

from stellars.domain.containers import ContainerReading, ContainerUsage
from stellars.domain.docker_access import DockerAccess
from stellars.domain.gpu_allocation import ContainerGpus


class GpuReadBack(Protocol):
    """The GPUs user servers were started with, read back from the servers themselves (their
    containers; for servers that run as local processes, their environment), by the container
    name the domain computes for each server."""

    async def gpu_devices(self, names: Collection[str]) -> Mapping[str, ContainerGpus]:
        """What each server among `names` that exists (running or not) was started with;
        absent ones are left out. Raises BackendUnavailable."""
        ...


class ContainerControl(GpuReadBack, Protocol):
    """Lifecycle actions on user containers, by name, and the GPUs each was created with (its
    device requests)."""

    async def restart(self, name: str, *, timeout_seconds: int = 10) -> None:
        """Restart in place (same container, volumes and settings).
        Raises ContainerNotFound, BackendUnavailable."""
        ...

    async def is_running(self, name: str) -> bool:
        """Whether a container of that name exists and runs. Raises BackendUnavailable."""
        ...

    async def docker_access(self, name: str, *, socket_path: str) -> DockerAccess:
        """The Docker access the container was created with, which a restart in place keeps:
        whether it mounts the host's Docker socket (`socket_path`) and whether it runs
        privileged. Raises ContainerNotFound, BackendUnavailable."""
        ...


class ContainerStats(Protocol):
    """Resource usage of running containers."""

    async def usage(self, names: Collection[str]) -> Mapping[str, ContainerUsage]:
        """Usage of each running container among `names`; absent ones are left out.
        Raises BackendUnavailable."""
        ...

    async def readings(self, names: Collection[str]) -> Mapping[str, ContainerReading]:
        """One reading of the cumulative counters of each running container among `names`
        (its CPU time and the host's, which only grow while it runs); absent ones are left
        out. Raises BackendUnavailable."""
        ...
