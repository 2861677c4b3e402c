"""Storage quotas in the platform (`stellars.domain.quotas`): a user's usage against their quota,
the check before a start, and the warning inside a running lab.

- **Quota**: the user's effective one (`PolicyResolver`: the most generous of their groups'
  policies, else the deployer's `STELLARS_STORAGE_QUOTA`).
- **Usage**: the sizes of the user's own volumes from the background measurement
  (`VolumeService.sizes`: a page never waits on Docker). A volume left by another account of
  the same name is not the user's and is not counted (the spawn is refused for it anyway).
- **At a start**, over the quota the start is refused (`Refused`, a 409 at the spawn) with the
  usage, the quota and the volume reset offered. The measurement may be an hour old: a start it
  would refuse measures again first (once for all starts waiting, the refresher's shared pass),
  so a user who freed space or reset volumes since is not refused on old sizes; a measurement
  that fails then leaves the usage unknown, which never refuses.
- **Warning**: a pass (`check`, run by a background refresher) sends each running server of a
  user at the warning share or over it one notification through the broadcast transport, once
  per crossing: again only after the usage went under the warning share and came back, or for a
  new start of the server (a new lab, which did not see the first). An unknown usage neither
  warns nor re-arms the warning. A delivery that failed is tried again at the next pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias
from urllib.parse import quote

from stellars.domain.errors import Refused
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.notifications import Broadcast, Variant
from stellars.domain.quotas import (
    QuotaState,
    StorageUsage,
    over_quota_reason,
    storage_usage,
    warning_message,
)
from stellars.ports.hub_directory import HubDirectory
from stellars.ports.notifications import NotificationTransport

from .lookup import existing_user
from .policies import PolicyResolver
from .refresh import Snapshot
from .volumes import VolumeListing, VolumeService

_LOG = logging.getLogger(__name__)

#: A server the warning pass keeps track of: (user, server name, when it started).
ServerKey: TypeAlias = tuple[str, str, datetime | None]


@dataclass(frozen=True, slots=True)
class UserStorage:
    """One user's usage against their quota, with where the quota comes from (`quota_from`:
    the group whose policy set it; None: the platform's setting), when the sizes were measured
    (None: not yet) and how to reset volumes (`DELETE reset_url`, or the home page)."""

    username: str
    usage: StorageUsage
    quota_from: str | None
    measured_at: datetime | None
    home_url: str
    reset_url: str


@dataclass(frozen=True, slots=True)
class QuotaWarning:
    """One warning sent (or tried): to whom, at which usage, and how it went."""

    username: str
    server_name: str
    usage: StorageUsage
    delivered: bool
    error: str | None = None


class QuotaService:
    """Usage against quota for the API and the home page, the check at spawn and the warnings.

    `hub_url` is the hub's prefix (`/hub/`): the home page is under it, the reset route under
    its `api/`.
    """

    def __init__(
        self,
        *,
        directory: HubDirectory,
        volumes: VolumeService,
        policies: PolicyResolver,
        transport: NotificationTransport,
        hub_url: str,
    ) -> None:
        self._directory = directory
        self._volumes = volumes
        self._policies = policies
        self._transport = transport
        self.home_url = f"{hub_url}home"
        self._api_url = f"{hub_url}api/"
        self.sent = 0
        self.failed = 0
        self._warned: set[ServerKey] = set()

    @property
    def default_quota(self) -> int | None:
        """The quota of a user whose policies set none: the deployer's (None: no quota)."""
        return self._policies.defaults.storage_quota

    def reset_url(self, username: str) -> str:
        """The route that resets a user's volumes (DELETE, `{"volumes": [...]}`)."""
        return f"{self._api_url}users/{quote(username, safe='')}/manage-volumes"

    def usage_in(
        self, user: HubUser, quota: int | None, snapshot: Snapshot[VolumeListing]
    ) -> StorageUsage:
        """`user`'s usage in one measurement against `quota`: their own volumes' sizes, a
        volume that does not exist using nothing, any size not known making it unknown."""
        states = self._volumes.states_from(user, snapshot.value, measured=snapshot.ready)
        sizes = [
            0 if state.exists is False else state.size_bytes
            for state in states
            if state.owned is not False
        ]
        return storage_usage(sizes, quota)

    async def for_user(self, username: str) -> UserStorage:
        """One user's usage against their quota, from the last measurement. Raises NotFound."""
        user = await existing_user(self._directory, username)
        resources = await self._policies.effective_for_groups(user.groups)
        snapshot = self._volumes.sizes.snapshot()
        return UserStorage(
            username=user.name,
            usage=self.usage_in(user, resources.storage_quota, snapshot),
            quota_from=resources.sources.get("storage_quota"),
            measured_at=snapshot.refreshed_at,
            home_url=self.home_url,
            reset_url=self.reset_url(user.name),
        )

    async def check_spawn(
        self,
        username: str,
        *,
        user_id: int | None,
        created: datetime | None,
        quota: int | None,
    ) -> StorageUsage:
        """The usage a start of `username`'s server begins with; over `quota`, on a fresh
        measurement, raises Refused saying the usage, the quota and how to reset volumes."""
        user = HubUser(name=username, id=user_id, created=created)
        sizes = self._volumes.sizes
        usage = self.usage_in(user, quota, sizes.snapshot())
        if usage.state is not QuotaState.OVER:
            return usage
        fresh = await sizes.refresh_now()  # never refused on sizes an hour old
        if fresh.error is not None:
            _LOG.warning(
                "storage of %s not measured again (%s): the start goes ahead", username, fresh.error
            )
            return StorageUsage(None, quota)
        usage = self.usage_in(user, quota, fresh)
        if usage.state is QuotaState.OVER:
            raise Refused(
                over_quota_reason(
                    username, usage, home_url=self.home_url, reset_url=self.reset_url(username)
                )
            )
        return usage

    async def check(self) -> tuple[QuotaWarning, ...]:
        """One pass: the warnings sent now (module docstring)."""
        users = [user for user in await self._directory.list_users() if user.has_running_server]
        resources = await self._policies.effective_by_user({u.name: u.groups for u in users})
        snapshot = self._volumes.sizes.snapshot()
        sent: list[QuotaWarning] = []
        live: set[ServerKey] = set()
        for user in users:
            usage = self.usage_in(user, resources[user.name].storage_quota, snapshot)
            servers = sorted(
                (server for server in user.servers.values() if server.running),
                key=lambda server: server.name,
            )
            keys = [self._key(server) for server in servers]
            live.update(keys)
            if usage.state is QuotaState.UNKNOWN:
                continue  # neither a warning nor a re-arming
            if not usage.warns:
                self._warned.difference_update(keys)  # under again: the next crossing warns
                continue
            for server in servers:
                key = self._key(server)
                if key in self._warned:
                    continue
                result = await self._warn(server, usage)
                if result.delivered:
                    self._warned.add(key)
                sent.append(result)
        self._warned &= live
        return tuple(sent)

    @staticmethod
    def _key(server: ServerSnapshot) -> ServerKey:
        return (server.username, server.name, server.started)

    async def _warn(self, server: ServerSnapshot, usage: StorageUsage) -> QuotaWarning:
        broadcast = Broadcast(
            message=warning_message(usage),
            variant=Variant.WARNING,
            recipients=(server.username,),
        )
        reason: str | None
        try:
            delivery = await self._transport.deliver(server, broadcast)
        except Exception as error:  # a transport bug must not end the warnings
            delivered, reason = False, f"delivery failed: {error}"
        else:
            delivered, reason = delivery.ok, delivery.error
        if delivered:
            self.sent += 1
            _LOG.info("storage warning to %s/%s: %s", server.username, server.name, usage.text)
        else:
            self.failed += 1
            _LOG.warning(
                "could not warn %s/%s about storage: %s", server.username, server.name, reason
            )
        return QuotaWarning(server.username, server.name, usage, delivered, reason)
