"""Group policies: `/hub/policies` for admins, and their API (custom:stellars:policies):

- `GET /hub/api/policies`: the policies in the admins' order, the hub's groups, the images a
  policy may name, the built-in Docker-access groups and the platform's defaults;
- `PUT /hub/api/policies` `{"order": ["group", ...]}`: the admins' order (the groups named
  first, every other policy after them by name);
- `GET`, `PUT` (a policy document, `stellars.domain.policy_documents`) and `DELETE
  /hub/api/policies/{group}`: one group's policy; 404 for a group the hub does not have (or,
  for GET and DELETE, one without a policy);
- `GET /hub/api/users/{user}/resources` (custom:stellars:resources, which every user holds for
  themself): what the user's servers get, and from which group each value came (`sources`: a
  field absent from it is the platform's default);
- `GET /hub/api/users/{user}/storage` (the same scope): how much of their storage quota the
  user's volumes use, as last measured (`state`: none, unknown, under, warning at 90 %, over),
  with where the quota comes from and the route that resets volumes (`reset`), which works
  over the quota too.

Every bad value is a 400 naming its field: an unknown field, a negative memory limit, an image
outside the deployer's list, a reserved environment variable, a mount over a system path or
over one of the platform's own.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from jupyterhub.scopes import needs_scope
from tornado import web

from stellars.adapters.jupyterhub import scopes
from stellars.domain.audit import AuditAction
from stellars.domain.policies import GroupPolicy, PlatformDefaults
from stellars.domain.policy_documents import policy_document, policy_from_document
from stellars.domain.quotas import WARNING_PERCENT
from stellars.domain.services import PolicyOverview, UserResources, UserStorage

from .base import NAME_LIST_BODY_BYTES, StellarsAPIHandler, StellarsPageHandler
from .parsing import string_list
from .recording import some_names
from .wire import iso


def policy_json(policy: GroupPolicy) -> dict[str, Any]:
    """One policy: its group and its document."""
    return {"group": policy.group, **policy_document(policy)}


def defaults_json(defaults: PlatformDefaults) -> dict[str, Any]:
    """What a user gets where no policy of theirs decides."""
    return {**asdict(defaults), "gpu_sharing": defaults.gpu_sharing.value}


def overview_json(overview: PolicyOverview) -> dict[str, Any]:
    access = overview.access_groups
    return {
        "policies": [policy_json(policy) for policy in overview.policies],
        "groups": list(overview.groups),
        "allowed_images": list(overview.allowed_images),
        "builtin": [
            {"group": access.socket_group, "grants": "docker_socket"},
            {"group": access.privileged_group, "grants": "docker_privileged"},
        ],
        "defaults": defaults_json(overview.defaults),
    }


def resources_json(user: UserResources) -> dict[str, Any]:
    """What one user's servers get, every value with the group it came from in `sources`."""
    got = user.resources
    return {
        "username": user.username,
        "groups": list(user.groups),
        "cpu_limit": got.cpu_limit,
        "memory_limit": got.memory_limit,
        "pids_limit": got.pids_limit,
        "gpus": got.gpus,
        "gpu_sharing": got.gpu_sharing.value,
        "image": got.image,
        "images": list(got.images),
        "environment": dict(got.environment),
        "mounts": [
            {"volume": mount.volume, "path": mount.path, "read_only": mount.read_only}
            for mount in got.mounts
        ],
        "docker_socket": got.docker_socket,
        "docker_privileged": got.docker_privileged,
        "idle_timeout_seconds": got.idle_timeout_seconds,
        "max_extension_hours": got.max_extension_hours,
        "storage_quota": got.storage_quota,
        "sources": dict(got.sources),
    }


def storage_json(storage: UserStorage) -> dict[str, Any]:
    """One user's usage against their storage quota (bytes; null: unknown, or no quota)."""
    usage = storage.usage
    return {
        "username": storage.username,
        "used_bytes": usage.used_bytes,
        "quota_bytes": usage.quota_bytes,
        "percent": usage.percent,
        "state": usage.state.value,
        "text": usage.text,
        "warning_percent": WARNING_PERCENT,
        "quota_from": storage.quota_from,
        "measured_at": iso(storage.measured_at),
        "home_url": storage.home_url,
        "reset": {"method": "DELETE", "url": storage.reset_url},
    }


class PoliciesPage(StellarsPageHandler):
    """`GET /hub/policies`: JupyterHub's admin-ui scope and the policies API's own."""

    @web.authenticated
    @needs_scope("admin-ui")
    async def get(self) -> None:
        self.require_scope(scopes.POLICIES)
        await self.render_page("stellars-policies.html")


class PoliciesAPI(StellarsAPIHandler):
    """`GET /hub/api/policies` and `PUT /hub/api/policies` `{"order": [...]}`."""

    max_body_bytes = NAME_LIST_BODY_BYTES  # the order may name every group

    async def get(self) -> None:
        self.require_scope(scopes.POLICIES)
        self.write_json(overview_json(await self.platform.policies.overview()))

    async def put(self) -> None:
        note = self.audit(AuditAction.POLICY_CHANGED, subject="order")
        self.require_scope(scopes.POLICIES)
        order = string_list(self.read_json_object(), "order")
        note.details.update(some_names("order", order))
        policies = await self.platform.policies.reorder(order)
        self.log.info("policies ordered by %s: %s", self.current_user.name, len(policies))
        self.write_json({"policies": [policy_json(policy) for policy in policies]})


class PolicyAPI(StellarsAPIHandler):
    """`GET`, `PUT` and `DELETE /hub/api/policies/{group}`."""

    async def get(self, group: str) -> None:
        self.require_scope(scopes.POLICIES)
        policy = await self.platform.policies.policy(group)
        self.write_json(policy_json(policy))

    async def put(self, group: str) -> None:
        self.audit(AuditAction.POLICY_CHANGED, subject=group, change="saved")
        self.require_scope(scopes.POLICIES)
        policy = policy_from_document(group, self.read_json_object())
        stored = await self.platform.policies.put(policy)
        self.log.info("policy of group %s set by %s", group, self.current_user.name)
        self.write_json(
            {"message": f"The policy of {group} is saved.", "policy": policy_json(stored)}
        )

    async def delete(self, group: str) -> None:
        self.audit(AuditAction.POLICY_CHANGED, subject=group, change="removed")
        self.require_scope(scopes.POLICIES)
        await self.platform.policies.delete(group)
        self.log.info("policy of group %s removed by %s", group, self.current_user.name)
        self.write_json({"message": f"The policy of {group} is removed."})


class UserResourcesAPI(StellarsAPIHandler):
    """`GET /hub/api/users/{user}/resources`."""

    async def get(self, user_name: str) -> None:
        self.require_scope(scopes.RESOURCES, user=user_name)
        self.write_json(resources_json(await self.platform.policies.effective_for(user_name)))


class UserStorageAPI(StellarsAPIHandler):
    """`GET /hub/api/users/{user}/storage`."""

    async def get(self, user_name: str) -> None:
        self.require_scope(scopes.RESOURCES, user=user_name)
        self.write_json(storage_json(await self.platform.quotas.for_user(user_name)))


#: (pattern, handler) pairs relative to the hub prefix.
ROUTES: list[tuple[Any, ...]] = [
    (r"/policies", PoliciesPage),
    (r"/api/policies", PoliciesAPI),
    (r"/api/policies/([^/]+)", PolicyAPI),
    (r"/api/users/([^/]+)/resources", UserResourcesAPI),
    (r"/api/users/([^/]+)/storage", UserStorageAPI),
]
