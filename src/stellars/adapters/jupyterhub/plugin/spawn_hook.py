"""The pre-spawn hook: DockerSpawner's settings for one spawn, computed whole from the current
state (group membership and the groups' policies, the GPUs this server gets, branding), never
appended to.

JupyterHub keeps one Spawner object per server for the hub's lifetime and reuses it for every
start, so a hook that only adds a mount or a flag would keep it after the user left the group.
This hook starts from the configured base values on every spawn and sets the whole `volumes`,
`extra_host_config`, `environment`, `image` and limits of the spawner. Docker's wire formats
(the device request naming the server's GPUs, bind-mount dicts, the privileged flag, the limits'
host config keys) live here, not in the domain.

With group policies (`stellars.domain.services.policies`), a spawn gets what the user's groups
give, resolved at that spawn: the image (the default, or the user's choice among the images
their policies allow, made on JupyterHub's spawn form, `ImageOptions`; an image they may not
have is refused with a 400 naming the ones they may), the policies' environment variables
(under the platform's own, which always win), their team volumes (`"mode": "ro"` or `"rw"`),
the Docker access they grant (the built-in groups are such policies) and their limits. The
resolved `EffectiveResources` travel in `SpawnSettings.resources` for what other parts of a
spawn read from them.

Every Docker spawn gets lab limits (`stellars.domain.limits`; a limit of None is no limit): the
user's policies' when they decide one, else the platform's. DockerSpawner's `mem_limit` (the
engine's `HostConfig.Memory`) with `memswap_limit` equal to it (`MemorySwap`: swap off, so the
memory limit is all a lab gets), `cpu_limit` (DockerSpawner writes it as `CpuQuota` over a
`CpuPeriod` of 100 ms) and `pids_limit` (`PidsLimit`).

GPUs are given out one by one (`GpuService.assign`): as many as the user's policies grant, shared
or exclusive as they say (the platform's default where none decides); a spawn that cannot get
its GPUs is refused with a 409 that names who holds each one; the post-stop hook (`stop_hook`)
frees them. In swarm mode (a spawner with `gpus_from_swarm`) the hub gives out none: the swarm
does, from the nodes' generic resources, and the hook hands the spawner how many to ask for
(`gpus_wanted`: the user's policies' count, else the platform's per server; none while GPUs
are off).

The volume every user shares is mounted as `STELLARS_SHARED_VOLUME` says (read-only by default,
`{"bind": path, "mode": "ro"}`), or left out when it is off: every lab runs as the same uid, so
a writable share lets any user change or delete another's files.

Before a Docker spawn it also provisions the user's volumes for their owner (a spawn that would
mount another account's volumes is refused, see `stellars.domain.volume_ownership`), refuses
the start of a user whose volumes are over their storage quota with a 409 offering the volume
reset (`QuotaService.check_spawn`; before any GPU is taken), and it keeps the lab's favicon
route when a favicon is configured.

It reports its steps to the spawn's progress stream where the spawner reports progress (the
platform's DockerSpawner, `docker_spawner`): the volumes prepared (once the quota let the start
go on), then the GPUs assigned.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tornado import web

from stellars.domain.docker_access import DockerAccess, DockerAccessGroups, docker_access_for
from stellars.domain.errors import BackendUnavailable, InvalidValue, Refused
from stellars.domain.gpu import GpuMode
from stellars.domain.gpu_allocation import GpuAssignment
from stellars.domain.limits import LabLimits
from stellars.domain.policies import EffectiveResources
from stellars.domain.services import (
    FaviconRoutes,
    GpuService,
    PolicyResolver,
    QuotaService,
    VolumeService,
)
from stellars.domain.services.policies import docker_access_of
from stellars.domain.settings import SharedVolumeMode
from stellars.domain.spawn_progress import (
    STEP_PERCENT,
    ProgressEvent,
    SpawnStep,
    gpus_assigned,
    volumes_prepared,
)
from stellars.domain.validation import echo

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


#: The host config keys the limits own (docker-py's `create_host_config` arguments): set from
#: the limits at every spawn, or removed when a limit is none.
LIMIT_HOST_CONFIG_KEYS = ("memswap_limit", "pids_limit")


@dataclass(frozen=True, slots=True)
class SpawnSettings:
    """What one spawn of a DockerSpawner gets.

    With group policies: `image` is the user's default image and `images` the ones they may
    choose among; `resources` is everything their policies give (None without policies: the
    spawner keeps its configured image). `mem_limit` (bytes) and `cpu_limit` (cores) are
    DockerSpawner's own traits, None for no limit.
    """

    volumes: dict[str, Any]
    extra_host_config: dict[str, Any]
    environment: dict[str, str]
    image: str | None = None
    images: tuple[str, ...] = ()
    resources: EffectiveResources | None = None
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


def policy_mounts(resources: EffectiveResources) -> dict[str, Any]:
    """DockerSpawner's volumes for the team volumes a user's policies mount."""
    return {
        mount.volume: {"bind": mount.path, "mode": "ro" if mount.read_only else "rw"}
        for mount in resources.mounts
    }


def spawn_settings(
    base: SpawnBase,
    *,
    access: DockerAccess,
    groups: DockerAccessGroups,
    gpu: GpuAssignment,
    limits: LabLimits,
    lab_environment: Mapping[str, str] = MappingProxyType({}),
    resources: EffectiveResources | None = None,
) -> SpawnSettings:
    """The whole volumes, host config, environment and limits of one spawn, from the base
    values and what the user's group policies give (`resources`; its Docker access is `access`,
    its limits are `limits`)."""
    volumes = with_shared_mode(base.volumes, base.shared_volume, base.shared_mode)
    host_config = dict(base.extra_host_config)
    volumes.pop(groups.socket_path, None)
    host_config.pop("privileged", None)
    host_config.pop("device_requests", None)
    if resources is not None:
        # Never over one of the platform's own entries (the policy service refuses those too).
        volumes.update({k: v for k, v in policy_mounts(resources).items() if k not in volumes})
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
    if gpu.every_gpu:
        host_config["device_requests"] = [dict(ALL_GPUS_REQUEST)]
    elif gpu.devices:
        host_config["device_requests"] = [gpus_request(gpu.devices)]
    # The policies' variables first: the platform's own always win.
    environment = {
        **(resources.environment if resources is not None else {}),
        **base.environment,
        **gpu.environment,
        **lab_environment,
    }
    if resources is None:
        return SpawnSettings(
            volumes,
            host_config,
            environment,
            mem_limit=limits.memory_limit,
            cpu_limit=limits.cpu_limit,
        )
    return SpawnSettings(
        volumes,
        host_config,
        environment,
        resources.image,
        resources.images,
        resources,
        mem_limit=limits.memory_limit,
        cpu_limit=limits.cpu_limit,
    )


def gpus_asked_of_the_swarm(count: int) -> ProgressEvent:
    """Swarm mode's GPU step: how many GPUs the start asks the swarm for (the swarm names them
    once the task is placed)."""
    message = (
        "No GPU for this server."
        if count == 0
        else f"{count} GPU{'s' if count > 1 else ''} asked of the swarm for your server."
    )
    return ProgressEvent(SpawnStep.GPUS, STEP_PERCENT[SpawnStep.GPUS], message)


def spawn_refusal(reason: str, status: int = 409) -> web.HTTPError:
    """A refused spawn as JupyterHub relays it: 409 (or `status`) with `reason` as the message
    the user sees on the spawn page and in the API answer (`jupyterhub_message`), logged
    without a traceback."""
    error = web.HTTPError(status, reason)
    error.jupyterhub_message = reason  # type: ignore[attr-defined]
    return error


def report_progress(spawner: Any, event: ProgressEvent) -> None:
    """Tell the spawn's progress stream that a step happened, where the spawner reports
    progress (the platform's DockerSpawner); other spawners keep JupyterHub's own events."""
    report = getattr(spawner, "report_progress", None)
    if report is not None:
        report(event)


def group_names(spawner: Any) -> Iterable[str]:
    return [group.name for group in spawner.user.groups]


def chosen_image(spawner: Any) -> str | None:
    """The image the spawn's user options name (the spawn form's choice, or an API request's
    `{"image": ...}`; JupyterHub reuses the last options when a start names none)."""
    options = getattr(spawner, "user_options", None) or {}
    image = options.get("image") if isinstance(options, Mapping) else None
    return image if isinstance(image, str) and image else None


def image_refusal(image: str, resources: EffectiveResources) -> web.HTTPError:
    """A 400 for an image the user may not have, naming the ones they may."""
    reason = (
        f"The image {echo(image)} is not one your groups allow; choose one of: "
        f"{', '.join(resources.images)} (a start that names no image gets {resources.image})."
    )
    error = web.HTTPError(400, reason)
    error.jupyterhub_message = reason  # type: ignore[attr-defined]
    return error


def forget_chosen_image(spawner: Any) -> None:
    """Drop the image from the options JupyterHub keeps for the next start, so that a choice
    the user may no longer have is refused once, not at every start from the home page."""
    orm_spawner = getattr(spawner, "orm_spawner", None)
    if orm_spawner is None or not isinstance(orm_spawner.user_options, Mapping):
        return
    orm_spawner.user_options = {
        key: value for key, value in orm_spawner.user_options.items() if key != "image"
    }
    spawner.user.db.commit()


class ImageOptions:
    """JupyterHub's spawn form (`c.Spawner.options_form`) for a user whose group policies allow
    several images: a choice among them, their default first selected (or the one they chose
    last, if they still may); no form (JupyterHub then spawns at once) with one image. The
    choice arrives in the user options as `image` (DockerSpawner's `options_from_form`)."""

    def __init__(self, policies: PolicyResolver) -> None:
        self.policies = policies

    async def __call__(self, spawner: Any) -> str:
        resources = await self.policies.effective_for_groups(group_names(spawner))
        if len(resources.images) <= 1:
            return ""
        last = chosen_image(spawner)
        selected = last if last in resources.images else resources.image
        options = "".join(
            f'<option value="{html.escape(image)}"{" selected" if image == selected else ""}>'
            f"{html.escape(image)}</option>"
            for image in resources.images
        )
        return (
            '<label class="form-label" for="stellars-image">Lab image</label>'
            f'<select class="form-select" id="stellars-image" name="image">{options}</select>'
            '<p class="form-text">The images your groups allow; the first is your default.</p>'
        )


class PreSpawnHook:
    """Applies `spawn_settings` to every spawn; the composition root hands JupyterHub a plain
    function that awaits it (`c.Spawner.pre_spawn_hook`: traitlets deep-copies config values,
    and a function is copied as itself, so the hook keeps the live GPU service).

    With `policies`, each spawn gets what the user's group policies give (module docstring).
    Spawners without Docker settings (the local-process fallback) only get the environment:
    a local process runs without limits. `limits` are what a lab gets where no policy of its
    user decides one. With `quotas`, a Docker spawn over the user's storage quota is refused.
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
        policies: PolicyResolver | None = None,
        quotas: QuotaService | None = None,
    ) -> None:
        self.base = base
        self.groups = groups
        self.gpu = gpu
        self.limits = limits
        self.lab_environment = dict(lab_environment)
        self.volumes = volumes
        self.favicon_routes = favicon_routes
        self.policies = policies
        self.quotas = quotas

    def limits_for(self, resources: EffectiveResources | None) -> LabLimits:
        """The limits of this spawn's lab: what the user's policies resolved to (the platform's
        where none decides), else the platform's."""
        if resources is None:
            return self.limits
        return LabLimits(
            cpu_limit=resources.cpu_limit,
            memory_limit=resources.memory_limit,
            pids_limit=resources.pids_limit,
        )

    def settings_for(
        self,
        spawner: Any,
        resources: EffectiveResources | None = None,
        gpus: GpuAssignment = NO_GPUS,
    ) -> SpawnSettings:
        """The spawn's settings with the GPUs it holds; with `resources` (what the user's
        policies give), its Docker access and limits from them, else from the built-in groups
        and the platform alone."""
        access = (
            docker_access_for(group_names(spawner), self.groups)
            if resources is None
            else docker_access_of(resources)
        )
        return spawn_settings(
            self.base,
            access=access,
            groups=self.groups,
            gpu=gpus,
            limits=self.limits_for(resources),
            lab_environment=self.lab_environment,
            resources=resources,
        )

    async def resolved(self, spawner: Any) -> EffectiveResources | None:
        """What the user's groups and their policies give, resolved now (None without
        policies)."""
        if self.policies is None:
            return None
        return await self.policies.effective_for_groups(group_names(spawner))

    async def assign_gpus(
        self, spawner: Any, resources: EffectiveResources | None = None
    ) -> GpuAssignment:
        """The GPUs this spawn gets: as many as the user's policies grant and as shared as
        they say (the platform's default without policies). A start that cannot get them is
        refused with the 409 the user sees on the spawn page, naming who holds each GPU (503
        while the holdings cannot be read back)."""
        count = None if resources is None else resources.gpus
        sharing = None if resources is None else resources.gpu_sharing
        try:
            return await self.gpu.assign((spawner.user.name, spawner.name), count, sharing)
        except Refused as refused:
            raise spawn_refusal(refused.reason) from None
        except BackendUnavailable as error:
            raise spawn_refusal(f"GPUs cannot be given out right now: {error}", 503) from None

    def swarm_gpus(self, resources: EffectiveResources | None) -> int:
        """How many GPUs a swarm-mode start asks the swarm for: as many as the user's policies
        grant, else the platform's per server; none while GPUs are off (mode 0)."""
        if self.gpu.mode is GpuMode.OFF:
            return 0
        return self.gpu.per_server if resources is None else resources.gpus

    async def check_quota(self, spawner: Any, resources: EffectiveResources | None) -> None:
        """Refuse the start with a 409 when the user's volumes are over their storage quota
        (their policies', else the platform's), naming the usage, the quota and the volume
        reset."""
        if self.quotas is None:
            return
        user = spawner.user
        quota = self.quotas.default_quota if resources is None else resources.storage_quota
        try:
            await self.quotas.check_spawn(
                user.name, user_id=user.id, created=user.created, quota=quota
            )
        except Refused as refused:
            raise spawn_refusal(refused.reason) from None

    def apply_image(self, spawner: Any, resources: EffectiveResources | None) -> None:
        """The spawn's image: the user's choice when they may have it (refused with a 400
        otherwise), else their default; without policies, the configured image. DockerSpawner
        then checks the choice against `allowed_images` once more and starts it."""
        if resources is None:
            return
        chosen = chosen_image(spawner)
        if chosen is not None and chosen not in resources.images:
            forget_chosen_image(spawner)
            raise image_refusal(chosen, resources)
        spawner.image = resources.image
        spawner.allowed_images = list(resources.images)

    async def __call__(self, spawner: Any) -> None:
        resources = await self.resolved(spawner)
        docker = hasattr(spawner, "extra_host_config")
        if docker:  # what may refuse the start comes before GPUs are taken
            self.apply_image(spawner, resources)
            if self.volumes is not None:
                user = spawner.user
                try:
                    await self.volumes.provision_for_spawn(
                        user.name, user_id=user.id, created=user.created
                    )
                except Refused as refused:  # volumes of an earlier user of the same name
                    raise spawn_refusal(refused.reason) from None
            await self.check_quota(spawner, resources)
            report_progress(spawner, volumes_prepared())
        if getattr(spawner, "gpus_from_swarm", False):
            # Swarm mode: the swarm gives out the nodes' GPUs (generic resources), not the hub.
            spawner.gpus_wanted = wanted = self.swarm_gpus(resources)
            gpus = NO_GPUS
            report_progress(spawner, gpus_asked_of_the_swarm(wanted))
        else:
            gpus = await self.assign_gpus(spawner, resources)
            report_progress(spawner, gpus_assigned(len(gpus.devices), every_gpu=gpus.every_gpu))
        settings = self.settings_for(spawner, resources, gpus)
        if docker:
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
