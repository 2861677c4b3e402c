"""Fault 3: the hub killed with SIGKILL in the middle of a server's restart and in the middle
of a volume reset, on the real Docker engine (DockerSpawner and the project's lab image). After
a new hub starts on the same data the state is consistent: the server is running (its lab
answers through the proxy) or stopped (no container left holding its volumes or a GPU), never
half; the volume is reset or intact with its data, and a reset answers again.

Every container and volume carries the module's random tag in its name and is removed at the
end (the shared volume too unless it existed before)."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import threading
import time
from typing import Any

import docker
import docker.errors
import pytest
import requests
from tooling.run import gateway

from tests.backends.hub_helpers import wait_for
from tests.backends.platform import (
    ADMIN_PASSWORD,
    DEPLOY_CONFIG,
    HubClient,
    platform_env,
    signed_up_user,
)
from tests.backends.processes import free_port

TAG = secrets.token_hex(3)
BOB = f"bob{TAG}"
SHARED_VOLUME = "jupyterhub_shared"
NOTE = f"kept across the fault {TAG}\n"


@pytest.fixture
def engine_cleanup(docker_client):
    shared_existed = bool(docker_client.volumes.list(filters={"name": SHARED_VOLUME}))
    yield
    for found in docker_client.containers.list(all=True, filters={"name": TAG}):
        # The hub's poll may be removing an ended one already (409 "already in progress").
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            found.remove(force=True)
    wait_for(
        lambda: not docker_client.containers.list(all=True, filters={"name": TAG}),
        60,
        "the test's containers removed",
    )
    doomed = [v for v in docker_client.volumes.list(filters={"name": TAG}) if TAG in v.name]
    if not shared_existed:
        doomed += docker_client.volumes.list(filters={"name": SHARED_VOLUME})
    for volume in doomed:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            volume.remove(force=True)


class Site:
    """A hub on the deploy config and Docker that a test can kill and start again."""

    def __init__(self, factory: Any, tmp: Any, env: dict[str, str]) -> None:
        self.factory = factory
        self.tmp = tmp
        self.env = env
        self.hub = factory(DEPLOY_CONFIG, env, workdir=tmp / "hub")
        self.admin = self.login()

    def login(self) -> HubClient:
        admin = HubClient(self.hub.public_url)
        admin.login("admin", ADMIN_PASSWORD)
        return admin

    def kill_hub(self) -> None:
        """SIGKILL to the hub alone; then what it started (the proxy, its managed services)
        goes too, as a service manager would stop the rest of its unit."""
        process = self.hub.process
        assert process is not None
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        self.hub.stop()

    def start_hub(self) -> None:
        self.hub = self.factory(DEPLOY_CONFIG, self.env, workdir=self.tmp / "hub")
        self.admin = self.login()

    def server(self, user: str) -> dict[str, Any] | None:
        return (self.admin.api("GET", f"/users/{user}").json().get("servers") or {}).get("")

    def settled(self, user: str) -> dict[str, Any] | None:
        """The server once it is neither starting nor stopping: ready, or None (stopped)."""
        found: list[dict[str, Any] | None] = []

        def check() -> bool:
            server = self.server(user)
            found[:] = [server]
            return server is None or (bool(server["ready"]) and not server["pending"])

        wait_for(check, timeout=120, what=f"the server of {user} settled")
        return found[0]

    def start(self, user: str) -> None:
        answer = self.admin.api("POST", f"/users/{user}/server")
        assert answer.status_code in {201, 202}, answer.text
        wait_for(lambda: (self.server(user) or {}).get("ready"), 120, f"{user} ready")

    def stop(self, user: str) -> None:
        answer = self.admin.api("DELETE", f"/users/{user}/server")
        assert answer.status_code in {202, 204}, answer.text
        wait_for(lambda: self.server(user) is None, 60, f"{user} stopped")

    def lab_status(self, user: str, token: str) -> int:
        try:
            return requests.get(
                f"{self.hub.public_url}/user/{user}/api/status",
                headers={"Authorization": f"token {token}"},
                allow_redirects=False,
                timeout=10,
            ).status_code
        except requests.RequestException:
            return 0


@pytest.fixture
def site(jupyterhub_factory, tmp_path, docker_client, lab_image, engine_cleanup) -> Site:
    bridge = gateway(docker_client, "bridge")
    assert bridge, "the default bridge network has no gateway"
    env = platform_env(
        tmp_path / "data",
        JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
        STELLARS_SPAWNER="docker",
        JUPYTERHUB_NOTEBOOK_IMAGE=lab_image,
        JUPYTERHUB_HUB_BIND_URL=f"http://{bridge}:{free_port(bridge)}",
    )
    return Site(jupyterhub_factory, tmp_path, env)


def containers_of(docker_client, user: str) -> list[Any]:
    return [
        found
        for found in docker_client.containers.list(all=True, filters={"name": user})
        if found.name == f"jupyterlab-{user}"
    ]


def in_background(call: Any) -> tuple[threading.Thread, list[Any]]:
    """Run `call` in a thread; its answer (or the exception it raised) lands in the list."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(call())
        except Exception as error:  # the hub died under the request: that is the fault
            result.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def read_on_volume(docker_client, image: str, volume: str, path: str) -> str | None:
    """A file as it lies on the named volume (None when the volume or the file is missing)."""
    if not docker_client.volumes.list(filters={"name": volume}):
        return None
    try:
        output = docker_client.containers.run(
            image,
            ["sh", "-c", f"cat /volume/{path} 2>/dev/null || true"],
            volumes={volume: {"bind": "/volume", "mode": "ro"}},
            name=f"reader{TAG}-{secrets.token_hex(3)}",
            network_disabled=True,
            remove=True,
        )
    except docker.errors.NotFound:
        return None
    return output.decode() or None


def test_the_hub_killed_during_a_restart_leaves_the_server_running_or_stopped(
    site: Site, docker_client, outcomes
):
    signed_up_user(site.hub.public_url, site.admin, BOB, "bobs-password-1")
    site.start(BOB)
    token = site.admin.new_token(BOB, [f"access:servers!server={BOB}/"])
    before = containers_of(docker_client, BOB)[0]
    started_at = before.attrs["State"]["StartedAt"]

    restart, answer = in_background(
        lambda: site.admin.api("POST", f"/users/{BOB}/restart-server", timeout=120)
    )

    def restarted_by_the_engine() -> bool:
        before.reload()
        return bool(before.attrs["State"]["StartedAt"] != started_at)

    # The engine has restarted the container; the hub is still waiting for the lab to serve.
    wait_for(restarted_by_the_engine, timeout=60, what="the container restarted")
    site.kill_hub()
    restart.join(timeout=60)
    # No answer from the hub: the connection dropped, or the proxy's 503 (its hub is away).
    assert answer and getattr(answer[0], "status_code", 503) == 503, answer
    site.start_hub()

    server = site.settled(BOB)
    found = containers_of(docker_client, BOB)
    if server is None:
        assert not found, f"a stopped server left {[c.name for c in found]}"
        state = "stopped, no container left"
    else:
        wait_for(lambda: site.lab_status(BOB, token) == 200, 60, "the lab through the proxy")
        assert [c.status for c in found] == ["running"]
        state = "running, its lab answers through the proxy"
    outcomes("hub SIGKILL during a restart", "server after the hub is back", state)

    if server is None:
        site.start(BOB)
    site.stop(BOB)
    assert not containers_of(docker_client, BOB)
    outcomes("hub SIGKILL during a restart", "stop after it", "no container left")


@pytest.mark.parametrize("delay", [0.0, 0.2])
def test_the_hub_killed_during_a_volume_reset_leaves_it_reset_or_intact(
    site: Site, docker_client, tiny_image, outcomes, delay
):
    signed_up_user(site.hub.public_url, site.admin, BOB, "bobs-password-1")
    site.start(BOB)
    lab = containers_of(docker_client, BOB)[0]
    wrote = lab.exec_run(["sh", "-c", f"printf %s '{NOTE}' > /home/jovyan/kept.txt"])
    assert wrote.exit_code == 0, wrote.output
    site.stop(BOB)
    home = f"jupyterlab-{BOB}_home"
    assert read_on_volume(docker_client, tiny_image, home, "kept.txt") == NOTE

    reset, _answer = in_background(
        lambda: site.admin.api(
            "DELETE", f"/users/{BOB}/manage-volumes", json={"volumes": ["home"]}, timeout=60
        )
    )
    time.sleep(delay)  # the kill lands while the request is in flight (or just answered)
    site.kill_hub()
    reset.join(timeout=60)
    site.start_hub()

    left = read_on_volume(docker_client, tiny_image, home, "kept.txt")
    assert left in {None, NOTE}, left
    volume = "reset" if left is None else "intact with its data"
    assert site.server(BOB) is None
    assert not containers_of(docker_client, BOB), "a container left holding the volume"

    again = site.admin.api("DELETE", f"/users/{BOB}/manage-volumes", json={"volumes": ["home"]})
    assert again.status_code == 200, again.text
    assert read_on_volume(docker_client, tiny_image, home, "kept.txt") is None
    site.start(BOB)
    site.stop(BOB)
    assert not containers_of(docker_client, BOB)
    fault = f"hub SIGKILL {delay:.1f} s into a volume reset"
    outcomes(fault, "volume after the hub is back", volume)
    outcomes(fault, "reset again, start, stop", "200, ready, no container left")
