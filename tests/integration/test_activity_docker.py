"""The activity dashboard and sessions over the real Docker engine: a running lab's CPU and memory
come from the stats refresher's snapshot; when the engine goes away the dashboard still answers
from the last snapshot, saying how old it is and why it is not fresher (on the API and on the
page); and a session's deadline and the activity samples outlive a restart of the hub, as the
lab's container does.

The engine is taken away from the hub only: the hub talks to it through a socket relay the test
cuts, so other tests on the same engine are not disturbed."""

from __future__ import annotations

import contextlib
import secrets
import time

import docker.errors
import pytest
from tooling.run import gateway

from tests.backends.platform import ADMIN_PASSWORD, HubClient, start_platform
from tests.backends.processes import free_port
from tests.backends.socket_relay import SocketRelay

pytestmark = pytest.mark.real


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} not seen within {timeout} s")


def activity_row(admin: HubClient, name: str) -> dict:
    """The user's row of the activity dashboard (GET /hub/api/activity), found by name."""
    answer = admin.api("GET", "/activity")
    assert answer.status_code == 200, answer.text
    rows = {row["username"]: row for row in answer.json()["users"]}
    assert name in rows, sorted(rows)
    return rows[name]


@pytest.fixture
def owner(docker_client):
    name = f"act{secrets.token_hex(3)}"
    yield name
    for container in docker_client.containers.list(all=True, filters={"name": name}):
        container.remove(force=True)
    for volume in docker_client.volumes.list(filters={"name": name}):
        with contextlib.suppress(docker.errors.NotFound):
            volume.remove(force=True)


def test_the_dashboard_answers_from_the_last_snapshot_when_docker_goes_away(
    jupyterhub_factory, tmp_path, docker_client, lab_image, owner, browser_page
):
    bridge = gateway(docker_client, "bridge")
    relay = SocketRelay(tmp_path / "docker.sock", "/var/run/docker.sock").start()
    try:
        hub = start_platform(
            jupyterhub_factory,
            tmp_path,
            {
                "JUPYTERHUB_ADMIN": owner,
                "STELLARS_SPAWNER": "docker",
                "DOCKER_HOST": relay.url,
                "JUPYTERHUB_NOTEBOOK_IMAGE": lab_image,
                "JUPYTERHUB_HUB_BIND_URL": f"http://{bridge}:{free_port(bridge)}",
                "JUPYTERHUB_ACTIVITYMON_RESOURCES_UPDATE_INTERVAL": "2",
            },
        )
        admin = HubClient(hub.public_url)
        admin.login(owner, ADMIN_PASSWORD)
        assert admin.api("POST", f"/users/{owner}/server").status_code in {201, 202}

        def measured():
            answer = admin.api("GET", "/activity").json()
            row = next(r for r in answer["users"] if r["username"] == owner)
            return answer if row["memory_mb"] is not None else None

        before = wait_for(measured, 120, "the lab's memory on the dashboard")
        row = next(r for r in before["users"] if r["username"] == owner)
        assert row["status"] in {"active", "idle"}
        assert row["cpu_percent"] is not None and row["memory_mb"] > 0
        assert before["snapshots"]["container_stats"]["error"] is None

        relay.cut()

        def failing():
            answer = admin.api("GET", "/activity").json()
            return answer if answer["snapshots"]["container_stats"]["error"] else None

        after = wait_for(failing, 30, "a failed stats refresh")
        row_after = next(r for r in after["users"] if r["username"] == owner)
        assert row_after["memory_mb"] == pytest.approx(row["memory_mb"], rel=0.5)
        state = after["snapshots"]["container_stats"]
        assert "Docker engine" in state["error"]
        time.sleep(3)  # the snapshot only grows older while the engine is gone
        later = admin.api("GET", "/activity").json()["snapshots"]["container_stats"]
        assert later["age_seconds"] >= state["age_seconds"] + 2
        assert later["error"]

        page = browser_page(hub.public_url)
        page.log_in(owner, ADMIN_PASSWORD)
        page.visit("/hub/activity")
        page.page.wait_for_selector(f"tr[data-username='{owner}']")
        freshness = page.page.inner_text("#activity-freshness")
        assert "CPU and memory from" in freshness and "latest refresh failed" in freshness
        page.snap("activity-docker-down")

        relay.restore()
        admin.api("DELETE", f"/users/{owner}/server")
        wait_for(lambda: not docker_client.containers.list(filters={"name": owner}), 60, "the stop")
    finally:
        relay.stop()


def test_deadlines_and_activity_survive_a_hub_restart(
    jupyterhub_factory, tmp_path, docker_client, lab_image, owner
):
    bridge = gateway(docker_client, "bridge")
    env = {
        "JUPYTERHUB_ADMIN": owner,
        "STELLARS_SPAWNER": "docker",
        "JUPYTERHUB_NOTEBOOK_IMAGE": lab_image,
        "JUPYTERHUB_HUB_BIND_URL": f"http://{bridge}:{free_port(bridge)}",
        "JUPYTERHUB_IDLE_CULLER_ENABLED": "1",
        "JUPYTERHUB_IDLE_CULLER_TIMEOUT": "3600",
    }
    hub = start_platform(jupyterhub_factory, tmp_path, env)
    admin = HubClient(hub.public_url)
    admin.login(owner, ADMIN_PASSWORD)
    assert admin.api("POST", f"/users/{owner}/server").status_code in {201, 202}
    wait_for(
        lambda: (
            (admin.api("GET", f"/users/{owner}").json().get("servers") or {}).get("") or {}
        ).get("ready"),
        120,
        "the lab",
    )
    extended = admin.api("POST", f"/users/{owner}/extend-session", json={"hours": 2}).json()
    sampled = admin.api("POST", "/activity/sample")
    assert sampled.status_code == 200, sampled.text
    tick = sampled.json()
    assert tick["success"] is True and tick["active"] + tick["inactive"] >= 1, tick  # the lab
    before = extended["session_info"]
    samples = activity_row(admin, owner)["sample_count"]
    hub.stop()  # the lab's container keeps running (cleanup_servers is off)
    hub = start_platform(jupyterhub_factory, tmp_path, env)
    admin = HubClient(hub.public_url)
    admin.login(owner, ADMIN_PASSWORD)
    after = admin.api("GET", f"/users/{owner}/session-info").json()
    assert after["server_active"] is True
    assert after["cull_at"] == before["cull_at"]
    assert after["time_remaining_seconds"] > 2 * 3600
    # The restarted hub's sampler takes its first sample at start, which may land before this
    # read: one more at most. A lost history would count one at most (samples is 2 or more).
    assert samples >= 2
    counted = activity_row(admin, owner)["sample_count"]
    assert samples <= counted <= samples + 1
    admin.api("DELETE", f"/users/{owner}/server")
    wait_for(lambda: not docker_client.containers.list(filters={"name": owner}), 60, "the stop")
