"""Restarting a user's server in place, answered only once the lab serves again.

A restart keeps the container, its volumes and its settings (the engine stops and starts the
same container), and:

- the hub is told where the lab listens after the restart (an engine publishes a new host port
  at every restart; a proxy route to the old one is dead), and
- "ready is not serving": the restart is reported done only when the lab answers its API at its
  URL, within a deadline, so a page that reloads lands in a working lab.

A restart in place also keeps the Docker access the container was created with (the socket
mount, the privileged flag), which the user's groups grant at each start (the built-in groups
and any group policy granting it: the user's effective access, `services.policies`). A restart
whose access no longer matches the effective access is refused, with the container untouched,
and the user told to stop and start the server, which applies the current access.

Docker runs on the engine adapter's thread pool; nothing here blocks the event loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from stellars.domain.docker_access import DockerAccessGroups, access_changes, docker_access_for
from stellars.domain.errors import BackendUnavailable, Conflict, InvalidValue, Refused
from stellars.domain.hub import DEFAULT_SERVER, HubUser
from stellars.domain.volumes import DockerNaming, container_name
from stellars.ports.clock import Clock
from stellars.ports.containers import ContainerControl
from stellars.ports.hub_directory import HubDirectory
from stellars.ports.servers import LabServers

from .lookup import existing_user
from .policies import PolicyResolver, docker_access_of
from .refresh import Timer


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@dataclass(frozen=True, slots=True)
class RestartReport:
    """A restart that ended with the lab serving again."""

    username: str
    server_name: str
    container: str
    moved: bool  # whether the lab listens at a new address since the restart
    checks: int  # how many times the lab was asked before it answered

    @property
    def message(self) -> str:
        return f"The server of {self.username} restarted and answers again."


class ServerService:
    """Restarts running servers, one restart per server at a time, only while their Docker
    access still matches what the user's groups grant (`policies`, the effective access; without
    it, the built-in groups of `access_groups` alone).

    `stop_timeout_seconds` is what the lab's processes get to stop before they are killed;
    `serve_timeout` bounds the wait for the lab to answer afterwards, asking every
    `poll_seconds` (`sleep` waits; a test passes one that moves its clock).
    """

    def __init__(
        self,
        *,
        directory: HubDirectory,
        containers: ContainerControl,
        lab: LabServers,
        clock: Clock,
        naming: DockerNaming,
        access_groups: DockerAccessGroups,
        stop_timeout_seconds: int = 10,
        serve_timeout: timedelta = timedelta(seconds=120),
        poll_seconds: float = 0.5,
        sleep: Timer = _sleep,
        policies: PolicyResolver | None = None,
    ) -> None:
        if serve_timeout <= timedelta(0):
            raise InvalidValue("serve_timeout", f"must be positive, got {serve_timeout}")
        if poll_seconds <= 0:
            raise InvalidValue("poll_seconds", f"must be positive, got {poll_seconds}")
        self._directory = directory
        self._containers = containers
        self._lab = lab
        self._clock = clock
        self.naming = naming
        self.access_groups = access_groups
        self.stop_timeout_seconds = stop_timeout_seconds
        self.serve_timeout = serve_timeout
        self.poll_seconds = poll_seconds
        self._sleep = sleep
        self._policies = policies
        self._restarting: set[tuple[str, str]] = set()

    async def restart(self, username: str, server_name: str = DEFAULT_SERVER) -> RestartReport:
        """Restart a running server and wait until it serves.

        Raises NotFound (no such user), Conflict (not running, starting or stopping, or
        already restarting), Refused (the user's Docker access changed since the container was
        created; nothing is restarted), ContainerNotFound, and BackendUnavailable (the engine
        failed, or the lab did not answer within the deadline).
        """
        user = await existing_user(self._directory, username)
        server = user.servers.get(server_name)
        if server is None:
            raise Conflict("The server is not running.")
        if not server.running:
            raise Conflict("The server is starting or stopping; restart it once it runs.")
        key = (username, server_name)
        if key in self._restarting:
            raise Conflict("The server is already restarting.")
        self._restarting.add(key)
        container = container_name(username, self.naming, server_name)
        try:
            await self._refuse_changed_access(user, container)
            # Held until the lab serves: the hub must not take the restart for an exit.
            async with self._lab.restarting(username, server_name):
                await self._containers.restart(container, timeout_seconds=self.stop_timeout_seconds)
                moved = await self._lab.reconnect(username, server_name)
                checks = await self._until_serving(username, server_name)
        finally:
            self._restarting.discard(key)
        return RestartReport(username, server_name, container, moved, checks)

    async def _refuse_changed_access(self, user: HubUser, container: str) -> None:
        """Refuse the restart when the container's Docker access is not what the user's groups
        grant now (it would keep a grant the user lost, or miss one they got)."""
        created_with = await self._containers.docker_access(
            container, socket_path=self.access_groups.socket_path
        )
        if self._policies is None:
            current = docker_access_for(user.groups, self.access_groups)
        else:
            current = docker_access_of(await self._policies.effective_for_groups(user.groups))
        changes = access_changes(created_with, current)
        if changes:
            raise Refused(
                f"Your Docker access changed since this server started ({'; '.join(changes)}): "
                "stop the server and start it again to apply it."
            )

    async def _until_serving(self, username: str, server_name: str) -> int:
        deadline = self._clock.now() + self.serve_timeout
        checks = 0
        while True:
            checks += 1
            if await self._lab.answers(username, server_name):
                return checks
            if self._clock.now() >= deadline:
                seconds = self.serve_timeout.total_seconds()
                raise BackendUnavailable(
                    f"The server of {username} restarted but did not answer within "
                    f"{seconds:g} s; it may still be starting."
                )
            await self._sleep(self.poll_seconds)
