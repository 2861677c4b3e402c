"""What KubeSpawner is given for one spawn, computed whole from what the platform resolved.

The Docker spawn hook (`adapters.jupyterhub.plugin.spawn_hook`) turns the user's resolved
resources into DockerSpawner's traits; this module is the same step for KubeSpawner, as pure
functions with no Kubernetes client, so that it is tested here without a cluster. Each field
of `KubeSpawnSettings` is the KubeSpawner trait of the same name, set whole at every spawn
(KubeSpawner, like DockerSpawner, keeps one spawner object per server for the hub's lifetime).

- **Limits**: `mem_limit` (bytes) and `cpu_limit` (cores) are the lab's limits, the user's
  policies' where they decide one, else the platform's (None: no limit). Kubernetes has no
  per-pod process limit: the kubelet's `podPidsLimit` is the nodes' (docs/kubernetes.md).
- **Guarantees** (the pod's requests, what the scheduler reserves on a node): a share of each
  limit (`Guarantees`), at least 1 MiB or 1 millicore; none without a limit. A request equal
  to the limit would reserve every lab's whole limit and fit few labs on a node.
- **GPUs**: a count in `extra_resource_limits` under the device plugin's resource name,
  `nvidia.com/gpu` for exclusive GPUs and the time-sliced name (`nvidia.com/gpu.shared` by
  default, the plugin's `renameByDefault`) for shared ones. The scheduler picks the devices;
  the lab's environment says whether it has GPUs and how shared, and a lab without GPUs gets
  `NVIDIA_VISIBLE_DEVICES=void`, so a CUDA image's own `all` cannot reach the node's GPUs.
- **Volumes**: each user volume is a claim (`naming.claim_name` of the platform's volume name)
  mounted where DockerSpawner mounts it; the volume every user shares is a claim mounted
  read-only unless the settings say read-write (left out when off); a policy's team volumes are
  claims mounted read-only or not as the policy says. `claims` lists every claim the pod needs,
  which the platform provisions (user volumes, with their owner) before the pod is created.
- **Docker access**: privileged mode is KubeSpawner's `privileged`; the Docker socket does not
  exist on a Kubernetes node, so a spawn whose policies grant it is refused, naming the group.
- **Environment**: the policies' variables under the platform's own, which always win, as on
  Docker.

KubeSpawner fills `{username}`-style fields into the environment's values and into every string
of `volumes` and `volume_mounts` at each spawn (`str.format`); the values computed here are
literal, so their braces are doubled (`literal`) and reach the pod as they were written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from stellars.domain.errors import InvalidValue, Refused
from stellars.domain.gpu_allocation import (
    GPU_SHARING_VARIABLE,
    NO_GPU,
    NVIDIA_VISIBLE_DEVICES,
)
from stellars.domain.limits import LabLimits
from stellars.domain.policies import MIB, EffectiveResources, GpuSharing, Mount
from stellars.domain.settings import SharedVolumeMode
from stellars.domain.volumes import DockerNaming, UserVolume, container_name

from .naming import claim_name, pod_name, pod_volume_name

#: The device plugin's resource for whole GPUs, one pod each.
EXCLUSIVE_GPU_RESOURCE = "nvidia.com/gpu"
#: The resource a time-sliced GPU is advertised under when the plugin renames shared GPUs.
SHARED_GPU_RESOURCE = "nvidia.com/gpu.shared"
#: The least guarantee a limit gets: the scheduler counts whole bytes and millicores.
MIN_MEMORY_GUARANTEE = MIB
MIN_CPU_GUARANTEE = 0.001


@dataclass(frozen=True, slots=True, kw_only=True)
class Guarantees:
    """What the scheduler reserves for a lab, as a share of each of its limits (more than 0,
    at most 1: 1 reserves the whole limit, Kubernetes' "Guaranteed" class)."""

    memory_share: float = 0.25
    cpu_share: float = 0.1

    def __post_init__(self) -> None:
        for name in ("memory_share", "cpu_share"):
            share = getattr(self, name)
            if isinstance(share, bool) or not isinstance(share, (int, float)):
                raise InvalidValue(name, f"must be a number, got {share!r}")
            if not 0 < share <= 1:
                raise InvalidValue(name, f"must be more than 0 and at most 1, got {share}")

    def memory(self, limit: int | None) -> int | None:
        """The memory guarantee of a limit in bytes: its share rounded up to a whole byte,
        at least `MIN_MEMORY_GUARANTEE` and never above the limit."""
        if limit is None:
            return None
        return min(limit, max(MIN_MEMORY_GUARANTEE, math.ceil(limit * self.memory_share)))

    def cpu(self, limit: float | None) -> float | None:
        """The CPU guarantee of a limit in cores: its share rounded up to a whole millicore,
        at least `MIN_CPU_GUARANTEE` and never above the limit."""
        if limit is None:
            return None
        millicores = math.ceil(round(limit * self.cpu_share * 1000, 6))
        return min(limit, max(MIN_CPU_GUARANTEE, millicores / 1000))


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuResources:
    """The extended resources the NVIDIA device plugin advertises GPUs under."""

    exclusive: str = EXCLUSIVE_GPU_RESOURCE
    shared: str = SHARED_GPU_RESOURCE

    def name(self, sharing: GpuSharing) -> str:
        return self.shared if sharing is GpuSharing.SHARED else self.exclusive


@dataclass(frozen=True, slots=True, kw_only=True)
class SharedClaim:
    """The volume every user shares, as a claim: its Docker volume name and mount point."""

    volume: str
    mount_point: str
    mode: SharedVolumeMode = SharedVolumeMode.READ_ONLY


@dataclass(frozen=True, slots=True, kw_only=True)
class KubeSpawnSettings:
    """KubeSpawner's traits for one spawn (see the module docstring). `claims` are every claim
    the pod mounts, user volumes first; `user_claims` the user's own among them, which the
    platform provisions for the user (with their owner key) before the pod is created."""

    pod_name_template: str
    mem_limit: int | None
    mem_guarantee: int | None
    cpu_limit: float | None
    cpu_guarantee: float | None
    extra_resource_limits: Mapping[str, str]
    environment: Mapping[str, str]
    volumes: tuple[Mapping[str, Any], ...]
    volume_mounts: tuple[Mapping[str, Any], ...]
    privileged: bool
    claims: tuple[str, ...]
    image: str | None = None
    user_claims: tuple[str, ...] = field(default=())


def literal(text: str) -> str:
    """`text` as a KubeSpawner template whose expansion is `text` itself: braces doubled."""
    return text.replace("{", "{{").replace("}", "}}")


def _claim_volume(name: str, claim: str, *, read_only: bool = False) -> dict[str, Any]:
    source: dict[str, Any] = {"claimName": claim}
    if read_only:
        source["readOnly"] = True
    return {"name": name, "persistentVolumeClaim": source}


def _mount(name: str, path: str, *, read_only: bool = False) -> dict[str, Any]:
    mount: dict[str, Any] = {"name": name, "mountPath": literal(path)}
    if read_only:
        mount["readOnly"] = True
    return mount


def _refuse_docker_socket(resources: EffectiveResources | None) -> None:
    if resources is not None and resources.docker_socket:
        group = resources.sources.get("docker_socket", "a group")
        raise Refused(
            f"Your group {group!r} grants the Docker socket, which Kubernetes nodes do not "
            "have: ask an admin to take the grant off the group's policy to start a server here."
        )


def kube_spawn_settings(
    *,
    username: str,
    naming: DockerNaming,
    user_volumes: Sequence[UserVolume],
    limits: LabLimits,
    environment: Mapping[str, str] = MappingProxyType({}),
    resources: EffectiveResources | None = None,
    gpus: int = 0,
    gpu_sharing: GpuSharing = GpuSharing.EXCLUSIVE,
    shared: SharedClaim | None = None,
    privileged: bool = False,
    server_name: str = "",
    guarantees: Guarantees = Guarantees(),
    gpu_resources: GpuResources = GpuResources(),
) -> KubeSpawnSettings:
    """The whole of one spawn's KubeSpawner settings.

    `limits` are the lab's limits (the user's policies' where they decide, else the
    platform's); `environment` the platform's own variables (which win over the policies');
    `resources` what the user's policies give (None without policies); `gpus` and
    `gpu_sharing` what the GPU rule granted; `privileged` the Docker access rule's answer.
    Raises Refused when the policies grant the Docker socket, InvalidValue("volumes") for a
    volume name that has no claim name, InvalidValue("gpus") for a negative count.
    """
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0:
        raise InvalidValue("gpus", f"must be a whole number of GPUs, at least 0, got {gpus!r}")
    _refuse_docker_socket(resources)
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    user_claims: list[str] = []
    for index, volume in enumerate(user_volumes):
        claim = claim_name(volume.name_for(username, naming, server_name))
        name = pod_volume_name(index, volume.label)
        volumes.append(_claim_volume(name, claim))
        mounts.append(_mount(name, volume.mount_point))
        user_claims.append(claim)
    claims = list(user_claims)
    taken = {volume.mount_point for volume in user_volumes}
    if shared is not None and shared.mode is not SharedVolumeMode.OFF:
        read_only = shared.mode is SharedVolumeMode.READ_ONLY
        claim = claim_name(shared.volume)
        volumes.append(_claim_volume("shared", claim, read_only=read_only))
        mounts.append(_mount("shared", shared.mount_point, read_only=read_only))
        claims.append(claim)
        taken.add(shared.mount_point)
    team: Sequence[Mount] = resources.mounts if resources is not None else ()
    for index, team_mount in enumerate(team):
        if team_mount.path in taken:  # never over one of the platform's own mounts
            continue
        claim = claim_name(team_mount.volume)
        name = f"team-{index}"
        volumes.append(_claim_volume(name, claim, read_only=team_mount.read_only))
        mounts.append(_mount(name, team_mount.path, read_only=team_mount.read_only))
        if claim not in claims:
            claims.append(claim)
    gpu_environment = {
        "ENABLE_GPU_SUPPORT": "1" if gpus else "0",
        "ENABLE_GPUSTAT": "1" if gpus else "0",
    }
    if gpus:
        gpu_environment[GPU_SHARING_VARIABLE] = gpu_sharing.value
    else:
        gpu_environment[NVIDIA_VISIBLE_DEVICES] = NO_GPU
    merged = {
        **(resources.environment if resources is not None else {}),
        **environment,
        **gpu_environment,
    }
    return KubeSpawnSettings(
        pod_name_template=pod_name_template(username, naming, server_name),
        mem_limit=limits.memory_limit,
        mem_guarantee=guarantees.memory(limits.memory_limit),
        cpu_limit=limits.cpu_limit,
        cpu_guarantee=guarantees.cpu(limits.cpu_limit),
        extra_resource_limits=MappingProxyType(
            {gpu_resources.name(gpu_sharing): str(gpus)} if gpus else {}
        ),
        environment=MappingProxyType({key: literal(value) for key, value in merged.items()}),
        volumes=tuple(MappingProxyType(v) for v in volumes),
        volume_mounts=tuple(MappingProxyType(m) for m in mounts),
        privileged=privileged,
        claims=tuple(claims),
        image=resources.image if resources is not None and resources.image else None,
        user_claims=tuple(user_claims),
    )


def pod_name_template(username: str, naming: DockerNaming, server_name: str = "") -> str:
    """KubeSpawner's `pod_name_template` for this server: the pod name itself, with no field
    left to expand, so that KubeSpawner (which expands the template again after every stop and
    at every hub start) always names the pod the platform looks for."""
    return pod_name(container_name(username, naming, server_name))
