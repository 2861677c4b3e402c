"""The hub image end to end: the root Dockerfile, built here on a base bootstrapped offline (no
registry), run as compose.yml runs it: the Docker socket with its group, a data volume, a user
network that the labs join, the admin's password from a secret file, the proxy published on
127.0.0.1 only. The admin logs in, spawns the lab, extends the session and records activity;
then the hub container restarts and all of it is still there, the lab container included.

Build times show in pytest's "backend images" summary: cold, the base takes about three minutes
and the hub image several more (its build runs the unit and contract suites); warm, both tags
exist and nothing is built. Teardown removes the containers (the spawned lab too), the network
and the volumes; the images stay cached.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
import requests
from tooling.images import HUB_CONTEXT, hub_base_recipe, hub_recipe

from stellars.configuration import BY_NAME
from tests.backends.fixtures import _ensure, require
from tests.backends.paths import REPO_ROOT
from tests.backends.platform import ADMIN_PASSWORD, HubClient
from tests.backends.processes import free_port

SHARED_VOLUME = "jupyterhub_shared"
DATA_DIR = "/srv/jupyterhub"  # the image's JUPYTERHUB_DATA_DIR and VOLUME
SECRET_PATH = "/run/secrets/admin_password"  # where compose puts the secret
HUB_UID = "1000"  # the image's unprivileged `jupyterhub` user


def _docker_socket() -> Path:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        require("docker socket", f"DOCKER_HOST={host} is not a unix socket to mount")
    socket_path = Path(host[len("unix://") :])
    if not socket_path.exists():
        require("docker socket", f"{socket_path} does not exist")
    return socket_path


@pytest.fixture(scope="module")
def hub_image(request: pytest.FixtureRequest, docker_client: docker.DockerClient) -> str:
    """The hub image of this tree, with JupyterHub at this venv's version: the version
    ``lab_image`` gives jupyterhub-singleuser."""
    import jupyterhub

    base = _ensure(request, docker_client, hub_base_recipe())
    return _ensure(request, docker_client, hub_recipe(base, jupyterhub.__version__))


@dataclass
class HubContainer:
    """One running hub container and what the test needs to reach it."""

    container: Any
    admin: str
    network: str

    @property
    def public_url(self) -> str:
        self.container.reload()
        binding = self.container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]
        assert binding["HostIp"] == "127.0.0.1", binding
        return f"http://127.0.0.1:{binding['HostPort']}"

    def logs(self, lines: int = 80) -> str:
        """The hub's last log lines, without the proxy's complaints while the hub is away."""
        text = self.container.logs().decode(errors="replace")
        kept: list[str] = []
        for line in text.splitlines():
            if "[ConfigProxy]" in line:
                kept.append("")  # drop the proxy's line and the error object it prints
            elif not (kept and kept[-1] == "" and line.startswith((" ", "}"))):
                kept.append(line)
        return "\n".join([line for line in kept if line][-lines:])

    def wait_ready(self, timeout: float = 180.0) -> float:
        """Seconds until the hub answers through the proxy (CHP answers 404 for a moment
        before the hub's route exists, so wait for the version)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            self.container.reload()
            if self.container.status not in {"created", "running", "restarting"}:
                pytest.fail(f"hub container {self.container.status}:\n{self.logs()}")
            with contextlib.suppress(requests.RequestException, ValueError):
                answer = requests.get(f"{self.public_url}/hub/api/", timeout=5)
                if answer.status_code == 200 and "version" in answer.json():
                    return time.monotonic() - started
            time.sleep(0.5)
        pytest.fail(f"the hub did not answer within {timeout} s:\n{self.logs()}")

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        health: dict[str, Any] = {}
        while time.monotonic() < deadline:
            self.container.reload()
            health = self.container.attrs["State"].get("Health") or {}
            if health.get("Status") == "healthy":
                return
            time.sleep(0.5)
        pytest.fail(f"HEALTHCHECK never passed: {health}\n{self.logs()}")


@pytest.fixture
def hub_container(
    docker_client: docker.DockerClient,
    docker_labels: dict[str, str],
    hub_image: str,
    lab_image: str,
    tmp_path: Path,
) -> Iterator[HubContainer]:
    """The hub image run like compose.yml's service, all of it named after a fresh suffix."""
    socket_path = _docker_socket()
    suffix = secrets.token_hex(3)
    admin = f"e2e{suffix}"
    network_name = f"stellars-e2e-{suffix}"
    hub_name = f"stellars-e2e-hub-{suffix}"
    data_volume = f"stellars-e2e-data-{suffix}"
    secret = tmp_path / "admin_password"
    secret.write_text(ADMIN_PASSWORD + "\n")
    secret.chmod(0o644)  # the hub runs as uid 1000; a bind-mounted file keeps its mode
    shared_existed = bool(docker_client.volumes.list(filters={"name": SHARED_VOLUME}))
    docker_client.networks.create(network_name, driver="bridge", labels=docker_labels)
    docker_client.volumes.create(data_volume, labels=docker_labels)
    container = None
    try:
        container = docker_client.containers.run(
            hub_image,
            name=hub_name,
            detach=True,
            labels=docker_labels,
            network=network_name,
            ports={"8000/tcp": ("127.0.0.1", free_port())},
            group_add=[str(socket_path.stat().st_gid)],  # the socket's group, as compose does
            volumes={
                str(socket_path): {"bind": "/var/run/docker.sock", "mode": "rw"},
                data_volume: {"bind": DATA_DIR, "mode": "rw"},
                str(secret): {"bind": SECRET_PATH, "mode": "ro"},
            },
            environment={
                "JUPYTERHUB_ADMIN": admin,
                "JUPYTERHUB_ADMIN_PASSWORD_FILE": SECRET_PATH,
                "JUPYTERHUB_NOTEBOOK_IMAGE": lab_image,
                "JUPYTERHUB_NETWORK_NAME": network_name,
                "JUPYTERHUB_HUB_CONNECT_URL": f"http://{hub_name}:8081",
                "JUPYTERHUB_GPU_ENABLED": "0",  # no probe container
                "JUPYTERHUB_IDLE_CULLER_ENABLED": "1",  # sessions, so extensions exist
            },
            # The image's HEALTHCHECK command, polled every 2 s instead of every 30 s.
            healthcheck={"interval": 2 * 10**9, "start_period": 120 * 10**9},
        )
        yield HubContainer(container, admin, network_name)
    finally:
        if container is not None:
            full_log = tmp_path / "hub.log"
            full_log.write_bytes(container.logs())
            print(f"--- {hub_name} (whole log: {full_log}) ---\n")
            print(HubContainer(container, admin, network_name).logs())
        doomed = docker_client.containers.list(all=True, filters={"name": hub_name})
        doomed += docker_client.containers.list(all=True, filters={"name": f"jupyterlab-{admin}"})
        for leftover in doomed:
            with contextlib.suppress(docker.errors.NotFound):
                leftover.remove(force=True)
        volumes = docker_client.volumes.list(filters={"name": admin})
        volumes += docker_client.volumes.list(filters={"name": data_volume})
        if not shared_existed:
            volumes += docker_client.volumes.list(filters={"name": SHARED_VOLUME})
        for volume in volumes:
            # The shared volume may be in use by another test's lab: leave it to that test.
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                volume.remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.networks.get(network_name).remove()


def _server_ready(client: HubClient, user: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    model: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = client.api("GET", f"/users/{user}")
        assert answer.status_code == 200, answer.text
        model = answer.json()
        server = (model.get("servers") or {}).get("")
        if server and server.get("ready"):
            return dict(server)
        time.sleep(0.5)
    pytest.fail(f"the server of {user} is not ready after {timeout} s: {model}")


def _lab_status(public_url: str, user: str, token: str, timeout: float = 60.0) -> dict[str, Any]:
    """The lab's /api/status through the proxy (right after a hub start the proxy may still lack
    the route for a moment)."""
    deadline = time.monotonic() + timeout
    answer: requests.Response | None = None
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            answer = requests.get(
                f"{public_url}/user/{user}/api/status",
                headers={"Authorization": f"token {token}"},
                timeout=10,
            )
            if answer.status_code == 200:
                return dict(answer.json())
        time.sleep(0.5)
    pytest.fail(f"the lab does not answer through the proxy: {answer and answer.text[:300]}")


def _activity_row(client: HubClient, user: str) -> dict[str, Any]:
    answer = client.api("GET", "/activity")
    assert answer.status_code == 200, answer.text
    rows = {row["username"]: row for row in answer.json()["users"]}
    assert user in rows, sorted(rows)
    return dict(rows[user])


@pytest.mark.real
@pytest.mark.hub
@pytest.mark.packaging
@pytest.mark.timeout(1800)
def test_the_hub_container_keeps_users_servers_activity_and_sessions_across_a_restart(
    hub_container: HubContainer, docker_client: docker.DockerClient, lab_image: str
):
    hub, admin = hub_container, hub_container.admin
    print(f"hub ready after {hub.wait_ready():.1f} s")
    hub.wait_healthy()
    assert "/hub/health" in " ".join(hub.container.attrs["Config"]["Healthcheck"]["Test"])
    uid = hub.container.exec_run(["id", "-u"]).output.decode().strip()
    assert uid == HUB_UID, "the hub must run as the image's unprivileged user"

    browser = HubClient(hub.public_url)
    browser.login(admin, ADMIN_PASSWORD)  # the password came from the secret file
    spawn_started = time.monotonic()
    spawned = browser.api("POST", f"/users/{admin}/server")
    assert spawned.status_code in {201, 202}, spawned.text
    _server_ready(browser, admin, timeout=180)
    token = browser.new_token(admin, [f"access:servers!server={admin}/"])
    assert "kernels" in _lab_status(hub.public_url, admin, token)
    print(f"lab ready through the proxy after {time.monotonic() - spawn_started:.1f} s")
    lab = docker_client.containers.get(f"jupyterlab-{admin}")
    # The very image (by id): other tests may tag it with other names meanwhile.
    assert lab.attrs["Config"]["Image"] == lab_image
    assert lab.image.id == docker_client.images.get(lab_image).id
    assert hub.network in lab.attrs["NetworkSettings"]["Networks"]

    extended = browser.api("POST", f"/users/{admin}/extend-session", json={"hours": 1})
    assert extended.status_code == 200, extended.text
    assert extended.json()["granted_hours"] == 1
    session = browser.api("GET", f"/users/{admin}/session-info").json()
    assert session["culler_enabled"] and session["cull_at"], session
    for _ in range(2):  # with the sampler's own first tick, two or three samples
        sampled = browser.api("POST", "/activity/sample")
        assert sampled.status_code == 200, sampled.text
    samples_before = _activity_row(browser, admin)["sample_count"]
    assert samples_before >= 2

    restart_started = time.monotonic()
    hub.container.restart(timeout=30)
    print(f"hub ready again {hub.wait_ready():.1f} s after the restart began")
    print(f"restart to ready: {time.monotonic() - restart_started:.1f} s")

    # The same browser session: the cookie secret and the login live in the data volume.
    model = browser.api("GET", f"/users/{admin}")
    assert model.status_code == 200, model.text
    assert model.json()["admin"] is True
    _server_ready(browser, admin, timeout=60)  # re-attached, not started again
    lab.reload()
    assert lab.status == "running"
    assert docker_client.containers.get(f"jupyterlab-{admin}").id == lab.id
    assert "kernels" in _lab_status(hub.public_url, admin, token)  # token and route are back
    # The restarted hub's sampler takes its first sample at start, which may land before this
    # read: one more at most. A lost history would count that one sample alone.
    samples_after = _activity_row(browser, admin)["sample_count"]
    assert samples_before <= samples_after <= samples_before + 1, (samples_before, samples_after)
    after = browser.api("GET", f"/users/{admin}/session-info").json()
    assert after["cull_at"] == session["cull_at"], (session, after)
    assert after["server_active"] is True

    stopped = browser.api("DELETE", f"/users/{admin}/server")
    assert stopped.status_code in {202, 204}, stopped.text


# --- the shipped files agree with each other (no Docker needed) -------------------------------

_COPY_SOURCE = re.compile(r"^COPY (?!--from)(\S+) ", re.MULTILINE)
_ENV_NAME = re.compile(r"\b((?:JUPYTERHUB|STELLARS)_[A-Z0-9_]+)\b")
# A build argument, and the test tooling's switches the builder stage sets or leaves unset.
_NOT_SETTINGS = frozenset(
    {"JUPYTERHUB_VERSION", "STELLARS_REQUIRE_BACKENDS", "STELLARS_HYPOTHESIS_PROFILE"}
)


def test_the_tooling_sends_what_the_dockerfile_copies():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    copied = {source.rstrip("/") for source in _COPY_SOURCE.findall(dockerfile)}
    copied.discard("deploy/jupyterhub_config.py")  # the runtime copy; deploy/ is sent whole
    assert copied == set(HUB_CONTEXT) - {"Dockerfile"}


def test_the_shipped_files_name_only_variables_of_the_catalogue():
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((REPO_ROOT / "compose.yml").read_text())
    hub = compose["services"]["hub"]
    names = set(hub["environment"])
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    names |= set(_ENV_NAME.findall(dockerfile)) - _NOT_SETTINGS
    assert names - set(BY_NAME) == set()
    env = hub["environment"]
    network = compose["networks"][hub["networks"][0]]["name"]
    assert env["JUPYTERHUB_NETWORK_NAME"] == network
    assert env["JUPYTERHUB_HUB_CONNECT_URL"] == "http://hub:8081"
    assert env["JUPYTERHUB_ADMIN_PASSWORD_FILE"] == f"/run/secrets/{hub['secrets'][0]}"
    assert "JUPYTERHUB_ADMIN_PASSWORD" not in env  # the password comes from the secret only
    assert any(f":{DATA_DIR}" in volume for volume in hub["volumes"])
    assert all(port.split(":")[-1] == "8000" for port in hub["ports"])
