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
from stellars.adapters.docker import EngineProbe, connect, probe_engine
from stellars.adapters.docker.engine import SDK_ERRORS
from stellars.adapters.jupyterhub.plugin.swarm_spawner import LAB_LABEL, swarm_nodes
from stellars.domain.errors import BackendUnavailable, InvalidValue
from stellars.domain.limits import HostResources
from stellars.domain.settings import NATIVE_AUTHENTICATOR, SpawnerKind, SpawnerSettings
from stellars.domain.swarm import SwarmNode

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
    nodes: tuple[SwarmNode, ...] = ()  # Swarm only: the swarm's nodes as the manager said


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
    if settings.kind is SpawnerKind.SWARM:
        return choose_swarm(settings)
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


def swarm_probe(url: str) -> tuple[SwarmNode, ...]:
    """The swarm's nodes and the labs on each, as the manager at `url` reports them. Blocking.

    Raises InvalidValue("kind", why) when the engine does not answer or is no swarm manager.
    """
    try:
        client = connect(url, timeout_seconds=_PING_SECONDS)
    except BackendUnavailable as error:
        raise InvalidValue("kind", f"swarm: no Docker engine answers at {url} ({error})") from None
    try:
        info = client.info()
        if not (info.get("Swarm") or {}).get("ControlAvailable"):
            raise InvalidValue(
                "kind",
                f"swarm: the Docker engine at {url} is no swarm manager (docker swarm init, or "
                "point DOCKER_HOST at a manager)",
            )
        nodes = client.api.nodes()
        tasks = client.api.tasks(filters={"desired-state": "running"})
        services = client.api.services(filters={"label": LAB_LABEL})
    except SDK_ERRORS as error:
        raise InvalidValue(
            "kind", f"swarm: the manager at {url} does not answer ({error})"
        ) from None
    finally:
        client.close()
    return tuple(swarm_nodes(nodes, tasks, [service["ID"] for service in services]))


def choose_swarm(settings: SpawnerSettings) -> SpawnerChoice:
    """Swarm services through the manager at `docker_url`: the hub starts only when it answers
    as a manager (InvalidValue("kind", why) otherwise), with its nodes for the settings page."""
    probe = docker_probe(settings.docker_url, settings.image)
    nodes = swarm_probe(settings.docker_url)
    ready = sum(node.takes_labs for node in nodes)
    return SpawnerChoice(
        SpawnerKind.SWARM,
        f"STELLARS_SPAWNER=swarm: {len(nodes)} nodes, {ready} taking labs",
        probe.image_present,
        probe.host,
        nodes,
    )


def describe_nodes(nodes: tuple[SwarmNode, ...]) -> str:
    """The swarm's nodes in one line for the settings page: "n1 (manager, ready, active, 2
    labs), n2 (worker, ready, drain, 0 labs)"."""
    return (
        ", ".join(
            f"{node.hostname} ({'manager' if node.manager else 'worker'}, {node.state}, "
            f"{node.availability}, {node.labs} labs)"
            for node in nodes
        )
        or "none"
    )
