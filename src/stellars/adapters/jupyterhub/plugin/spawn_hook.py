"""The pre-spawn hook: DockerSpawner's settings for one spawn, computed whole from the current
state (group membership, the GPU decision, branding), never appended to.

JupyterHub keeps one Spawner object per server for the hub's lifetime and reuses it for every
start, so a hook that only adds a mount or a flag would keep it after the user left the group.
This hook starts from the configured base values on every spawn and sets the whole `volumes`,
`extra_host_config`, `environment` and limits of the spawner. Docker's wire formats (the device
request for all GPUs, bind-mount dicts, the privileged flag, the limits' host config keys) live
here, not in the domain.

Every Docker spawn gets the lab limits (`stellars.domain.limits`; a limit of None is no limit):
DockerSpawner's `mem_limit` (the engine's `HostConfig.Memory`) with `memswap_limit` equal to it
(`MemorySwap`: swap off, so the memory limit is all a lab gets), `cpu_limit` (DockerSpawner
writes it as `CpuQuota` over a `CpuPeriod` of 100 ms) and `pids_limit` (`PidsLimit`).

The volume every user shares is mounted as `STELLARS_SHARED_VOLUME` says (read-only by default,
`{"bind": path, "mode": "ro"}`), or left out when it is off: every lab runs as the same uid, so
a writable share lets any user change or delete another's files.

Before a Docker spawn it also provisions the user's volumes for their owner (a spawn that would
mount another account's volumes is refused, see `stellars.domain.volume_ownership`), and it
keeps the lab's favicon route when a favicon is configured.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tornado import web

from stellars.domain.docker_access import DockerAccess, DockerAccessGroups, docker_access_for
from stellars.domain.errors import BackendUnavailable, InvalidValue, Refused
from stellars.domain.gpu import GpuDecision
from stellars.domain.limits import LabLimits
from stellars.domain.services import FaviconRoutes, GpuService, VolumeService
from stellars.domain.settings import SharedVolumeMode

log = logging.getLogger(__name__)

#: docker-py's DeviceRequest(count=-1, capabilities=[["gpu"]]) as the Engine API writes it.
ALL_GPUS_REQUEST: Mapping[str, object] = MappingProxyType(
    {"Driver": "nvidia", "Count": -1, "Capabilities": [["gpu"]]}
)

#: The host config every spawn starts from unless configured otherwise: the engine never removes
#: a container by itself. DockerSpawner (`remove = True`) removes it when the server stops, and
#: at the next start if it was left; with the engine's auto-remove, dockerd before 23.0 removes a
#: container whose restart is under way (its exit handler reads the flag that the restart had
#: cleared and restored meanwhile), so a restart in place could delete the user's container.
ENGINE_KEEPS_CONTAINERS: Mapping[str, object] = MappingProxyType({"auto_remove": False})


#: The host config keys the limits own (docker-py's `create_host_config` arguments): set from
#: the limits at every spawn, or removed when a limit is none.
LIMIT_HOST_CONFIG_KEYS = ("memswap_limit", "pids_limit")


@dataclass(frozen=True, slots=True)
class SpawnSettings:
    """What one spawn of a DockerSpawner gets; `mem_limit` (bytes) and `cpu_limit` (cores) are
    DockerSpawner's own traits, None for no limit."""

    volumes: dict[str, Any]
    extra_host_config: dict[str, Any]
    environment: dict[str, str]
    mem_limit: int | None = None
    cpu_limit: float | None = None


#: DockerSpawner's mount mode of the shared volume, per setting (off: not mounted at all).
SHARED_MOUNT_MODES: Mapping[SharedVolumeMode, str] = MappingProxyType(
    {SharedVolumeMode.READ_ONLY: "ro", SharedVolumeMode.READ_WRITE: "rw"}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpawnBase:
    """The configured values every spawn starts from (see ENGINE_KEEPS_CONTAINERS for the
    default host config).

    `shared_volume` names the entry of `volumes` that every user shares, mounted as
    `shared_mode` says (read-only unless configured otherwise); None: no such entry.
    """

    volumes: Mapping[str, Any] = field(default_factory=dict)
    extra_host_config: Mapping[str, Any] = field(
        default_factory=lambda: dict(ENGINE_KEEPS_CONTAINERS)
    )
    environment: Mapping[str, str] = field(default_factory=dict)
    shared_volume: str | None = None
    shared_mode: SharedVolumeMode = SharedVolumeMode.READ_ONLY

    def __post_init__(self) -> None:
        if self.shared_volume is not None and self.shared_volume not in self.volumes:
            raise InvalidValue(
                "shared_volume", f"{self.shared_volume!r} is not one of the configured volumes"
            )


def with_shared_mode(
    volumes: Mapping[str, Any], shared: str | None, mode: SharedVolumeMode
) -> dict[str, Any]:
    """DockerSpawner's volumes with the shared entry mounted in `mode` ("ro" or "rw"), or left
    out when the mode is off; the other entries as they are, in their order."""
    result: dict[str, Any] = {}
    for name, spec in volumes.items():
        if name != shared:
            result[name] = spec
        elif mode is not SharedVolumeMode.OFF:
            mount_point = spec["bind"] if isinstance(spec, Mapping) else spec
            result[name] = {"bind": mount_point, "mode": SHARED_MOUNT_MODES[mode]}
    return result


def spawn_settings(
    base: SpawnBase,
    *,
    access: DockerAccess,
    groups: DockerAccessGroups,
    gpu: GpuDecision,
    limits: LabLimits,
    lab_environment: Mapping[str, str] = MappingProxyType({}),
) -> SpawnSettings:
    """The whole volumes, host config, environment and limits of one spawn, from the base
    values."""
    volumes = with_shared_mode(base.volumes, base.shared_volume, base.shared_mode)
    host_config = dict(base.extra_host_config)
    volumes.pop(groups.socket_path, None)
    host_config.pop("privileged", None)
    host_config.pop("device_requests", None)
    for key in LIMIT_HOST_CONFIG_KEYS:
        host_config.pop(key, None)
    if limits.memory_limit is not None:
        host_config["memswap_limit"] = limits.memory_limit  # memory + swap = memory: no swap
    if limits.pids_limit is not None:
        host_config["pids_limit"] = limits.pids_limit
    if access.mount_socket:
        volumes[groups.socket_path] = {"bind": groups.socket_path, "mode": "rw"}
    if access.privileged:
        host_config["privileged"] = True
    if gpu.enabled:
        host_config["device_requests"] = [dict(ALL_GPUS_REQUEST)]
    environment = {**base.environment, **gpu.environment, **lab_environment}
    return SpawnSettings(volumes, host_config, environment, limits.memory_limit, limits.cpu_limit)


def spawn_refusal(reason: str) -> web.HTTPError:
    """A refused spawn as JupyterHub relays it: 409 with `reason` as the message the user sees
    on the spawn page and in the API answer (`jupyterhub_message`), logged without a
    traceback."""
    error = web.HTTPError(409, reason)
    error.jupyterhub_message = reason  # type: ignore[attr-defined]
    return error


def group_names(spawner: Any) -> Iterable[str]:
    return [group.name for group in spawner.user.groups]


class PreSpawnHook:
    """Applies `spawn_settings` to every spawn; the composition root hands JupyterHub a plain
    function that awaits it (`c.Spawner.pre_spawn_hook`: traitlets deep-copies config values,
    and a function is copied as itself, so the hook keeps the live GPU decision).

    Spawners without Docker settings (the local-process fallback) only get the environment:
    a local process runs without limits. `limits` are what every lab gets (`limits_for` is
    where per-user limits come in).
    """

    def __init__(
        self,
        *,
        base: SpawnBase,
        groups: DockerAccessGroups,
        gpu: GpuService,
        limits: LabLimits,
        lab_environment: Mapping[str, str] = MappingProxyType({}),
        volumes: VolumeService | None = None,
        favicon_routes: FaviconRoutes | None = None,
    ) -> None:
        self.base = base
        self.groups = groups
        self.gpu = gpu
        self.limits = limits
        self.lab_environment = dict(lab_environment)
        self.volumes = volumes
        self.favicon_routes = favicon_routes

    def limits_for(self, spawner: Any) -> LabLimits:
        """The limits of this spawn's lab: the platform's, for every user."""
        return self.limits

    def settings_for(self, spawner: Any) -> SpawnSettings:
        return spawn_settings(
            self.base,
            access=docker_access_for(group_names(spawner), self.groups),
            groups=self.groups,
            gpu=self.gpu.current,
            limits=self.limits_for(spawner),
            lab_environment=self.lab_environment,
        )

    async def __call__(self, spawner: Any) -> None:
        settings = self.settings_for(spawner)
        if hasattr(spawner, "extra_host_config"):
            if self.volumes is not None:
                user = spawner.user
                try:
                    await self.volumes.provision_for_spawn(
                        user.name, user_id=user.id, created=user.created
                    )
                except Refused as refused:  # volumes of an earlier user of the same name
                    raise spawn_refusal(refused.reason) from None
            spawner.volumes = settings.volumes
            spawner.extra_host_config = settings.extra_host_config
            spawner.mem_limit = settings.mem_limit
            spawner.cpu_limit = settings.cpu_limit
        spawner.environment = settings.environment
        if self.favicon_routes is not None and spawner.server is not None:
            try:
                await self.favicon_routes.keep_route_for(spawner.server.base_url)
            except BackendUnavailable as error:  # the reconciler adds it later; spawn anyway
                log.warning("stellars: no favicon route for %s yet: %s", spawner.user.name, error)
