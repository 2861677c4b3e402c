from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace

from stellars.domain.containers import ContainerReading, ContainerUsage
from stellars.domain.docker_access import DockerAccess
from stellars.domain.errors import ContainerNotFound
from stellars.domain.gpu_allocation import ContainerGpus

NO_ACCESS = DockerAccess(mount_socket=False, privileged=False)


class InMemoryContainers:
    """Containers by name with their usage and the Docker access and GPUs each was created
    with; restarts are counted. Serves both container ports."""

    def __init__(self) -> None:
        self.running: dict[str, ContainerUsage] = {}
        self.stopped: set[str] = set()
        self.restarts: dict[str, int] = {}
        self.access: dict[str, DockerAccess] = {}
        self.gpus: dict[str, ContainerGpus] = {}
        #: The cumulative counters of each container, advanced by one second of the host's
        #: time (on one CPU) at each reading, by the container's CPU share of its usage.
        self.counters: dict[str, ContainerReading] = {}

    def start(
        self,
        name: str,
        usage: ContainerUsage | None = None,
        *,
        access: DockerAccess | None = None,
        gpus: ContainerGpus | None = None,
    ) -> None:
        """Start a container; `access` and `gpus` create it anew with them (a restart, or a
        start without them, keeps what it has: none for a new one)."""
        self.stopped.discard(name)
        self.running[name] = usage or ContainerUsage(
            cpu_percent=0.0, memory_bytes=0, memory_limit_bytes=0
        )
        if access is not None:
            self.access[name] = access
        self.access.setdefault(name, NO_ACCESS)
        if gpus is not None:
            self.gpus[name] = gpus
        self.gpus.setdefault(name, ContainerGpus())

    def remove(self, name: str) -> None:
        """The container is gone (its server stopped, or removed by hand)."""
        self.running.pop(name, None)
        self.stopped.discard(name)
        self.access.pop(name, None)
        self.gpus.pop(name, None)
        self.counters.pop(name, None)

    def stop(self, name: str) -> None:
        if self.running.pop(name, None) is not None:
            self.stopped.add(name)

    async def restart(self, name: str, *, timeout_seconds: int = 10) -> None:
        if name not in self.running and name not in self.stopped:
            raise ContainerNotFound(f"No container named {name!r}")
        self.restarts[name] = self.restarts.get(name, 0) + 1
        self.start(name, self.running.get(name))

    async def is_running(self, name: str) -> bool:
        return name in self.running

    async def docker_access(self, name: str, *, socket_path: str) -> DockerAccess:
        if name not in self.running and name not in self.stopped:
            raise ContainerNotFound(f"No container named {name!r}")
        return self.access[name]

    async def gpu_devices(self, names: Collection[str]) -> Mapping[str, ContainerGpus]:
        return {
            name: self.gpus[name] for name in names if name in self.running or name in self.stopped
        }

    async def usage(self, names: Collection[str]) -> Mapping[str, ContainerUsage]:
        return {name: self.running[name] for name in names if name in self.running}

    async def readings(self, names: Collection[str]) -> Mapping[str, ContainerReading]:
        found: dict[str, ContainerReading] = {}
        for name in names:
            if name not in self.running:
                continue
            usage = self.running[name]
            before = self.counters.get(name) or ContainerReading(
                cpu_total_ns=0,
                system_cpu_ns=0,
                online_cpus=1,
                memory_usage_bytes=usage.memory_bytes,
                memory_limit_bytes=usage.memory_limit_bytes,
            )
            second = 1_000_000_000
            found[name] = self.counters[name] = replace(
                before,
                cpu_total_ns=before.cpu_total_ns + round(second * usage.cpu_percent / 100),
                system_cpu_ns=before.system_cpu_ns + second,
            )
        return found
