"""Every route the platform shares with the original answers every field the original answered,
with the same name and meaning, beside the platform's own (tests/original_api.py holds the
original's key sets). Clients written for the original keep working; a field dropped or renamed
fails here.

The hub runs deploy/jupyterhub_config.py with lightweight stand-in servers (the restart route,
which needs a real container, is checked in test_servers_volumes.py).
"""

from __future__ import annotations

import re
import time

import pytest

from tests.backends.lab_stand_in import render_config
from tests.backends.platform import ADMIN_PASSWORD, HubClient, platform_env
from tests.original_api import missing_original_fields

pytestmark = [pytest.mark.real, pytest.mark.hub]

RUNNING = "orig-ann"
STOPPED = "orig-bob"


def wait_until_ready(admin: HubClient, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server = (admin.api("GET", f"/users/{name}").json().get("servers") or {}).get("")
        if server and server["ready"]:
            return
        time.sleep(0.5)
    raise AssertionError(f"{name}'s server did not start within {timeout} s")


@pytest.fixture(scope="module")
def hub(jupyterhub_factory_module, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("original-fields")
    env = platform_env(
        tmp / "data",
        JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
        STELLARS_SPAWNER="local",
        JUPYTERHUB_IDLE_CULLER_ENABLED="1",
        JUPYTERHUB_IDLE_CULLER_TIMEOUT="3600",
        JUPYTERHUB_IDLE_CULLER_MAX_EXTENSION="24",
    )
    process = jupyterhub_factory_module(render_config(tmp / "config"), env, workdir=tmp / "hub")
    admin = HubClient(process.public_url)
    admin.login("admin", ADMIN_PASSWORD)
    users = admin.api("POST", "/users", json={"usernames": [RUNNING, STOPPED]})
    assert users.status_code == 201, users.text
    assert admin.api("POST", f"/users/{RUNNING}/server").status_code in {201, 202}
    wait_until_ready(admin, RUNNING)
    return admin


def test_session_info_running_and_stopped(hub):
    for name in (RUNNING, STOPPED):
        answer = hub.api("GET", f"/users/{name}/session-info")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert missing_original_fields("GET /api/users/{u}/session-info", body) == []
    stopped = hub.api("GET", f"/users/{STOPPED}/session-info").json()
    assert (stopped["server_active"], stopped["extensions_used_hours"]) == (False, 0)


def test_extend_session_granted_and_refused(hub):
    before = hub.api("GET", f"/users/{RUNNING}/session-info").json()
    granted = hub.api("POST", f"/users/{RUNNING}/extend-session", json={"hours": 2})
    assert granted.status_code == 200, granted.text
    body = granted.json()
    assert missing_original_fields("POST /api/users/{u}/extend-session", body) == []
    assert body["success"] is True
    info = body["session_info"]
    # The original's meaning: hours granted beyond the idle timeout, and what is left of the
    # maximum; the two add up to the maximum.
    assert info["extensions_used_hours"] == before["extensions_used_hours"] + 2
    assert info["extensions_used_hours"] + info["extensions_available_hours"] == 24
    refused = hub.api("POST", f"/users/{STOPPED}/extend-session", json={"hours": 1})
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert missing_original_fields("POST /api/users/{u}/extend-session (refused)", body) == []
    assert body["success"] is False
    assert body["error"] == body["message"] == "The server is not running."
    invalid = hub.api("POST", f"/users/{RUNNING}/extend-session", json={"hours": "two"})
    assert invalid.status_code == 400
    assert (
        missing_original_fields("POST /api/users/{u}/extend-session (refused)", invalid.json())
        == []
    )


def test_active_servers(hub):
    body = hub.api("GET", "/notifications/active-servers").json()
    assert missing_original_fields("GET /api/notifications/active-servers", body) == []
    assert [server["username"] for server in body["servers"]] == [RUNNING]


def test_broadcast_to_a_running_lab_and_to_nobody(hub):
    body = hub.api("POST", "/notifications/broadcast", json={"message": "hello"}).json()
    assert missing_original_fields("POST /api/notifications/broadcast", body) == []
    assert [(d["username"], d["status"]) for d in body["details"]] == [(RUNNING, "success")]
    nobody = hub.api(
        "POST", "/notifications/broadcast", json={"message": "hi", "recipients": [STOPPED]}
    ).json()
    assert (
        missing_original_fields("POST /api/notifications/broadcast (nobody running)", nobody) == []
    )
    assert (nobody["total"], nobody["successful"], nobody["failed"]) == (0, 0, 0)


def test_credentials(hub):
    created = hub.api("POST", "/users", json={"usernames": ["orig-carl"]})
    assert created.status_code == 201, created.text
    body = hub.api("POST", "/admin/credentials", json={"usernames": ["orig-carl"]}).json()
    assert missing_original_fields("POST /api/admin/credentials", body) == []
    assert body["credentials"][0]["username"] == "orig-carl"


def test_activity_sample_and_reset(hub):
    sample = hub.api("POST", "/activity/sample").json()
    assert missing_original_fields("POST /api/activity/sample", sample) == []
    activity = hub.api("GET", "/activity").json()
    assert missing_original_fields("GET /api/activity", activity) == []
    # The original's meaning: how many samples the store holds, for how many users.
    match = re.fullmatch(r"(\d+) samples for (\d+) users", activity["sampling_status"])
    assert match, activity["sampling_status"]
    counted = sum(row["sample_count"] for row in activity["users"])
    sampled = sum(1 for row in activity["users"] if row["sample_count"])
    assert (int(match[1]), int(match[2])) == (counted, sampled)
    reset = hub.api("POST", "/activity/reset").json()
    assert missing_original_fields("POST /api/activity/reset", reset) == []
    assert reset["deleted"] == counted
    assert hub.api("GET", "/activity").json()["sampling_status"] == "No samples yet"


def test_manage_volumes_reset(hub):
    answer = hub.api("DELETE", f"/users/{STOPPED}/manage-volumes", json={"volumes": ["home"]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert missing_original_fields("DELETE /api/users/{u}/manage-volumes", body) == []
    assert body["failed_volumes"] == [
        {"volume": "home", "name": body["failed_volumes"][0]["name"], "reason": "not found"}
    ]
