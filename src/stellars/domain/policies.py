"""Group policies: what a user's servers get, resolved from the policies of the user's groups.

A policy belongs to one JupyterHub group and sets any of: a CPU limit (cores), a memory limit
(bytes, swap off), a process limit, GPUs (how many, exclusive or shared), the lab images its
members may choose from (the first is the group's default), environment variables, extra volume
mounts (team folders: named Docker volumes, read-only or not), Docker access (the host's socket,
a privileged container: both root on the host), the idle timeout and the maximum extension of a
session, and a storage quota. A field a policy leaves unset is no opinion.

Admins order the policies; the order is the tie-breaker the rules below call "first".
Resolution, for the policies of the groups a user belongs to (every other policy is ignored):

1. **Limits take the most generous**: CPU, memory, processes, storage quota, idle timeout and
   maximum extension are each the largest value any of the user's policies sets; with none, the
   platform's default (which the deployer may make "no limit"). A policy may therefore lower a
   limit for a group whose members are in no more generous one.
2. **GPUs**: the largest count any policy grants; its sharing comes from the first policy that
   grants that count. With none, the platform's default.
3. **Grants combine**: any policy that grants Docker access grants it.
4. **Images**: the user may choose any image some policy allows (in order, without repeats);
   the default is the first policy's first image; with no policy naming images, the platform's
   image alone.
5. **Environment by priority**: the variables of every policy, the first policy winning a name
   set twice.
6. **Mounts are a union**: every policy's mounts, the first policy winning a path mounted twice.

Every value that a policy decided records the group it came from, for the "what does this user
get, and from which group" view. Values a policy could use to take over the host or the
platform are refused when the policy is made, naming the field: environment names JupyterHub
or the platform sets, and mounts over system paths or from host paths.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import ClassVar

from .errors import InvalidValue
from .validation import Bounds, check_bounds, echo, echo_items, non_empty_text

MIB = 1024 * 1024
GIB = 1024 * MIB


class GpuSharing(str, Enum):
    """Whether a GPU given to a server may be given to another at the same time."""

    EXCLUSIVE = "exclusive"  # one server at a time
    SHARED = "shared"  # several servers, spread by load


#: Environment names a policy may not set: JupyterHub's, the platform's, and what the spawner
#: and the lab image read to set the server up (its GPU tooling, its limits, its identity).
RESERVED_ENVIRONMENT_PREFIXES = ("JUPYTERHUB_", "JPY_", "JUPYTER_", "STELLARS_", "NVIDIA_")
RESERVED_ENVIRONMENT_NAMES = frozenset(
    {
        "CUDA_VISIBLE_DEVICES",
        "ENABLE_GPU_SUPPORT",
        "ENABLE_GPUSTAT",
        "NVIDIA_DETECTED",
        "JUPYTERLAB_MAIN_ICON_URI",
        "JUPYTERLAB_SPLASH_ICON_URI",
        "MEM_LIMIT",
        "MEM_GUARANTEE",
        "CPU_LIMIT",
        "CPU_GUARANTEE",
        "HOME",
        "PATH",
        "SHELL",
        "USER",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "PYTHONPATH",
    }
)
_ENVIRONMENT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: Where a mount may not go: the system's own directories (and anything under them), and the
#: root itself.
SYSTEM_PATHS = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/sys",
    "/usr",
    "/var",
)
#: A Docker volume name (what a team folder is); a path would be a host directory.
_VOLUME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_GROUP_NAME_LIMIT = 255


def reserved_environment_name(name: str) -> bool:
    """Whether JupyterHub, the platform or the lab image set `name` themselves."""
    upper = name.upper()
    return upper in RESERVED_ENVIRONMENT_NAMES or upper.startswith(RESERVED_ENVIRONMENT_PREFIXES)


def system_path(path: str) -> bool:
    """Whether `path` is the root, a system directory, or lies under one."""
    return path == "/" or any(
        path == system or path.startswith(system + "/") for system in SYSTEM_PATHS
    )


def _normal_path(field_name: str, path: str) -> str:
    """An absolute path without `.`/`..` parts, repeated or trailing slashes."""
    if not path.startswith("/"):
        raise InvalidValue(field_name, f"must be an absolute path, got {echo(path)}")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise InvalidValue(field_name, f"must not contain '..', got {echo(path)}")
    return "/" + "/".join(parts)


@dataclass(frozen=True, slots=True)
class Mount:
    """A named Docker volume mounted into the lab (a team folder)."""

    volume: str
    path: str
    read_only: bool = True

    def __post_init__(self) -> None:
        if not _VOLUME_NAME.match(self.volume):
            raise InvalidValue(
                "mounts",
                f"the volume must be a Docker volume name (letters, digits, '_', '.', '-'; "
                f"never a host path), got {echo(self.volume)}",
            )
        path = _normal_path("mounts", self.path)
        if system_path(path):
            raise InvalidValue(
                "mounts", f"may not mount over the system path {echo(path)} (or under it)"
            )
        object.__setattr__(self, "path", path)


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupPolicy:
    """What the members of one group get; None (or empty) fields are no opinion."""

    LIMITS: ClassVar[Mapping[str, Bounds]] = MappingProxyType(
        {
            "memory_limit": (64 * MIB, None),
            "pids_limit": (64, 4_194_304),
            "gpus": (0, 64),
            "storage_quota": (MIB, None),
            "idle_timeout_seconds": (60, 365 * 86_400),
            "max_extension_hours": (0, 24 * 365),
        }
    )
    #: The most cores a CPU limit may name (a float: half a core is 0.5).
    MAX_CPU_LIMIT: ClassVar[float] = 1024.0

    group: str
    cpu_limit: float | None = None
    memory_limit: int | None = None
    pids_limit: int | None = None
    gpus: int | None = None
    gpu_sharing: GpuSharing = GpuSharing.EXCLUSIVE
    images: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    mounts: tuple[Mount, ...] = ()
    docker_socket: bool = False
    docker_privileged: bool = False
    idle_timeout_seconds: int | None = None
    max_extension_hours: int | None = None
    storage_quota: int | None = None

    def __post_init__(self) -> None:
        non_empty_text("group", self.group)
        if len(self.group) > _GROUP_NAME_LIMIT:
            raise InvalidValue("group", f"must be at most {_GROUP_NAME_LIMIT} characters")
        if self.cpu_limit is not None:
            cpu = self.cpu_limit
            if isinstance(cpu, bool) or not isinstance(cpu, (int, float)):
                raise InvalidValue("cpu_limit", f"must be a number of cores, got {echo(cpu)}")
            if not 0 < cpu <= self.MAX_CPU_LIMIT:
                raise InvalidValue(
                    "cpu_limit",
                    f"must be more than 0 and at most {self.MAX_CPU_LIMIT:g} cores, got {cpu}",
                )
            object.__setattr__(self, "cpu_limit", float(cpu))
        set_limits = {name: b for name, b in self.LIMITS.items() if getattr(self, name) is not None}
        check_bounds(self, set_limits)
        if not isinstance(self.gpu_sharing, GpuSharing):
            raise InvalidValue(
                "gpu_sharing", f"must be exclusive or shared, got {echo(self.gpu_sharing)}"
            )
        for image in self.images:
            if not isinstance(image, str) or not image.strip():
                raise InvalidValue("images", f"must be image names, got {echo(image)}")
        if len(set(self.images)) != len(self.images):
            raise InvalidValue("images", "names an image twice")
        for name, value in self.environment.items():
            if not isinstance(name, str) or not _ENVIRONMENT_NAME.match(name):
                raise InvalidValue("environment", f"{echo(name)} is not a variable name")
            if reserved_environment_name(name):
                raise InvalidValue(
                    "environment",
                    f"{echo(name)} is set by JupyterHub or the platform and may not be changed",
                )
            if not isinstance(value, str):
                raise InvalidValue("environment", f"{echo(name)} must be text, got {echo(value)}")
        object.__setattr__(self, "environment", MappingProxyType(dict(self.environment)))
        paths = [mount.path for mount in self.mounts]
        twice = sorted({path for path in paths if paths.count(path) > 1})
        if twice:
            raise InvalidValue("mounts", f"mounts twice at {echo_items(twice)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformDefaults:
    """What a user gets where no policy of theirs decides: the deployer's settings (None for a
    limit means no limit)."""

    cpu_limit: float | None = None
    memory_limit: int | None = None
    pids_limit: int | None = None
    gpus: int = 0
    gpu_sharing: GpuSharing = GpuSharing.EXCLUSIVE
    image: str = ""
    idle_timeout_seconds: int = 86_400
    max_extension_hours: int = 24
    storage_quota: int | None = None


#: The fields of EffectiveResources that a policy may decide, for `EffectiveResources.sources`.
DECIDED_FIELDS = (
    "cpu_limit",
    "memory_limit",
    "pids_limit",
    "gpus",
    "gpu_sharing",
    "images",
    "image",
    "docker_socket",
    "docker_privileged",
    "idle_timeout_seconds",
    "max_extension_hours",
    "storage_quota",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class EffectiveResources:
    """What one user's servers get, and from which group each value came.

    `sources` maps a field (and `environment:NAME`, `mounts:PATH`) to the group whose policy
    decided it; a field absent from it is the platform's default.
    """

    cpu_limit: float | None
    memory_limit: int | None
    pids_limit: int | None
    gpus: int
    gpu_sharing: GpuSharing
    images: tuple[str, ...]
    image: str
    environment: Mapping[str, str]
    mounts: tuple[Mount, ...]
    docker_socket: bool
    docker_privileged: bool
    idle_timeout_seconds: int
    max_extension_hours: int
    storage_quota: int | None
    sources: Mapping[str, str]

    def allows_image(self, image: str) -> bool:
        return image in self.images


def _most_generous(policies: Sequence[GroupPolicy], name: str) -> tuple[float, str] | None:
    """The largest value of `name` the policies set, and the first policy that sets it."""
    best: tuple[float, str] | None = None
    for policy in policies:
        value = getattr(policy, name)
        if value is not None and (best is None or value > best[0]):
            best = (value, policy.group)
    return best


def applying(policies: Sequence[GroupPolicy], groups: Iterable[str]) -> list[GroupPolicy]:
    """The policies of `groups`, in the admins' order."""
    member_of = set(groups)
    return [policy for policy in policies if policy.group in member_of]


def resolve(
    policies: Sequence[GroupPolicy], groups: Iterable[str], defaults: PlatformDefaults
) -> EffectiveResources:
    """What a member of `groups` gets from `policies` (every policy, in the admins' order) and
    the platform's `defaults`, by the rules of this module."""
    mine = applying(policies, groups)
    sources: dict[str, str] = {}

    def limit(name: str, default: float | None) -> float | None:
        decided = _most_generous(mine, name)
        if decided is None:
            return default
        sources[name] = decided[1]
        return decided[0]

    def whole(name: str, default: int | None) -> int | None:
        value = limit(name, default)
        return None if value is None else int(value)

    def session(name: str, default: int) -> int:
        decided = _most_generous(mine, name)
        if decided is None:
            return default
        sources[name] = decided[1]
        return int(decided[0])

    gpus, gpu_sharing = defaults.gpus, defaults.gpu_sharing
    granted = _most_generous(mine, "gpus")
    if granted is not None:
        gpus = int(granted[0])
        gpu_sharing = next(p.gpu_sharing for p in mine if p.group == granted[1])
        sources["gpus"] = sources["gpu_sharing"] = granted[1]
    images: list[str] = []
    for policy in mine:
        for image in policy.images:
            if image not in images:
                images.append(image)
                sources.setdefault("images", policy.group)
    if images:
        sources["image"] = sources["images"]
    elif defaults.image:
        images = [defaults.image]
    environment: dict[str, str] = {}
    mounts: dict[str, Mount] = {}
    for policy in mine:
        for name, value in policy.environment.items():
            if name not in environment:
                environment[name] = value
                sources[f"environment:{name}"] = policy.group
        for mount in policy.mounts:
            if mount.path not in mounts:
                mounts[mount.path] = mount
                sources[f"mounts:{mount.path}"] = policy.group
    for name in ("docker_socket", "docker_privileged"):
        granting = next((p.group for p in mine if getattr(p, name)), None)
        if granting is not None:
            sources[name] = granting
    return EffectiveResources(
        cpu_limit=limit("cpu_limit", defaults.cpu_limit),
        memory_limit=whole("memory_limit", defaults.memory_limit),
        pids_limit=whole("pids_limit", defaults.pids_limit),
        gpus=gpus,
        gpu_sharing=gpu_sharing,
        images=tuple(images),
        image=images[0] if images else defaults.image,
        environment=MappingProxyType(environment),
        mounts=tuple(mounts[path] for path in sorted(mounts)),
        docker_socket="docker_socket" in sources,
        docker_privileged="docker_privileged" in sources,
        idle_timeout_seconds=session("idle_timeout_seconds", defaults.idle_timeout_seconds),
        max_extension_hours=session("max_extension_hours", defaults.max_extension_hours),
        storage_quota=whole("storage_quota", defaults.storage_quota),
        sources=MappingProxyType(sources),
    )


def order_policies(policies: Iterable[GroupPolicy], order: Sequence[str]) -> list[GroupPolicy]:
    """Policies in the admins' `order` of group names; groups the order does not name come
    after it, by name (a policy made since the order was saved)."""
    rank = {group: index for index, group in enumerate(order)}
    return sorted(policies, key=lambda p: (rank.get(p.group, len(rank)), p.group))
