"""DockerSpawner as the platform runs it: a poll that cannot reach the Docker engine says
"still running" instead of raising.

JupyterHub polls a user's spawner on every visit to the home page and on its periodic checks.
Stock DockerSpawner lets the engine's connection error escape from `poll`, so while the engine is
away (restarting, socket relay down) every user with a running server gets a 500 on /hub/home.
The container's state is unknown then, not "stopped": keeping the server's record is what lets
the next poll, once the engine answers, see the real state; reporting an exit would make the hub
forget a container that still runs.
"""

from __future__ import annotations

import logging

import requests
from dockerspawner import DockerSpawner

log = logging.getLogger(__name__)


class EngineTolerantDockerSpawner(DockerSpawner):
    """DockerSpawner with `poll` answering None (running) while the engine is unreachable."""

    async def poll(self) -> int | None:
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
