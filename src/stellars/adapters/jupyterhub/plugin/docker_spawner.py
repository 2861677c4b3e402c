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
`HostConfig.Memory`) and the last lines of the container's log, and hands them to the platform
(`stellars.domain.stops` has the rule), which tells the user why on the home page and in the
API. A poll that finds no container at all (removed behind the hub's back, an engine that lost
it) records the server as lost by the engine.

A stop the hub is asked for runs `stop`, inside the API request that asked (JupyterHub's
`DELETE /hub/api/users/{user}/server`, which the platform serves with its requester known:
`hub_objects.requester`): once the container is stopped, the stop is recorded as its user's,
an admin's or a service's. A stop outside any request (the hub's own shutdown) records nothing.
The idle culler records its own reason before it asks, and the rule keeps that one. A new
start forgets the last stop.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import requests
from dockerspawner import DockerSpawner

from stellars.adapters.jupyterhub.hub_objects import current_requester
from stellars.domain.services import ServerStopService
from stellars.domain.stops import LOG_TAIL_LINES, ContainerExit, ServerStop, StopReason

from .attach import PLUGIN_SETTING

log = logging.getLogger(__name__)

#: What the engine writes as the end of a container that never ended.
_NEVER = "0001-01-01T00:00:00Z"
#: The most bytes of a container's log read with its exit (its last ones): the lines kept are
#: far fewer, and a log of one endless line must not be read whole.
LOG_READ_BYTES = 256 * 1024
#: What a poll that finds no container records.
CONTAINER_GONE = "its container is gone"


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
        had_container = bool(self.object_id)  # a start that failed before creating one had none
        try:
            status: int | str | None = await super().poll()
        except requests.exceptions.ConnectionError as error:
            self.log.warning(
                "Docker engine unreachable while polling %s; keeping its server as running: %s",
                self.container_name,
                error,
            )
            return None
        if status is not None:
            if self.inspected is None:  # DockerSpawner found no container at all
                if had_container:
                    await self.record(
                        lambda stops: stops.lost(self.user.name, self.name, CONTAINER_GONE)
                    )
            else:
                ended = container_exit(self.inspected)
                if ended is not None:
                    await self.record_exit(replace(ended, log=await self.log_tail()))
        return status

    async def stop(self, now: bool = False) -> None:
        asked = current_requester()
        stops = self.stop_service()
        # The stop is dated when it began: the container's end the engine reports comes after.
        began = stops.clock.now() if stops is not None else None
        await super().stop(now=now)
        if asked is not None:
            await self.record(
                lambda stops: stops.requested(
                    self.user.name, self.name, by=asked.name, by_service=asked.service, at=began
                )
            )

    async def log_tail(self) -> str:
        """The last lines of the inspected container's log ("" when the engine does not give
        them: the stop is recorded without)."""
        container_id = (self.inspected or {}).get("Id")
        if not container_id:
            return ""
        try:
            raw = await self.docker(
                "logs", container_id, stdout=True, stderr=True, tail=LOG_TAIL_LINES
            )
        except Exception as error:  # the docker SDK's errors; the log is a courtesy
            self.log.warning("could not read the log of %s: %s", self._log_name, error)
            return ""
        if not isinstance(raw, bytes):
            return ""
        return raw[-LOG_READ_BYTES:].decode("utf-8", errors="replace")

    async def start(self) -> Any:
        stops = self.stop_service()
        if stops is not None:
            try:
                await stops.starting(self.user.name, self.name)
            except Exception as error:  # a stale message must never keep a lab from starting
                self.log.warning("could not forget the last stop of %s: %s", self._log_name, error)
        return await super().start()

    async def record_exit(self, ended: ContainerExit) -> None:
        """Hand the platform how the container ended (see `record`)."""
        await self.record(lambda stops: stops.exited(self.user.name, self.name, ended))

    async def record_restart(self, by: str) -> None:
        """Hand the platform a restart in place that `by` asked for (see `record`)."""
        await self.record(lambda stops: stops.restarted(self.user.name, self.name, by=by))

    async def record(self, recording: Callable[[ServerStopService], Awaitable[ServerStop]]) -> None:
        """Record a stop through the platform's stop service; a failure is logged, never
        raised (the hub must still learn that the server stopped)."""
        stops = self.stop_service()
        if stops is None:
            return
        try:
            stop = await recording(stops)
        except Exception:
            self.log.exception("could not record how %s stopped", self._log_name)
            return
        # A stop somebody asked for is news for nobody; one that happened to the server is.
        chosen = stop.requested or stop.reason is StopReason.RESTARTED
        self.log.log(
            logging.INFO if chosen else logging.WARNING,
            "server %s %s",
            self._log_name,
            stop.message,
        )

    def stop_service(self) -> ServerStopService | None:
        """The platform's stop service, reached through the hub's settings (None outside a
        hub that runs the platform)."""
        settings = getattr(self.user, "settings", None) or {}
        plugin = settings.get(PLUGIN_SETTING)
        return plugin.platform.stops if plugin is not None else None
