"""Culling that spares a running computation (issue 21, section 4), on the real stack: the hub
from deploy/jupyterhub_config.py with DockerSpawner and the lab image, jupyterhub-idle-culler
running our arbiter as a managed service, the busy sampler reading the engine's counters.

Short timeouts: idle timeout 60 s (the least the catalogue allows), a culler pass every 10 s,
a busy window of 10 s, busy from 10 % of one core (the test machine's cores are shared). Two
labs start together and neither gets any activity from a browser:
- one runs a CPU loop (started in its container with `docker exec`): it outlives its idle
  timeout many times over, its session card says "kept alive: busy computing" with the figures
  (the API and the home page, in Chromium);
  when the loop stops, the same lab is culled once its idle timeout has run from the end of its
  last busy window;
- the other sleeps and is culled once its idle timeout has passed.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from datetime import datetime
from email.utils import parsedate_to_datetime

import docker.errors
import pytest
from tooling.run import gateway

from tests.backends.platform import ADMIN_PASSWORD, HubClient, start_platform
from tests.backends.processes import free_port

pytestmark = [pytest.mark.real, pytest.mark.hub, pytest.mark.browser]

TIMEOUT_SECONDS = 60
CULL_EVERY_SECONDS = 10
WINDOW_SECONDS = 10
CPU_PERCENT = 10
STOP_FILE = "/tmp/stop-spinning"
# Spins until told to stop: the stat of the file each turn is CPU time too.
SPIN = ["sh", "-c", f"while [ ! -e {STOP_FILE} ]; do :; done"]


def wait_for(predicate, timeout: float, what: str, hub=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    tail = "" if hub is None else "\n" + hub.log_tail(120)
    raise AssertionError(f"{what} not seen within {timeout} s{tail}")


@pytest.fixture
def names(docker_client):
    suffix = secrets.token_hex(3)
    chosen = (f"crunch{suffix}", f"nap{suffix}")
    yield chosen
    for name in chosen:
        for container in docker_client.containers.list(all=True, filters={"name": name}):
            container.remove(force=True)
        for volume in docker_client.volumes.list(filters={"name": name}):
            with contextlib.suppress(docker.errors.NotFound):
                volume.remove(force=True)


def server_of(admin: HubClient, name: str) -> dict:
    answer = admin.api("GET", f"/users/{name}")
    assert answer.status_code == 200, answer.text
    return (answer.json().get("servers") or {}).get("") or {}


def container_of(docker_client, name: str):
    found = docker_client.containers.list(filters={"name": name})
    return found[0] if found else None


def test_a_computing_lab_outlives_its_idle_timeout_and_an_idle_one_does_not(
    jupyterhub_factory, tmp_path, docker_client, lab_image, names, browser_page
):
    cruncher, napper = names
    bridge = gateway(docker_client, "bridge")
    env = {
        "JUPYTERHUB_ADMIN": cruncher,
        "STELLARS_SPAWNER": "docker",
        "JUPYTERHUB_NOTEBOOK_IMAGE": lab_image,
        "JUPYTERHUB_HUB_BIND_URL": f"http://{bridge}:{free_port(bridge)}",
        "JUPYTERHUB_IDLE_CULLER_ENABLED": "1",
        "JUPYTERHUB_IDLE_CULLER_TIMEOUT": str(TIMEOUT_SECONDS),
        "JUPYTERHUB_IDLE_CULLER_INTERVAL": str(CULL_EVERY_SECONDS),
        "JUPYTERHUB_IDLE_CULLER_MAX_EXTENSION": "0",
        "STELLARS_CULL_SPARE_BUSY": "1",
        # Low, for a test machine whose cores other work shares: the loop may get a fraction of
        # a core, and an idle JupyterLab uses well under 1 %.
        "STELLARS_CULL_BUSY_CPU_PERCENT": str(CPU_PERCENT),
        "STELLARS_CULL_BUSY_WINDOW_SECONDS": str(WINDOW_SECONDS),
    }
    hub = start_platform(jupyterhub_factory, tmp_path, env)
    admin = HubClient(hub.public_url)
    admin.login(cruncher, ADMIN_PASSWORD)
    assert admin.api("POST", f"/users/{napper}").status_code == 201
    for name in names:
        assert admin.api("POST", f"/users/{name}/server").status_code in {201, 202}
    for name in names:
        wait_for(lambda n=name: server_of(admin, n).get("ready"), 180, f"{name} ready", hub)
    lab = wait_for(lambda: container_of(docker_client, cruncher), 30, "the lab's container")
    lab.exec_run(SPIN, detach=True)
    started = server_of(admin, cruncher)["started"]

    # The sleeping lab goes once its timeout has passed (plus a culler pass or so).
    wait_for(lambda: not server_of(admin, napper), 4 * TIMEOUT_SECONDS, "the idle lab culled", hub)

    # The computing lab stays: well past its idle timeout, measured by the hub's own clock.
    def outlived() -> bool:
        server = server_of(admin, cruncher)
        assert server.get("ready"), f"the computing lab was culled\n{hub.log_tail(120)}"
        assert server["started"] == started  # the same server instance all along
        return age_seconds(admin, cruncher) > 2 * TIMEOUT_SECONDS + 2 * CULL_EVERY_SECONDS

    wait_for(outlived, 6 * TIMEOUT_SECONDS, "the computing lab outliving its timeout", hub)
    info = admin.api("GET", f"/users/{cruncher}/session-info").json()
    assert info["busy_computing"] is True, info
    assert info["busy"]["message"].startswith("kept alive: busy computing (CPU "), info
    assert info["busy"]["cpu_percent"] >= CPU_PERCENT, info
    assert info["time_remaining_seconds"] > 0, info
    assert "kept alive: busy computing" in hub.log_path.read_text(errors="replace")
    # The home page's session card says it too, with the figures.
    page = browser_page(hub.public_url)
    page.log_in(cruncher, ADMIN_PASSWORD)
    page.visit("/hub/home")
    page.page.wait_for_selector("#session-busy:not(.d-none)", timeout=20_000)
    assert page.page.inner_text("#session-busy").startswith("kept alive: busy computing (CPU ")
    page.snap("session-busy")

    # The loop stops: the same lab is now idle, and goes once its timeout has run out.
    lab.exec_run(["touch", STOP_FILE])
    wait_for(
        lambda: (
            not server_of(admin, cruncher)
            or not admin.api("GET", f"/users/{cruncher}/session-info").json()["busy_computing"]
        ),
        6 * WINDOW_SECONDS,
        "the lab no longer busy",
        hub,
    )
    wait_for(
        lambda: not server_of(admin, cruncher), 4 * TIMEOUT_SECONDS, "the idle lab culled", hub
    )
    wait_for(lambda: container_of(docker_client, cruncher) is None, 60, "the container gone")


def age_seconds(admin: HubClient, name: str) -> float:
    """How long the server has run by the hub's clock: its `started` against the Date of the
    hub's answer."""
    answer = admin.api("GET", f"/users/{name}")
    assert answer.status_code == 200, answer.text
    started = answer.json()["servers"][""]["started"]
    now = parsedate_to_datetime(answer.headers["Date"])
    return (now - datetime.fromisoformat(started.replace("Z", "+00:00"))).total_seconds()
