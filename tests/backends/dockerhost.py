"""The Docker engine: a checked client, the per-session label, and cleanup by label."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

import docker
import docker.errors
import requests

from tests.backends.errors import BackendMissing
from tests.backends.paths import INSTALL_HINT
from tests.backends.processes import is_alive

LABEL = "stellars-test"
# One value per pytest process: "<pid>-<random>". The pid lets a later session tell leftovers of
# a crashed run (pid gone) from the objects of a session that is still running beside it.
SESSION_ID = f"{os.getpid()}-{secrets.token_hex(4)}"


#: Marks a harness's long-lived objects (a swarm's node containers, their volumes and network):
#: they belong to the session, for the clean-up of a crashed run, but not to any one test, so a
#: test's check that it left nothing behind does not count them.
HARNESS_LABEL = "stellars-test-harness"


def session_labels(session_id: str = SESSION_ID) -> dict[str, str]:
    """Labels to put on every container, volume and network a test creates."""
    return {LABEL: session_id}


def docker_client(timeout: float = 300.0, ping_timeout: float = 5.0) -> docker.DockerClient:
    """A client for the engine at DOCKER_HOST or the default socket, API version negotiated.

    Raises BackendMissing when no engine answers within ``ping_timeout`` seconds.
    """
    try:
        probe = docker.from_env(version="auto", timeout=ping_timeout)
    except docker.errors.DockerException as exc:
        raise BackendMissing(f"no Docker engine answers ({exc}); {INSTALL_HINT}") from exc
    try:
        probe.ping()
        version = probe.api.api_version
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise BackendMissing(f"the Docker engine does not answer a ping ({exc})") from exc
    finally:
        probe.close()
    return docker.from_env(version=version, timeout=timeout)


@dataclass
class Labelled:
    """Names of the labelled objects found on the engine."""

    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.containers or self.volumes or self.networks)


def _label_filter(session_id: str | None) -> dict[str, str]:
    return {"label": LABEL if session_id is None else f"{LABEL}={session_id}"}


def list_labelled(
    client: docker.DockerClient, session_id: str | None = None, *, harnesses: bool = False
) -> Labelled:
    """Containers (also stopped), volumes and networks labelled for ``session_id`` (None: any);
    a harness's objects (HARNESS_LABEL) only with ``harnesses``."""
    filters = _label_filter(session_id)

    def kept(labels: Mapping[str, str] | None) -> bool:
        return harnesses or HARNESS_LABEL not in (labels or {})

    return Labelled(
        containers=[
            c.name for c in client.containers.list(all=True, filters=filters) if kept(c.labels)
        ],
        volumes=[
            v.name for v in client.volumes.list(filters=filters) if kept(v.attrs.get("Labels"))
        ],
        networks=[
            n.name for n in client.networks.list(filters=filters) if kept(n.attrs.get("Labels"))
        ],
    )


def _is_stale(session_id: str) -> bool:
    pid, _, _ = session_id.partition("-")
    return not pid.isdigit() or not is_alive(int(pid))


def _created(attrs: dict[str, object]) -> datetime | None:
    """When the engine created an object (`Created` or `CreatedAt`, to the second), if known."""
    text = str(attrs.get("Created") or attrs.get("CreatedAt") or "")
    try:
        return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _remove(
    client: docker.DockerClient,
    wanted: Callable[[str], bool] | None,
    created_before: datetime | None = None,
) -> Labelled:
    removed = Labelled()
    label_filter = {"label": LABEL}

    def selected(labels: dict[str, str] | None, attrs: dict[str, object]) -> bool:
        value = (labels or {}).get(LABEL)
        if value is None or (wanted is not None and not wanted(value)):
            return False
        created = _created(attrs)
        return created_before is None or (created is not None and created < created_before)

    # Containers first: a volume or network still in use cannot be removed.
    for container in client.containers.list(all=True, filters=label_filter):
        if selected(container.labels, container.attrs):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=False)
                removed.containers.append(container.name)
    for volume in client.volumes.list(filters=label_filter):
        if selected(volume.attrs.get("Labels"), volume.attrs):
            with contextlib.suppress(docker.errors.NotFound):
                volume.remove(force=True)
                removed.volumes.append(volume.name)
    for network in client.networks.list(filters=label_filter):
        if selected(network.attrs.get("Labels"), network.attrs):
            with contextlib.suppress(docker.errors.NotFound):
                network.remove()
                removed.networks.append(network.name)
    return removed


def remove_labelled(client: docker.DockerClient, session_id: str | None = None) -> Labelled:
    """Remove every container, volume and network labelled ``stellars-test``.

    With ``session_id`` only that session's objects go; without it, any value's (beware of a
    second pytest process running on the same engine). Returns what was removed.
    """
    if session_id is None:
        return _remove(client, None)
    return _remove(client, lambda value: value == session_id)


def remove_stale_labelled(
    client: docker.DockerClient, *, created_before: datetime | None = None
) -> Labelled:
    """Remove labelled objects whose session's pytest process is gone (a crashed run's).

    With `created_before`, only objects the engine created before that instant: parallel test
    processes (pytest-xdist workers) clean up at their start, and must never take what a
    sibling made during the run (a test that fakes a crashed run's leftovers, say).
    """
    return _remove(client, _is_stale, created_before)
