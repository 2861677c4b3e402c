"""The pre-spawn hook: DockerSpawner's settings for one spawn, computed whole from the current
state (group membership, the GPUs this server gets, branding), never appended to.

JupyterHub keeps one Spawner object per server for the hub's lifetime and reuses it for every
start, so a hook that only adds a mount or a flag would keep it after the user left the group.
This hook starts from the configured base values on every spawn and sets the whole `volumes`,
`extra_host_config` and `environment` of the spawner. Docker's wire formats (the device request
naming the server's GPUs, bind-mount dicts, the privileged flag) live here, not in the domain.

GPUs are given out one by one (`GpuService.assign`): a spawn that cannot get its GPUs is
refused with a 409 that names who holds each one; the post-stop hook (`stop_hook`) frees them.

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
from stellars.domain.gpu_allocation import GpuAssignment
from stellars.domain.services import FaviconRoutes, GpuService, VolumeService
from stellars.domain.settings import SharedVolumeMode

log = logging.getLogger(__name__)

#: docker-py's DeviceRequest(count=-1, capabilities=[["gpu"]]) as the Engine API writes it:
#: every GPU of the engine (mode 1, where no probe listed them).
ALL_GPUS_REQUEST: Mapping[str, object] = MappingProxyType(
    {"Driver": "nvidia", "Count": -1, "Capabilities": [["gpu"]]}
)
#: A spawn that the platform gives no GPU (GPUs off, or none asked for).
NO_GPUS = GpuAssignment()


def gpus_request(devices: Iterable[str]) -> dict[str, object]:
    """The Engine API's device request for exactly these GPUs, by UUID (`docker run --gpus
    '"device=GPU-a,GPU-b"'`): the nvidia driver, the gpu capability."""
    return {"Driver": "nvidia", "DeviceIDs": list(devices), "Capabilities": [["gpu"]]}


#: The host config every spawn starts from unless configured otherwise: the engine never removes
#: a container by itself. DockerSpawner (`remove = True`) removes it when the server stops, and
#: at the next start if it was left; with the engine's auto-remove, dockerd before 23.0 removes a
#: container whose restart is under way (its exit handler reads the flag that the restart had
#: cleared and restored meanwhile), so a restart in place could delete the user's container.
ENGINE_KEEPS_CONTAINERS: Mapping[str, object] = MappingProxyType({"auto_remove": False})


@dataclass(frozen=True, slots=True)
class SpawnSettings:
    """What one spawn of a DockerSpawner gets."""

    volumes: dict[str, Any]
    extra_host_config: dict[str, Any]
    environment: dict[str, str]


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
    gpu: GpuAssignment,
    lab_environment: Mapping[str, str] = MappingProxyType({}),
) -> SpawnSettings:
    """The whole volumes, host config and environment of one spawn, from the base values."""
    volumes = with_shared_mode(base.volumes, base.shared_volume, base.shared_mode)
    host_config = dict(base.extra_host_config)
    volumes.pop(groups.socket_path, None)
    host_config.pop("privileged", None)
    host_config.pop("device_requests", None)
    if access.mount_socket:
        volumes[groups.socket_path] = {"bind": groups.socket_path, "mode": "rw"}
    if access.privileged:
        host_config["privileged"] = True
    if gpu.every_gpu:
        host_config["device_requests"] = [dict(ALL_GPUS_REQUEST)]
    elif gpu.devices:
        host_config["device_requests"] = [gpus_request(gpu.devices)]
    environment = {**base.environment, **gpu.environment, **lab_environment}
    return SpawnSettings(volumes, host_config, environment)


def spawn_refusal(reason: str, status: int = 409) -> web.HTTPError:
    """A refused spawn as JupyterHub relays it: 409 (or `status`) with `reason` as the message
    the user sees on the spawn page and in the API answer (`jupyterhub_message`), logged
    without a traceback."""
    error = web.HTTPError(status, reason)
    error.jupyterhub_message = reason  # type: ignore[attr-defined]
    return error


def group_names(spawner: Any) -> Iterable[str]:
    return [group.name for group in spawner.user.groups]


class PreSpawnHook:
    """Applies `spawn_settings` to every spawn; the composition root hands JupyterHub a plain
    function that awaits it (`c.Spawner.pre_spawn_hook`: traitlets deep-copies config values,
    and a function is copied as itself, so the hook keeps the live GPU service).

    Spawners without Docker settings (the local-process fallback) only get the environment.
    """

    def __init__(
        self,
        *,
        base: SpawnBase,
        groups: DockerAccessGroups,
        gpu: GpuService,
        lab_environment: Mapping[str, str] = MappingProxyType({}),
        volumes: VolumeService | None = None,
        favicon_routes: FaviconRoutes | None = None,
    ) -> None:
        self.base = base
        self.groups = groups
        self.gpu = gpu
        self.lab_environment = dict(lab_environment)
        self.volumes = volumes
        self.favicon_routes = favicon_routes

    def settings_for(self, spawner: Any, gpus: GpuAssignment = NO_GPUS) -> SpawnSettings:
        return spawn_settings(
            self.base,
            access=docker_access_for(group_names(spawner), self.groups),
            groups=self.groups,
            gpu=gpus,
            lab_environment=self.lab_environment,
        )

    async def assign_gpus(self, spawner: Any) -> GpuAssignment:
        """The GPUs this spawn gets; a start that cannot get them is refused with the 409 the
        user sees on the spawn page, naming who holds each GPU (503 while the holdings cannot
        be read back). How many and how shared: the platform's default (`GpuService`), until
        group policies decide it per user (`EffectiveResources.gpus` and `gpu_sharing`)."""
        try:
            return await self.gpu.assign((spawner.user.name, spawner.name))
        except Refused as refused:
            raise spawn_refusal(refused.reason) from None
        except BackendUnavailable as error:
            raise spawn_refusal(f"GPUs cannot be given out right now: {error}", 503) from None

    async def __call__(self, spawner: Any) -> None:
        settings = self.settings_for(spawner, await self.assign_gpus(spawner))
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
        spawner.environment = settings.environment
        if self.favicon_routes is not None and spawner.server is not None:
            try:
                await self.favicon_routes.keep_route_for(spawner.server.base_url)
            except BackendUnavailable as error:  # the reconciler adds it later; spawn anyway
                log.warning("stellars: no favicon route for %s yet: %s", spawner.user.name, error)
