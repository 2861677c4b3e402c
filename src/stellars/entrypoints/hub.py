"""What the hub configuration composes from several adapters: the authenticator that serves the
platform's routes, and the start-up checks that choose the spawner.

`authenticator_class(name)` resolves the deployer's authenticator (STELLARS_AUTHENTICATOR):
`native` is the platform's NativeAuthenticator; any other name is a JupyterHub authenticator's
entry point (`dummy`, `shared-password`, `generic-oauth`, ...) or a class path; the composition
root hands JupyterHub `with_platform(that class)`.

deploy/jupyterhub_config.py is the composition root; this module only holds the pieces it needs
that join two adapter packages (which may not import each other) or talk to Docker before the
hub's event loop exists.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from importlib.metadata import entry_points

from jupyterhub.auth import Authenticator

from stellars.adapters.auth import StellarsNativeAuthenticator
from stellars.adapters.docker import EngineProbe, probe_engine
from stellars.domain.errors import InvalidValue
from stellars.domain.limits import HostResources
from stellars.domain.settings import NATIVE_AUTHENTICATOR, SpawnerKind, SpawnerSettings

#: JupyterHub's entry-point group of authenticators (its own, NativeAuthenticator's, OAuth's...).
AUTHENTICATOR_ENTRY_POINTS = "jupyterhub.authenticators"

# Long enough for a busy engine, short enough not to stall a hub whose engine is gone.
_PING_SECONDS = 5.0


def authenticator_class(name: str) -> type:
    """The authenticator class a deployer named: `native`, an entry-point name or a class path.

    Raises InvalidValue("authenticator", ...) naming what is wrong (an unknown name, a module
    that is not installed, a class that is not an Authenticator).
    """
    if name == NATIVE_AUTHENTICATOR:
        return StellarsNativeAuthenticator
    found = [ep for ep in entry_points(group=AUTHENTICATOR_ENTRY_POINTS) if ep.name == name]
    try:
        if found:
            loaded = found[0].load()
        elif "." in name:
            module, _, attribute = name.rpartition(".")
            loaded = getattr(importlib.import_module(module), attribute)
        else:
            known = sorted({ep.name for ep in entry_points(group=AUTHENTICATOR_ENTRY_POINTS)})
            raise InvalidValue(
                "authenticator",
                f"{name!r} is no installed authenticator (installed: native, "
                f"{', '.join(n for n in known if n != NATIVE_AUTHENTICATOR)}; or give a class "
                "path, package.module.Class)",
            )
    except (ImportError, AttributeError) as error:
        raise InvalidValue("authenticator", f"cannot load {name!r}: {error}") from None
    if not (isinstance(loaded, type) and issubclass(loaded, Authenticator)):
        raise InvalidValue("authenticator", f"{name!r} is not a JupyterHub Authenticator class")
    return loaded


@dataclass(frozen=True, slots=True)
class SpawnerChoice:
    """The spawner the hub uses, and why (shown in the log and on the settings page)."""

    kind: SpawnerKind
    reason: str
    image_present: bool | None = None  # Docker only: whether the engine has the lab image
    host: HostResources | None = None  # Docker only: the engine's host, when it answered


def docker_probe(url: str, image: str) -> EngineProbe:
    """Whether the engine at `url` answers, its host, and whether it has `image`. Blocking."""
    return probe_engine(url, image, timeout_seconds=_PING_SECONDS)


def local_lab_available() -> bool:
    """Whether this Python can run a single-user server itself (jupyter_server installed)."""
    return importlib.util.find_spec("jupyter_server") is not None


def choose_spawner(settings: SpawnerSettings) -> SpawnerChoice:
    """Docker, unless the deployer asked for local processes. With `auto` and no engine
    answering, InvalidValue("kind", why): a shared hub must never fall back to servers that run
    as its own user."""
    if settings.kind is SpawnerKind.LOCAL:
        return SpawnerChoice(SpawnerKind.LOCAL, "STELLARS_SPAWNER=local")
    probe = docker_probe(settings.docker_url, settings.image)
    if probe.problem is None:
        why = "STELLARS_SPAWNER=docker" if settings.kind is SpawnerKind.DOCKER else "auto"
        return SpawnerChoice(
            SpawnerKind.DOCKER, f"{why}: the engine answers", probe.image_present, probe.host
        )
    if settings.kind is SpawnerKind.DOCKER:
        # Configured for Docker: keep it, spawns will say what is wrong.
        reason = f"STELLARS_SPAWNER=docker, but {probe.problem}"
        return SpawnerChoice(SpawnerKind.DOCKER, reason, False)
    raise InvalidValue(
        "kind",
        f"auto: {probe.problem}. Start the Docker engine (or set docker to start anyway and spawn "
        "once it answers); local processes are never chosen for a hub",
    )
