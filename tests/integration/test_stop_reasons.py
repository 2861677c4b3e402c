"""Why a server stopped, driven on the real engine (issue 21 §2): deploy/jupyterhub_config.py in
a real JupyterHub whose DockerSpawner starts the project's lab image, with the idle culler on
(idle timeout 60 s, a pass every 10 s), and a second one whose servers have a maximum age of
30 s (a maximum age also caps extensions, so it gets a hub of its own). Each reason is caused
the way it happens in use, and read back from `GET /hub/api/users/{user}/last-stop`:

- the user stops their server (the home page's Stop button: JupyterHub's DELETE): "stopped by
  its user", naming them;
- an admin stops it (the admin page: the same DELETE, by someone else): naming the admin;
- an admin restarts it in place: "restarted by" the admin, the server running on;
- the container is killed behind the hub's back after writing to its log: "exited with code
  137", with the log's last lines;
- the container is removed behind the hub's back (`docker rm -f`): "lost by the engine";
- the culler stops a server idle past its timeout: "culled for idleness", with since when;
- the culler stops a server past its maximum age: "reached its maximum age".

Out of memory is driven in tests/integration/test_lab_limits.py and the home page's words in
tests/browser/test_last_stop.py. Servers other than the culler's are extended by an hour as
soon as they run, so the idle timeout never takes them first. Every container and volume the
module creates carries its random tag and is removed at the end.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
from tooling.run import gateway

from stellars.adapters.jupyterhub.plugin.docker_spawner import engine_time
from tests.backends.hub_helpers import wait_for
from tests.backends.platform import (
    ADMIN_PASSWORD,
    DEPLOY_CONFIG,
    HubClient,
    platform_env,
    signed_up_user,
)
from tests.backends.processes import free_port

pytestmark = pytest.mark.real

TAG = secrets.token_hex(3)
ADMIN = f"adm{TAG}"
SHARED_VOLUME = "jupyterhub_shared"
TIMEOUT = 60  # the shortest idle timeout the settings allow
CULL_EVERY = 10
MAX_AGE = 30


@pytest.fixture(scope="module")
def engine_cleanup(docker_client):
    """Remove this module's containers and volumes (and the shared volume if it is new)."""
    shared_existed = bool(docker_client.volumes.list(filters={"name": SHARED_VOLUME}))
    yield
    for container in docker_client.containers.list(all=True, filters={"name": TAG}):
        container.remove(force=True)
    doomed = [v for v in docker_client.volumes.list(filters={"name": TAG}) if TAG in v.name]
    if not shared_existed:
        doomed += docker_client.volumes.list(filters={"name": SHARED_VOLUME})
    for volume in doomed:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            volume.remove(force=True)


class Site:
    def __init__(self, hub: Any, docker_client: docker.DockerClient) -> None:
        self.url = hub.public_url
        self.docker = docker_client
        self.admin = HubClient(self.url)
        self.admin.login(ADMIN, ADMIN_PASSWORD)

    def user(self, stem: str) -> tuple[str, HubClient]:
        name = f"{stem}{TAG}"
        return name, signed_up_user(self.url, self.admin, name, f"{name}-password-1")

    def server(self, name: str) -> dict[str, Any] | None:
        return (self.admin.api("GET", f"/users/{name}").json().get("servers") or {}).get("")

    def running(self, name: str, *, shielded: bool = True) -> datetime:
        """Start `name`'s server and wait until it runs (extended by an hour when `shielded`,
        so the idle culler leaves it to the test); returns when it started."""
        answer = self.admin.api("POST", f"/users/{name}/server")
        assert answer.status_code in {201, 202}, answer.text
        wait_for(lambda: (self.server(name) or {}).get("ready"), 180, f"{name}'s server")
        if shielded:
            extended = self.admin.api("POST", f"/users/{name}/extend-session", json={"hours": 1})
            assert extended.status_code == 200, extended.text
        started = engine_time((self.server(name) or {}).get("started"))
        assert started is not None
        return started

    def gone(self, name: str, client: HubClient, timeout: float = 120) -> None:
        """Wait until the hub no longer lists `name`'s server (a visit to the home page makes
        it poll the server)."""

        def stopped() -> bool:
            client.page("/home")
            return self.server(name) is None

        wait_for(stopped, timeout, f"the hub to see {name}'s server stop")

    def last_stop(self, name: str) -> dict[str, Any]:
        answer = self.admin.api("GET", f"/users/{name}/last-stop")
        assert answer.status_code == 200, answer.text
        return answer.json()

    def client(self, token: str | None = None) -> HubClient:
        return HubClient(self.url, token)

    def container(self, name: str) -> Any:
        return self.docker.containers.get(f"jupyterlab-{name}")


def hub_env(tmp: Path, docker_client: docker.DockerClient, lab_image: str, **culler: str):
    bridge = gateway(docker_client, "bridge")
    assert bridge, "the default bridge network has no gateway"
    return platform_env(
        tmp / "data",
        JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
        JUPYTERHUB_ADMIN=ADMIN,
        STELLARS_SPAWNER="docker",
        JUPYTERHUB_NOTEBOOK_IMAGE=lab_image,
        JUPYTERHUB_HUB_BIND_URL=f"http://{bridge}:{free_port(bridge)}",
        JUPYTERHUB_IDLE_CULLER_ENABLED="1",
        JUPYTERHUB_IDLE_CULLER_INTERVAL=str(CULL_EVERY),
        **culler,
    )


@pytest.fixture(scope="module")
def site(jupyterhub_factory_module, tmp_path_factory, docker_client, lab_image, engine_cleanup):
    tmp = tmp_path_factory.mktemp("stops")
    env = hub_env(
        tmp,
        docker_client,
        lab_image,
        JUPYTERHUB_IDLE_CULLER_TIMEOUT=str(TIMEOUT),
        JUPYTERHUB_IDLE_CULLER_MAX_EXTENSION="2",
    )
    return Site(jupyterhub_factory_module(DEPLOY_CONFIG, env, workdir=tmp / "hub"), docker_client)


@pytest.fixture(scope="module")
def aging(jupyterhub_factory_module, tmp_path_factory, docker_client, lab_image, engine_cleanup):
    """A hub whose servers live at most `MAX_AGE` seconds (and idle for an hour)."""
    tmp = tmp_path_factory.mktemp("aging")
    env = hub_env(
        tmp,
        docker_client,
        lab_image,
        JUPYTERHUB_IDLE_CULLER_TIMEOUT="3600",
        JUPYTERHUB_IDLE_CULLER_MAX_AGE=str(MAX_AGE),
    )
    return Site(jupyterhub_factory_module(DEPLOY_CONFIG, env, workdir=tmp / "hub"), docker_client)


def test_the_user_stopping_their_server_is_named(site):
    name, user = site.user("ursula")
    site.running(name)
    answer = user.api("DELETE", f"/users/{name}/server")
    assert answer.status_code in {202, 204}, answer.text
    site.gone(name, user)
    body = user.api("GET", f"/users/{name}/last-stop").json()
    assert body["server_active"] is False
    stop = body["last_stop"]
    assert (stop["reason"], stop["actor"], stop["requested"]) == ("stopped_by_user", name, True)
    assert stop["message"] == f"stopped: stopped by its user {name}"


def test_an_admin_stopping_a_server_is_named(site):
    name, user = site.user("adele")
    site.running(name)
    answer = site.admin.api("DELETE", f"/users/{name}/server")
    assert answer.status_code in {202, 204}, answer.text
    site.gone(name, user)
    stop = site.last_stop(name)["last_stop"]
    assert (stop["reason"], stop["actor"]) == ("stopped_by_admin", ADMIN)
    assert stop["message"] == f"stopped: stopped by the admin {ADMIN}"
    # The exit code the stop left (the container is removed) does not replace it.
    with pytest.raises(docker.errors.NotFound):
        site.container(name)


def test_a_restart_names_who_restarted_and_the_server_runs_on(site):
    name, user = site.user("rhea")
    site.running(name)
    answer = site.admin.api("POST", f"/users/{name}/restart-server", timeout=180)
    assert answer.status_code == 200, answer.text
    body = site.last_stop(name)
    assert body["server_active"] is True
    stop = body["last_stop"]
    assert (stop["reason"], stop["actor"]) == ("restarted", ADMIN)
    assert stop["message"] == f"stopped: restarted by {ADMIN}"
    assert site.container(name).attrs["State"]["Running"] is True
    # Its next stop replaces the restart.
    assert user.api("DELETE", f"/users/{name}/server").status_code in {202, 204}
    site.gone(name, user)
    assert site.last_stop(name)["last_stop"]["reason"] == "stopped_by_user"


def test_an_exit_nobody_asked_for_keeps_its_code_and_the_end_of_its_log(site):
    name, user = site.user("enzo")
    site.running(name)
    box = site.container(name)
    marker = f"stellars-last-words-{TAG}"
    said = box.exec_run(["sh", "-c", f"echo '<b>{marker}</b>' > /proc/1/fd/1"], user="1000")
    assert said.exit_code == 0, said.output
    wait_for(lambda: marker.encode() in box.logs(tail=5), 30, "the line in the log")
    box.kill()  # SIGKILL from outside: exit code 137, and no OOM
    site.gone(name, user)
    stop = site.last_stop(name)["last_stop"]
    assert (stop["reason"], stop["exit_code"], stop["actor"]) == ("exited", 137, None)
    assert stop["message"] == "stopped: exited with code 137"
    assert f"<b>{marker}</b>" in stop["log_tail"]  # kept as written: escaping is the page's
    assert 1 <= len(stop["log_tail"]) <= 50
    assert all(len(line) <= 300 for line in stop["log_tail"])


def test_a_container_removed_behind_the_hubs_back_is_lost_by_the_engine(site):
    name, user = site.user("lorna")
    site.running(name)
    site.container(name).remove(force=True)  # docker rm -f
    site.gone(name, user)
    stop = site.last_stop(name)["last_stop"]
    assert (stop["reason"], stop["detail"]) == ("engine_lost", "its container is gone")
    assert stop["message"] == "stopped: lost by the engine (its container is gone)"


def test_the_culler_names_idleness_with_since_when(site):
    name, user = site.user("ida")
    started = site.running(name, shielded=False)
    site.gone(name, user, timeout=TIMEOUT + 6 * CULL_EVERY)
    culled = site.last_stop(name)["last_stop"]
    # Recorded by the culler before it asked; the hub's record of its request did not replace it.
    assert (culled["reason"], culled["actor"], culled["requested"]) == ("culled", None, True)
    idle_since = engine_time(culled["idle_since"])
    assert idle_since is not None
    assert started - timedelta(minutes=2) <= idle_since <= engine_time(culled["at"])
    stamp = idle_since.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    assert culled["message"] == f"stopped: culled for idleness (idle since {stamp})"


def test_the_culler_names_the_maximum_age(aging):
    name, user = aging.user("olga")
    started = aging.running(name, shielded=False)
    remaining = MAX_AGE - (time.time() - started.timestamp())
    aging.gone(name, user, timeout=max(remaining, 0) + 6 * CULL_EVERY)
    aged = aging.last_stop(name)["last_stop"]
    assert (aged["reason"], aged["idle_since"], aged["actor"]) == ("max_age", None, None)
    assert aged["message"] == "stopped: reached its maximum age"
    assert engine_time(aged["at"]) >= started + timedelta(seconds=MAX_AGE)


def test_every_users_last_stop_is_for_the_activity_dashboards_readers(site):
    name, user = site.user("vera")
    site.running(name)
    assert user.api("DELETE", f"/users/{name}/server").status_code in {202, 204}
    site.gone(name, user)
    path = "/activity/last-stops"
    assert site.client().api("GET", path).status_code == 403  # anonymous
    refused = user.api("GET", path)  # a user: the dashboard is not theirs
    assert refused.status_code == 403
    assert "custom:stellars:activity" in refused.json()["message"]
    body = site.admin.api("GET", path).json()
    names = [stop["username"] for stop in body["stops"]]
    assert names == sorted(names) and body["server"] == ""
    vera = next(stop for stop in body["stops"] if stop["username"] == name)
    assert (vera["server"], vera["reason"], vera["actor"]) == ("", "stopped_by_user", name)
    assert vera["explanation"] == f"stopped by its user {name}"
    scoped = site.client(site.admin.new_token(ADMIN, ["custom:stellars:activity"]))
    assert scoped.api("GET", path).json() == body
    unscoped = site.client(site.admin.new_token(ADMIN, ["read:users", "read:servers"]))
    assert unscoped.api("GET", path).status_code == 403
    own = site.client(user.new_token(name))
    assert own.api("GET", path).status_code == 403
    assert site.admin.api("GET", f"{path}?server=gpu").json() == {"server": "gpu", "stops": []}
