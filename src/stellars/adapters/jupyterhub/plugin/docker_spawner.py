"""DockerSpawner as the platform runs it: a poll that cannot reach the Docker engine, or that
comes while the platform restarts the container in place, says "still running".

JupyterHub polls a user's spawner on every visit to the home page and on its periodic checks.
Stock DockerSpawner lets the engine's connection error escape from `poll`, so while the engine is
away (restarting, socket relay down) every user with a running server gets a 500 on /hub/home.
The container's state is unknown then, not "stopped": keeping the server's record is what lets
the next poll, once the engine answers, see the real state; reporting an exit would make the hub
forget a container that still runs.

A restart in place stops and starts the same container. A periodic poll that lands while it is
down would report an exit, and JupyterHub would remove the server's route and stop it, taking
the container with it; the platform sets `restart_in_progress` for the restart's duration.
"""

from __future__ import annotations

import logging

import requests
from dockerspawner import DockerSpawner

log = logging.getLogger(__name__)


class EngineTolerantDockerSpawner(DockerSpawner):
    """DockerSpawner with `poll` answering None (running) while the engine is unreachable or
    the platform restarts the container."""

    #: Set by the platform (HubLabServers.restarting) while it restarts the container in place.
    restart_in_progress = False

    async def poll(self) -> int | None:
        if self.restart_in_progress:
            return None
        try:
            status: int | None = await super().poll()
        except requests.exceptions.ConnectionError as error:
            self.log.warning(
                "Docker engine unreachable while polling %s; keeping its server as running: %s",
                self.container_name,
                error,
            )
            return None
        return status
