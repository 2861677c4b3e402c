"""ContainerControl and ContainerStats on the Docker engine.

Containers are addressed by the names the domain computes (DockerSpawner's naming, see
`stellars.domain.volumes.container_name`). The engine also resolves a name as an ID prefix, so
every lookup checks that the container found really carries that name.

The GPUs a container was created with are its device requests (`HostConfig.DeviceRequests`,
as the spawn hook writes them: the nvidia driver, the gpu capability, the GPUs by UUID in
`DeviceIDs`, or `Count` -1 for every GPU) and the sharing its environment records.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import docker.errors
from docker.utils import version_gte

from stellars.domain.containers import ContainerReading, ContainerUsage, usage_between
from stellars.domain.docker_access import DockerAccess
from stellars.domain.errors import ContainerNotFound
from stellars.domain.gpu_allocation import ContainerGpus, sharing_from_environment

from .engine import DockerEngine

ReadingPair = tuple[ContainerReading | None, ContainerReading]


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _reading(cpu: Mapping[str, Any], memory: Mapping[str, Any]) -> ContainerReading | None:
    """One reading from a `cpu_stats` (or `precpu_stats`) block and the `memory_stats` block."""
    system = _int(cpu.get("system_cpu_usage"))
    if system <= 0:
        return None  # an unset block: a one-shot answer's precpu, or a stopped container
    usage = cpu.get("cpu_usage") or {}
    online = _int(cpu.get("online_cpus")) or len(usage.get("percpu_usage") or ()) or 1
    counters = memory.get("stats") or {}
    # cgroup v1 reports the hierarchy total as total_inactive_file; cgroup v2 has inactive_file.
    inactive_key = "total_inactive_file" if "total_inactive_file" in counters else "inactive_file"
    return ContainerReading(
        cpu_total_ns=_int(usage.get("total_usage")),
        system_cpu_ns=system,
        online_cpus=online,
        memory_usage_bytes=_int(memory.get("usage")),
        memory_limit_bytes=_int(memory.get("limit")),
        memory_inactive_file_bytes=_int(counters.get(inactive_key)),
    )


def readings_from_stats(stats: Mapping[str, Any]) -> ReadingPair | None:
    """The (earlier, later) readings in one `GET /containers/{id}/stats?stream=false` answer.

    The earlier one (`precpu_stats`) is None when the engine left it empty (one-shot answers);
    the whole answer is None when the container is not running (no counters, no memory).
    """
    memory = stats.get("memory_stats") or {}
    if not memory.get("usage"):
        return None
    later = _reading(stats.get("cpu_stats") or {}, memory)
    if later is None:
        return None
    return _reading(stats.get("precpu_stats") or {}, memory), later


def running_names(listing: Collection[Mapping[str, Any]]) -> dict[str, str]:
    """name -> id of the running containers in a `GET /containers/json` answer."""
    found: dict[str, str] = {}
    for entry in listing:
        for name in entry.get("Names") or ():
            # "/name" is the container's own name; "/other/alias" is a legacy link alias.
            if isinstance(name, str) and name.count("/") == 1:
                found[name[1:]] = entry["Id"]
    return found


def docker_access_of(attrs: Mapping[str, Any], socket_path: str) -> DockerAccess:
    """The Docker access in a `docker inspect` answer: the socket counts as mounted when a bind
    mount has `socket_path` as its source or its target (the spawner binds it to itself), as
    the engine lists mounts (`Mounts`) or as it was asked for them (`HostConfig.Binds`,
    "source:target[:options]"); privileged is `HostConfig.Privileged`."""
    host = attrs.get("HostConfig") or {}
    ends: list[object] = []
    for mount in attrs.get("Mounts") or ():
        if mount.get("Type") == "bind":
            ends += [mount.get("Source"), mount.get("Destination")]
    for bind in host.get("Binds") or ():
        if isinstance(bind, str):
            ends += bind.split(":")[:2]
    return DockerAccess(
        mount_socket=socket_path in ends,
        privileged=host.get("Privileged") is True,
    )


def _asks_for_gpus(request: Mapping[str, Any]) -> bool:
    """Whether a device request is for GPUs: the nvidia driver, or the gpu capability (the
    driver may be left empty for the engine to choose by capability)."""
    capabilities = request.get("Capabilities") or ()
    wanted = {item for group in capabilities if isinstance(group, list) for item in group}
    return request.get("Driver") == "nvidia" or "gpu" in wanted


def environment_of(attrs: Mapping[str, Any]) -> dict[str, str]:
    """A `docker inspect` answer's environment (`Config.Env`, "NAME=value"), as a mapping."""
    found: dict[str, str] = {}
    for entry in (attrs.get("Config") or {}).get("Env") or ():
        if isinstance(entry, str) and "=" in entry:
            name, value = entry.split("=", 1)
            found[name] = value
    return found


def gpus_of(attrs: Mapping[str, Any]) -> ContainerGpus:
    """The GPUs in a `docker inspect` answer: the device ids of its GPU device requests, in
    order and without repeats, or every GPU for a request of `Count` -1; the sharing from its
    environment."""
    devices: list[str] = []
    every_gpu = False
    for request in (attrs.get("HostConfig") or {}).get("DeviceRequests") or ():
        if not isinstance(request, Mapping) or not _asks_for_gpus(request):
            continue
        every_gpu = every_gpu or request.get("Count") == -1
        for device in request.get("DeviceIDs") or ():
            if isinstance(device, str) and device not in devices:
                devices.append(device)
    return ContainerGpus(
        devices=tuple(devices),
        every_gpu=every_gpu,
        sharing=sharing_from_environment(environment_of(attrs)),
    )


class DockerContainerControl:
    """Restarts containers, tells whether they run and with which Docker access and GPUs (the
    ContainerControl port). At most `max_parallel` inspections run at a time."""

    def __init__(self, engine: DockerEngine, *, max_parallel: int = 8) -> None:
        if max_parallel < 1:
            raise ValueError("max_parallel must be at least 1")
        self._engine = engine
        self._max_parallel = max_parallel

    def _inspect(self, name: str) -> Mapping[str, Any]:
        try:
            found = self._engine.api.inspect_container(name)
        except docker.errors.NotFound:
            raise ContainerNotFound(f"No container named {name!r}") from None
        if found.get("Name") != f"/{name}":
            raise ContainerNotFound(f"No container named {name!r}")
        return found

    async def restart(self, name: str, *, timeout_seconds: int = 10) -> None:
        """Restart in place, giving the processes `timeout_seconds` to stop before a kill.
        Raises ContainerNotFound, BackendUnavailable."""

        def restart() -> None:
            container_id = self._inspect(name)["Id"]
            try:
                self._engine.api.restart(container_id, timeout=timeout_seconds)
            except docker.errors.NotFound:
                raise ContainerNotFound(f"No container named {name!r}") from None

        await self._engine.run(
            restart,
            what=f"restart of {name!r}",
            timeout_seconds=self._engine.timeout_seconds + timeout_seconds,
        )

    async def is_running(self, name: str) -> bool:
        """Whether a container of that exact name exists and runs. Raises BackendUnavailable."""

        def running() -> bool:
            try:
                return bool(self._inspect(name).get("State", {}).get("Running"))
            except ContainerNotFound:
                return False

        return await self._engine.run(running, what=f"inspection of {name!r}")

    async def docker_access(self, name: str, *, socket_path: str) -> DockerAccess:
        """The socket mount and privileged flag the container was created with (see
        `docker_access_of`). Raises ContainerNotFound, BackendUnavailable."""
        attrs = await self._engine.run(lambda: self._inspect(name), what=f"inspection of {name!r}")
        return docker_access_of(attrs, socket_path)

    async def gpu_devices(self, names: Collection[str]) -> dict[str, ContainerGpus]:
        """The GPUs each existing container among `names` (running or not) was created with
        (see `gpus_of`); one listing of the engine's containers, then an inspection of each
        one found. Raises BackendUnavailable."""
        wanted = set(names)
        if not wanted:
            return {}
        listing = await self._engine.run(
            lambda: self._engine.api.containers(all=True), what="the container list"
        )
        # The listing has every container (all=True), stopped ones too.
        present = sorted(name for name in running_names(listing) if name in wanted)
        limit = asyncio.Semaphore(self._max_parallel)

        def inspect(name: str) -> Mapping[str, Any] | None:
            try:
                return self._inspect(name)
            except ContainerNotFound:
                return None  # removed since the listing

        async def read(name: str) -> Mapping[str, Any] | None:
            async with limit:
                return await self._engine.run(lambda: inspect(name), what=f"inspection of {name!r}")

        answers = await asyncio.gather(*(read(name) for name in present))
        return {
            name: gpus_of(attrs)
            for name, attrs in zip(present, answers, strict=True)
            if attrs is not None
        }


class DockerContainerStats:
    """CPU and memory of running containers (the ContainerStats port), `docker stats` style.

    CPU needs two readings. The first time a container is measured, one full stats request
    brings two (the engine's previous sample and a new one; about 1-2 s on dockerd 20.10). After
    that the adapter keeps each container's latest reading for `reading_memo_seconds` and asks
    the engine for a single one-shot reading (about 1 s), measuring CPU over the time since the
    previous call; a refresher calling every N seconds thus shows the average over those N
    seconds. At most `max_parallel` requests run at a time.
    """

    def __init__(
        self,
        engine: DockerEngine,
        *,
        max_parallel: int = 8,
        reading_memo_seconds: float = 120.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_parallel < 1:
            raise ValueError("max_parallel must be at least 1")
        self._engine = engine
        self._max_parallel = max_parallel
        self._memo_seconds = reading_memo_seconds
        self._monotonic = monotonic
        # container id -> (when, latest reading); ids stay the same across restarts, and the
        # domain reports 0 % for counters that went backwards.
        self._previous: dict[str, tuple[float, ContainerReading]] = {}

    async def usage(self, names: Collection[str]) -> dict[str, ContainerUsage]:
        """Usage of each running container among `names`; others are left out.
        Raises BackendUnavailable."""
        wanted = set(names)
        if not wanted:
            return {}
        running = await self._engine.run(self._running, what="the container list")
        targets = {name: running[name] for name in sorted(wanted) if name in running}
        limit = asyncio.Semaphore(self._max_parallel)

        async def measure(container_id: str) -> ContainerUsage | None:
            async with limit:
                return await self._usage_of(container_id)

        measured = await asyncio.gather(*(measure(cid) for cid in targets.values()))
        # Forget readings of containers that no longer run, so the memo stays small.
        live = set(running.values())
        for container_id in [cid for cid in self._previous if cid not in live]:
            del self._previous[container_id]
        return {
            name: usage for name, usage in zip(targets, measured, strict=True) if usage is not None
        }

    async def readings(self, names: Collection[str]) -> dict[str, ContainerReading]:
        """One one-shot reading of the cumulative counters of each running container among
        `names`; others are left out. Raises BackendUnavailable."""
        wanted = set(names)
        if not wanted:
            return {}
        running = await self._engine.run(self._running, what="the container list")
        targets = {name: running[name] for name in sorted(wanted) if name in running}
        limit = asyncio.Semaphore(self._max_parallel)

        async def read(container_id: str) -> ContainerReading | None:
            async with limit:
                pair = await self._read(container_id, one_shot=True)
            return None if pair is None else pair[1]

        found = await asyncio.gather(*(read(cid) for cid in targets.values()))
        return {
            name: reading
            for name, reading in zip(targets, found, strict=True)
            if reading is not None
        }

    def _running(self) -> dict[str, str]:
        return running_names(self._engine.api.containers(filters={"status": "running"}))

    def _remembered(self, container_id: str) -> ContainerReading | None:
        memo = self._previous.get(container_id)
        if memo is None or self._monotonic() - memo[0] > self._memo_seconds:
            return None
        return memo[1]

    async def _usage_of(self, container_id: str) -> ContainerUsage | None:
        remembered = self._remembered(container_id)
        pair = await self._read(container_id, one_shot=remembered is not None)
        if pair is None:
            return None
        earlier, later = pair
        earlier = earlier or remembered
        if earlier is None:  # an engine that left the previous sample empty: read once more
            second = await self._read(container_id, one_shot=False)
            if second is None:
                return None
            earlier, later = later, second[1]
        self._previous[container_id] = (self._monotonic(), later)
        return usage_between(earlier, later)

    async def _read(self, container_id: str, *, one_shot: bool) -> ReadingPair | None:
        def stats() -> Mapping[str, Any] | None:
            api = self._engine.api
            # one-shot needs API 1.41 (dockerd 20.10); older engines always send two samples.
            use_one_shot = one_shot and version_gte(api.api_version, "1.41")
            options = {"one_shot": True} if use_one_shot else {}
            try:
                return api.stats(container_id, stream=False, **options)
            except docker.errors.NotFound:
                return None  # removed since the listing

        answer = await self._engine.run(stats, what=f"stats of {container_id[:12]}")
        return None if answer is None else readings_from_stats(answer)
