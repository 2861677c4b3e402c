"""What the hub configuration composes from several adapters: the authenticator that serves the
platform's routes, and the start-up checks that choose the spawner.

deploy/jupyterhub_config.py is the composition root; this module only holds the pieces it needs
that join two adapter packages (which may not import each other) or talk to Docker before the
hub's event loop exists.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import docker
import docker.errors
import requests

from stellars.adapters.auth import StellarsNativeAuthenticator
from stellars.adapters.jupyterhub import PlatformRoutes
from stellars.domain.settings import SpawnerKind, SpawnerSettings

# Long enough for a busy engine, short enough not to stall a hub whose engine is gone.
_PING_SECONDS = 5.0


class StellarsAuthenticator(PlatformRoutes, StellarsNativeAuthenticator):
    """NativeAuthenticator (working on JupyterHub 5 and 6) that also serves the platform."""


@dataclass(frozen=True, slots=True)
class SpawnerChoice:
    """The spawner the hub uses, and why (shown in the log and on the settings page)."""

    kind: SpawnerKind
    reason: str
    image_present: bool | None = None  # Docker only: whether the engine has the lab image


def docker_problem(url: str, image: str) -> tuple[str | None, bool]:
    """(why the engine at `url` cannot be used or None, whether it has `image`). Blocking."""
    try:
        client = docker.DockerClient(base_url=url, version="auto", timeout=_PING_SECONDS)
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        return f"no Docker engine answers at {url} ({exc})", False
    try:
        client.ping()
        try:
            client.images.get(image)
            return None, True
        except docker.errors.ImageNotFound:
            return None, False
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        return f"the Docker engine at {url} does not answer ({exc})", False
    finally:
        client.close()


def local_lab_available() -> bool:
    """Whether this Python can run a single-user server itself (jupyter_server installed)."""
    return importlib.util.find_spec("jupyter_server") is not None


def choose_spawner(settings: SpawnerSettings) -> SpawnerChoice:
    """Docker when configured or when an engine answers (auto); local processes otherwise."""
    if settings.kind is SpawnerKind.LOCAL:
        return SpawnerChoice(SpawnerKind.LOCAL, "STELLARS_SPAWNER=local")
    problem, present = docker_problem(settings.docker_url, settings.image)
    if problem is None:
        why = "STELLARS_SPAWNER=docker" if settings.kind is SpawnerKind.DOCKER else "auto"
        return SpawnerChoice(SpawnerKind.DOCKER, f"{why}: the engine answers", present)
    if settings.kind is SpawnerKind.DOCKER:
        # Configured for Docker: keep it, spawns will say what is wrong.
        return SpawnerChoice(SpawnerKind.DOCKER, f"STELLARS_SPAWNER=docker, but {problem}", False)
    return SpawnerChoice(SpawnerKind.LOCAL, problem)
