"""DockerSpawner as the platform runs it: a poll that cannot reach the Docker engine, or that
comes while the platform restarts the container in place, says "still running"; a poll that
finds the container ended records why, before DockerSpawner removes it.

JupyterHub polls a user's spawner on every visit to the home page and on its periodic checks.
Stock DockerSpawner lets the engine's connection error escape from `poll`, so while the engine is
away (restarting, socket relay down) every user with a running server gets a 500 on /hub/home.
The container's state is unknown then, not "stopped": keeping the server's record is what lets
the next poll, once the engine answers, see the real state; reporting an exit would make the hub
forget a container that still runs.

A restart in place stops and starts the same container. A periodic poll that lands while it is
down would report an exit, and JupyterHub would remove the server's route and stop it, taking
the container with it; the platform sets `restart_in_progress` for the restart's duration.

A poll that finds the container stopped is a stop nobody asked the hub for: the kernel's OOM
killer, a crash, a shutdown from inside the lab. JupyterHub then stops the server, and
DockerSpawner removes the container with the engine's account of its end, so the poll reads
that account first (`State.OOMKilled`, `State.ExitCode`, `State.FinishedAt`,
`HostConfig.Memory`) and hands it to the platform (`stellars.domain.stops` has the rule), which
tells the user why on the home page and in the API. A new start forgets the last stop.

JupyterHub calls a spawner's `stop` only for a server its poll finds running, so the stock
DockerSpawner never removes a container that ended by itself (an engine restart ends them all):
with `remove` on, the poll that finds it ended removes it, after reading its account.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import requests
from dockerspawner import DockerSpawner

from stellars.domain.services import ServerStopService
from stellars.domain.stops import ContainerExit

from .attach import PLUGIN_SETTING

log = logging.getLogger(__name__)

#: What the engine writes as the end of a container that never ended.
_NEVER = "0001-01-01T00:00:00Z"


def engine_time(text: object) -> datetime | None:
    """A time as the engine writes it (RFC 3339 in UTC with up to nanoseconds:
    "2026-05-01T12:00:00.123456789Z") as an aware datetime; None for none or the zero time."""
    if not isinstance(text, str) or not text or text == _NEVER:
        return None
    stamp = text.removesuffix("Z")
    whole, _, fraction = stamp.partition(".")
    try:
        moment = datetime.fromisoformat(whole).replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    if fraction.isdigit():
        moment = moment.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    return moment


def container_exit(container: Mapping[str, Any]) -> ContainerExit | None:
    """How a container ended, from its `docker inspect`; None while it runs or when the answer
    does not say."""
    state = container.get("State") or {}
    if state.get("Running", True) or not isinstance(state.get("ExitCode"), int):
        return None
    memory = (container.get("HostConfig") or {}).get("Memory")
    return ContainerExit(
        exit_code=state["ExitCode"],
        oom_killed=state.get("OOMKilled") is True,
        finished_at=engine_time(state.get("FinishedAt")),
        memory_limit=memory if isinstance(memory, int) and memory > 0 else None,
        error=str(state.get("Error") or ""),
    )


class EngineTolerantDockerSpawner(DockerSpawner):
    """DockerSpawner with `poll` answering None (running) while the engine is unreachable or
    the platform restarts the container, and recording why a container it finds ended."""

    #: Set by the platform (HubLabServers.restarting) while it restarts the container in place.
    restart_in_progress = False
    #: The container as the last `get_object` saw it (None: gone, or not looked at yet).
    inspected: Mapping[str, Any] | None = None

    async def get_object(self) -> Any:
        self.inspected = found = await super().get_object()
        return found

    async def poll(self) -> int | str | None:
        if self.restart_in_progress:
            return None
        self.inspected = None
        try:
            status: int | str | None = await super().poll()
        except requests.exceptions.ConnectionError as error:
            self.log.warning(
                "Docker engine unreachable while polling %s; keeping its server as running: %s",
                self.container_name,
                error,
            )
            return None
        if status is not None and self.inspected is not None:
            ended = container_exit(self.inspected)
            if ended is not None:
                await self.record_exit(ended)
                await self.remove_ended()
        return status

    async def remove_ended(self) -> None:
        """Remove a container found ended, as `stop` would have: JupyterHub stops a server
        whose poll reports an exit without calling the spawner's `stop` (the container is not
        running), so DockerSpawner's `remove` never applied and the dead container kept the
        user's volumes in use (a reset refused) until the next start. A failure is logged,
        never raised (the hub must still learn that the server stopped)."""
        if not self.remove:
            return
        try:
            await self.remove_object()
        except Exception:
            self.log.exception("could not remove the ended container of %s", self._log_name)

    async def start(self) -> Any:
        stops = self.stop_service()
        if stops is not None:
            try:
                await stops.starting(self.user.name, self.name)
            except Exception as error:  # a stale message must never keep a lab from starting
                self.log.warning("could not forget the last stop of %s: %s", self._log_name, error)
        return await super().start()

    async def record_exit(self, ended: ContainerExit) -> None:
        """Hand the platform how the container ended; a failure is logged, never raised (the
        hub must still learn that the server stopped)."""
        stops = self.stop_service()
        if stops is None:
            return
        try:
            stop = await stops.exited(self.user.name, self.name, ended)
        except Exception:
            self.log.exception("could not record how %s stopped", self._log_name)
            return
        self.log.warning("server %s %s", self._log_name, stop.message)

    def stop_service(self) -> ServerStopService | None:
        """The platform's stop service, reached through the hub's settings (None outside a
        hub that runs the platform)."""
        settings = getattr(self.user, "settings", None) or {}
        plugin = settings.get(PLUGIN_SETTING)
        return plugin.platform.stops if plugin is not None else None
