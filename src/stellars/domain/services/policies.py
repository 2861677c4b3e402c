"""Group policies in the platform: what each user's servers get, from the policies of the user's
groups by the rule of `stellars.domain.policies`, and the admins' changes to the policies.

On top of that rule, the platform's own:

- **Docker access is a policy type.** The built-in groups (`docker-sock`, `docker-privileged`,
  `stellars.domain.docker_access`) are policies granting the host's socket or a privileged
  container, implicit ones unless a policy of that group is stored (which then keeps its
  grant). Grants combine, so one rule decides a user's Docker access, for a spawn and for a
  restart in place alike.
- **Images from the deployer's list.** A policy may name only the images the deployer allows
  (`SpawnerSettings.allowed_image_list`: the lab image alone unless configured).
- **The platform's own mounts stay the platform's.** A policy may not mount over a mount
  point of the platform (the user volumes', the shared volume's: DockerSpawner's `volumes`)
  or above one (which would cover it), nor mount one of the platform's own volumes elsewhere
  (another user's volume; the shared volume, whose mode is the deployer's setting).
- Those two are refused when a policy is put, naming the field. A stored policy that breaks
  them anyway (the deployer narrowed the list since, or someone edited the group's properties
  by hand) loses the values at fault when it is applied, with a warning in the log.
- **One mount per volume.** Docker mounts a volume once per container: when a user's policies
  mount one volume at several paths, the first path (in path order) is kept.
- **Sessions.** A user's session policy is the platform's with the user's effective idle
  timeout and maximum extension (`session_policy`); the session routes, the activity table,
  the cull warnings and the culler's arbiter all use it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from string import Formatter
from types import MappingProxyType

from stellars.domain.docker_access import DockerAccess, DockerAccessGroups
from stellars.domain.errors import InvalidValue, NotFound
from stellars.domain.gpu import GpuDecision
from stellars.domain.hub import HubUser
from stellars.domain.limits import LabLimits
from stellars.domain.policies import (
    EffectiveResources,
    GroupPolicy,
    Mount,
    PlatformDefaults,
    resolve,
)
from stellars.domain.sessions import SessionPolicy
from stellars.domain.settings import PlatformSettings
from stellars.domain.validation import echo, echo_items
from stellars.ports.hub_directory import HubDirectory
from stellars.ports.policies import PolicyReader, PolicyStore

from .lookup import existing_user

_LOG = logging.getLogger(__name__)


def platform_defaults(
    settings: PlatformSettings, gpu: GpuDecision, limits: LabLimits | None = None
) -> PlatformDefaults:
    """What a user gets where no policy of theirs decides: the lab image, the lab limits in
    effect (resolved at start; None: no limit), the culler's idle timeout and maximum
    extension, the storage quota (None: no quota), and the GPUs the settings give each server
    (`gpu.per_server`, shared or not as `gpu.sharing` says; none while GPUs are off or none was
    found)."""
    limits = limits or LabLimits()
    return PlatformDefaults(
        cpu_limit=limits.cpu_limit,
        memory_limit=limits.memory_limit,
        pids_limit=limits.pids_limit,
        image=settings.spawner.image,
        gpus=settings.gpu.per_server if gpu.enabled else 0,
        gpu_sharing=settings.gpu.sharing,
        idle_timeout_seconds=settings.sessions.idle_timeout_seconds,
        max_extension_hours=settings.sessions.max_extension_hours,
        storage_quota=settings.quotas.quota,
    )


def session_policy(base: SessionPolicy, resources: EffectiveResources) -> SessionPolicy:
    """The platform's session policy with a user's effective idle timeout and maximum
    extension."""
    return replace(
        base,
        idle_timeout_seconds=resources.idle_timeout_seconds,
        max_extension_hours=resources.max_extension_hours,
    )


def docker_access_of(resources: EffectiveResources) -> DockerAccess:
    """The Docker access a user's servers get."""
    return DockerAccess(
        mount_socket=resources.docker_socket, privileged=resources.docker_privileged
    )


def with_docker_access(
    policies: Sequence[GroupPolicy], access: DockerAccessGroups
) -> list[GroupPolicy]:
    """`policies` with the built-in Docker-access groups as policies granting their access: a
    stored policy of such a group gets the grant, and a group with none stored gets an implicit
    policy after the stored ones."""

    def granting(policy: GroupPolicy) -> GroupPolicy:
        socket = policy.docker_socket or policy.group == access.socket_group
        privileged = policy.docker_privileged or policy.group == access.privileged_group
        if (socket, privileged) == (policy.docker_socket, policy.docker_privileged):
            return policy
        return replace(policy, docker_socket=socket, docker_privileged=privileged)

    granted = [granting(policy) for policy in policies]
    stored = {policy.group for policy in policies}
    implicit = [
        granting(GroupPolicy(group=group))
        for group in dict.fromkeys(access.names)
        if group not in stored
    ]
    return granted + implicit


def _path(spec: object) -> str | None:
    """The mount point of one entry of DockerSpawner's volumes (a path, or {"bind": path})."""
    point = spec.get("bind") if isinstance(spec, Mapping) else spec
    if not isinstance(point, str):
        return None
    return "/" + "/".join(part for part in point.split("/") if part not in ("", "."))


def platform_mount_points(volumes: Mapping[str, object]) -> tuple[str, ...]:
    """Where the platform mounts its own volumes (DockerSpawner's `volumes`), normalised."""
    return tuple(sorted({path for spec in volumes.values() if (path := _path(spec)) is not None}))


def _name_pattern(template: str) -> re.Pattern[str]:
    """A volume name template ("jupyterlab-{username}_home") as a pattern every name it gives
    matches: its literal text, and any text for each field."""
    parts = []
    for literal, field_name, _, _ in Formatter().parse(template):
        parts.append(re.escape(literal))
        if field_name is not None:
            parts.append(".+")
    return re.compile("".join(parts))


def platform_volume(name: str, volumes: Mapping[str, object]) -> bool:
    """Whether `name` is, or could be, one of the platform's own volumes: the shared volume, or
    the volume a name template gives some user."""
    return any(_name_pattern(template).fullmatch(name) for template in volumes)


def mount_problem(mount: Mount, volumes: Mapping[str, object]) -> str | None:
    """Why a policy may not hold `mount` on a platform with DockerSpawner's `volumes` (None: it
    may)."""
    if platform_volume(mount.volume, volumes):
        return (
            f"the volume {echo(mount.volume)} is one of the platform's own (a user's volume or "
            "the shared volume)"
        )
    for point in platform_mount_points(volumes):
        if mount.path == point or point.startswith(mount.path + "/"):
            return f"may not mount over the platform's own mount point {echo(point)}"
    return None


@dataclass(frozen=True, slots=True)
class UserResources:
    """What one user's servers get, for the user's groups."""

    username: str
    groups: tuple[str, ...]
    resources: EffectiveResources


@dataclass(frozen=True, slots=True)
class PolicyOverview:
    """Everything the admins' policies page shows: the policies in order, the hub's groups,
    the images a policy may name, the built-in Docker-access groups and the defaults."""

    policies: tuple[GroupPolicy, ...]
    groups: tuple[str, ...]
    allowed_images: tuple[str, ...]
    access_groups: DockerAccessGroups
    defaults: PlatformDefaults


class PolicyResolver:
    """What users get from the stored policies (read through `reader`), by the rules above.

    `defaults` gives the platform's defaults at the time of asking (the GPU decision changes
    once the probe answers); `allowed_images` are the images a policy may name (None: not
    checked, for a reader that never starts a server, such as the culler); `volumes` is
    DockerSpawner's `volumes` (the platform's own mounts); `access_groups` the built-in
    Docker-access groups.
    """

    def __init__(
        self,
        *,
        reader: PolicyReader,
        directory: HubDirectory,
        defaults: Callable[[], PlatformDefaults],
        allowed_images: Sequence[str] | None,
        volumes: Mapping[str, object],
        access_groups: DockerAccessGroups,
    ) -> None:
        self._reader = reader
        self._directory = directory
        self._defaults = defaults
        self.allowed_images = None if allowed_images is None else tuple(allowed_images)
        self.volumes = MappingProxyType(dict(volumes))
        self.access_groups = access_groups

    @property
    def defaults(self) -> PlatformDefaults:
        return self._defaults()

    def usable(self, policy: GroupPolicy) -> GroupPolicy:
        """`policy` without the images and mounts the platform does not allow (logged)."""
        allowed = self.allowed_images
        images = tuple(i for i in policy.images if allowed is None or i in allowed)
        mounts = tuple(m for m in policy.mounts if mount_problem(m, self.volumes) is None)
        if (images, mounts) == (policy.images, policy.mounts):
            return policy
        dropped = [
            *(i for i in policy.images if i not in images),
            *(f"{m.volume}:{m.path}" for m in policy.mounts if m not in mounts),
        ]
        _LOG.warning(
            "the policy of group %r names what the platform does not allow; left out: %s",
            policy.group,
            echo_items(dropped),
        )
        return replace(policy, images=images, mounts=mounts)

    def _resolve(
        self, stored: Sequence[GroupPolicy], groups: Iterable[str], defaults: PlatformDefaults
    ) -> EffectiveResources:
        policies = with_docker_access([self.usable(p) for p in stored], self.access_groups)
        return _one_mount_per_volume(resolve(policies, groups, defaults))

    async def effective_for_groups(self, groups: Iterable[str]) -> EffectiveResources:
        """What a member of `groups` gets (one read of those groups' policies)."""
        member_of = frozenset(groups)
        stored = await self._reader.for_groups(member_of)
        return self._resolve(stored, member_of, self._defaults())

    async def effective_for(self, username: str) -> UserResources:
        """What `username`'s servers get, with the groups it comes from. Raises NotFound."""
        user = await existing_user(self._directory, username)
        resources = await self.effective_for_groups(user.groups)
        return UserResources(user.name, tuple(sorted(user.groups)), resources)

    def _session_defaults(self, base: SessionPolicy) -> PlatformDefaults:
        return replace(
            self._defaults(),
            idle_timeout_seconds=base.idle_timeout_seconds,
            max_extension_hours=base.max_extension_hours,
        )

    async def session_policy_for(self, user: HubUser, base: SessionPolicy) -> SessionPolicy:
        """`base` with `user`'s effective idle timeout and maximum extension."""
        stored = await self._reader.for_groups(user.groups)
        resolved = self._resolve(stored, user.groups, self._session_defaults(base))
        return session_policy(base, resolved)

    async def session_policies(
        self, groups_of: Mapping[str, Iterable[str]], base: SessionPolicy
    ) -> dict[str, SessionPolicy]:
        """The session policy of each user of `groups_of` (user name -> groups), with one read
        of every policy; users in the same groups share one resolution."""
        stored = await self._reader.in_order()
        defaults = self._session_defaults(base)
        by_groups: dict[frozenset[str], SessionPolicy] = {}
        policies = {}
        for name, groups in groups_of.items():
            key = frozenset(groups)
            if key not in by_groups:
                by_groups[key] = session_policy(base, self._resolve(stored, key, defaults))
            policies[name] = by_groups[key]
        return policies

    async def effective_by_user(
        self, groups_of: Mapping[str, Iterable[str]]
    ) -> dict[str, EffectiveResources]:
        """What each user of `groups_of` (user name -> groups) gets, with one read of every
        policy; users in the same groups share one resolution."""
        stored = await self._reader.in_order()
        defaults = self._defaults()
        by_groups: dict[frozenset[str], EffectiveResources] = {}
        resolved = {}
        for name, groups in groups_of.items():
            key = frozenset(groups)
            if key not in by_groups:
                by_groups[key] = self._resolve(stored, key, defaults)
            resolved[name] = by_groups[key]
        return resolved


def _one_mount_per_volume(resources: EffectiveResources) -> EffectiveResources:
    """`resources` with each volume mounted once, at its first path (module docstring)."""
    seen: set[str] = set()
    kept = []
    sources = dict(resources.sources)
    for mount in resources.mounts:
        if mount.volume in seen:
            del sources[f"mounts:{mount.path}"]
            continue
        seen.add(mount.volume)
        kept.append(mount)
    if len(kept) == len(resources.mounts):
        return resources
    return replace(resources, mounts=tuple(kept), sources=MappingProxyType(sources))


class PolicyService(PolicyResolver):
    """The admins' policies: listed with what the page needs, put (checked by the platform's
    rules), deleted and ordered, in the hub's groups (`store`). `allowed_images` is required
    here: a policy may name only those."""

    allowed_images: tuple[str, ...]

    def __init__(
        self,
        *,
        store: PolicyStore,
        directory: HubDirectory,
        defaults: Callable[[], PlatformDefaults],
        allowed_images: Sequence[str],
        volumes: Mapping[str, object],
        access_groups: DockerAccessGroups,
    ) -> None:
        super().__init__(
            reader=store,
            directory=directory,
            defaults=defaults,
            allowed_images=allowed_images,
            volumes=volumes,
            access_groups=access_groups,
        )
        self._store = store

    async def overview(self) -> PolicyOverview:
        """The policies in the admins' order, with the hub's groups and what a policy may
        name."""
        return PolicyOverview(
            policies=tuple(await self._store.in_order()),
            groups=tuple(await self._store.groups()),
            allowed_images=self.allowed_images,
            access_groups=self.access_groups,
            defaults=self._defaults(),
        )

    def check(self, policy: GroupPolicy) -> None:
        """Raise InvalidValue, naming the field, for what the platform does not allow in a
        policy (module docstring)."""
        for image in policy.images:
            if image not in self.allowed_images:
                raise InvalidValue(
                    "images",
                    f"{echo(image)} is not one of the images a policy may name: "
                    f"{', '.join(self.allowed_images)}",
                )
        volumes = [mount.volume for mount in policy.mounts]
        twice = sorted({volume for volume in volumes if volumes.count(volume) > 1})
        if twice:
            raise InvalidValue(
                "mounts", f"mounts the volume {echo_items(twice)} twice (Docker mounts it once)"
            )
        for mount in policy.mounts:
            problem = mount_problem(mount, self.volumes)
            if problem is not None:
                raise InvalidValue("mounts", problem)

    async def put(self, policy: GroupPolicy) -> GroupPolicy:
        """Store `policy` for its group (checked first); the policy as stored. Raises
        InvalidValue and NotFound (no such group)."""
        self.check(policy)
        await self._store.put(policy)
        stored = await self._store.get(policy.group)
        if stored is None:  # removed with its group meanwhile
            raise NotFound(f"No such group: {policy.group}")
        return stored

    async def _missing(self, group: str) -> NotFound:
        """Why `group` has no policy: it has none, or the hub has no such group."""
        if group in await self._store.groups():
            return NotFound(f"The group {group} has no policy.")
        return NotFound(f"No such group: {group}")

    async def policy(self, group: str) -> GroupPolicy:
        """The policy of `group`. Raises NotFound: no such group, or it has none."""
        found = await self._store.get(group)
        if found is None:
            raise await self._missing(group)
        return found

    async def delete(self, group: str) -> None:
        """Remove the policy of `group`. Raises NotFound: no such group, or it has none."""
        if not await self._store.delete(group):
            raise await self._missing(group)

    async def reorder(self, order: Sequence[str]) -> tuple[GroupPolicy, ...]:
        """Put the policies in the admins' `order` (group names); the policies in their new
        order. Raises InvalidValue("order") for a name given twice or a group without a
        policy."""
        twice = sorted({group for group in order if order.count(group) > 1})
        if twice:
            raise InvalidValue("order", f"names {echo_items(twice)} more than once")
        have = {policy.group for policy in await self._store.in_order()}
        missing = [group for group in order if group not in have]
        if missing:
            raise InvalidValue("order", f"{echo_items(missing)} has no policy")
        await self._store.reorder(order)
        return tuple(await self._store.in_order())
