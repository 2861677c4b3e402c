"""GpuReadBack for user servers that run as local processes (`STELLARS_SPAWNER=local`).

Such a server has no container to read its GPUs back from; what it was started with is its
process's environment, where the spawn hook named its GPUs (`CUDA_VISIBLE_DEVICES` and
`STELLARS_GPU_SHARING`, see `stellars.domain.gpu_allocation`). JupyterHub's local-process
spawner keeps the process's id (`spawner.pid`, restored from its state after a hub restart),
and Linux shows a process's environment as it was at its start in `/proc/<pid>/environ`.

Servers are matched by the container name the domain computes for them (the port's key), so
the service reads local and Docker servers back the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from pathlib import Path

from stellars.domain.errors import BackendUnavailable
from stellars.domain.gpu_allocation import ContainerGpus, gpus_from_environment
from stellars.domain.volumes import DockerNaming, container_name

from .directory import active_spawners
from .handle import HubHandle


def environment_from_proc(data: bytes) -> dict[str, str]:
    """A `/proc/<pid>/environ` file's contents ("NAME=value" entries ended by NUL bytes) as
    a mapping; entries without "=" are left out."""
    found: dict[str, str] = {}
    for entry in data.split(b"\0"):
        name, equals, value = entry.decode(errors="replace").partition("=")
        if equals and name:
            found[name] = value
    return found


class LocalProcessGpus:
    """The GPUs of the hub's local-process servers, from their processes' environment."""

    def __init__(self, hub: HubHandle, naming: DockerNaming, *, proc: Path = Path("/proc")):
        self._hub = hub
        self.naming = naming
        self._proc = proc

    async def gpu_devices(self, names: Collection[str]) -> dict[str, ContainerGpus]:
        """What each running or pending local server among `names` was started with; servers
        without a process (not started yet, or gone) are left out. Raises
        BackendUnavailable when a process's environment cannot be read."""
        wanted = set(names)
        pids: dict[str, int] = {}
        for user in list(self._hub.app.users.values()):
            for server_name, spawner in active_spawners(user).items():
                pid = getattr(spawner, "pid", 0)
                name = container_name(user.name, self.naming, server_name)
                if isinstance(pid, int) and pid > 0 and name in wanted:
                    pids[name] = pid
        environments = await asyncio.to_thread(self._read, pids)
        return {name: gpus_from_environment(found) for name, found in environments.items()}

    def _read(self, pids: Mapping[str, int]) -> dict[str, dict[str, str]]:
        environments: dict[str, dict[str, str]] = {}
        for name, pid in pids.items():
            try:
                data = (self._proc / str(pid) / "environ").read_bytes()
            except (FileNotFoundError, ProcessLookupError):
                continue  # the process has ended: it holds nothing
            except OSError as error:
                raise BackendUnavailable(
                    f"cannot read the environment of the process of {name} (pid {pid}): {error}"
                ) from error
            environments[name] = environment_from_proc(data)
        return environments
