"""The activity dashboard's API and idle sessions on a real JupyterHub started from
deploy/jupyterhub_config.py, with jupyterhub-idle-culler running our arbiter: who may call each
route, every bad input with its 4xx and message, servers culled when idle and kept while an
extension lasts (deadlines and activity across a hub restart: test_activity_docker.py, where
servers outlive the hub as containers do).

User servers are real jupyterhub-singleuser processes (the local-process spawner), so the test
needs no Docker engine; the culler's timeout is the shortest the settings allow (60 s)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from stellars.adapters.sql import SqlDatabase, SqlSessionStore
from stellars.domain.sessions import SessionDeadline
from tests.backends.platform import (
    ADMIN_PASSWORD,
    DEPLOY_CONFIG,
    HubClient,
    platform_env,
    signed_up_user,
)

pytestmark = pytest.mark.real

TIMEOUT = 60  # seconds: the shortest idle timeout the settings allow
CULL_EVERY = 10
MAX_EXTENSION = 2
CULLING = {
    "STELLARS_SPAWNER": "local",
    "JUPYTERHUB_IDLE_CULLER_ENABLED": "1",
    "JUPYTERHUB_IDLE_CULLER_TIMEOUT": str(TIMEOUT),
    "JUPYTERHUB_IDLE_CULLER_INTERVAL": str(CULL_EVERY),
    "JUPYTERHUB_IDLE_CULLER_MAX_EXTENSION": str(MAX_EXTENSION),
    "JUPYTERHUB_ACTIVITYMON_SAMPLE_INTERVAL": "3600",  # ticks only when a test asks
}


class Platform:
    """One hub for the module, its data directory, and its people."""

    def __init__(self, factory, tmp: Path) -> None:
        self.factory = factory
        self.data = tmp / "data"
        self.env = platform_env(self.data, JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD, **CULLING)
        self.workdir = tmp / "hub"
        self.hub = factory(DEPLOY_CONFIG, self.env, workdir=self.workdir)
        self.admin = HubClient(self.hub.public_url)
        self.admin.login("admin", ADMIN_PASSWORD)

    def user(self, name: str) -> HubClient:
        return signed_up_user(self.hub.public_url, self.admin, name, f"{name}-password-1")

    def client(self, token: str | None = None) -> HubClient:
        return HubClient(self.hub.public_url, token)

    def start_server(self, name: str) -> dict:
        answer = self.admin.api("POST", f"/users/{name}/server")
        assert answer.status_code in {201, 202}, answer.text
        return self.wait_for_server(name, ready=True)

    def server(self, name: str) -> dict | None:
        return (self.admin.api("GET", f"/users/{name}").json().get("servers") or {}).get("")

    def wait_for_server(self, name: str, *, ready: bool, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.server(name)
            if ready and server and server["ready"]:
                return server
            if not ready and not server:
                return {}
            time.sleep(0.5)
        raise AssertionError(
            f"server of {name} not {'ready' if ready else 'gone'}: {self.server(name)}"
        )

    def stop_server(self, name: str) -> None:
        self.admin.api("DELETE", f"/users/{name}/server")
        self.wait_for_server(name, ready=False)

    def move_deadline(self, name: str, cull_at: datetime) -> None:
        """What an hour of waiting would do: the stored deadline, brought forward."""

        async def move() -> None:
            database = SqlDatabase.from_url(f"sqlite:///{self.data / 'stellars.sqlite'}")
            try:
                store = SqlSessionStore(database)
                stored = await store.get(name)
                assert stored is not None
                await store.put(
                    SessionDeadline(stored.username, stored.server_name, stored.started, cull_at)
                )
            finally:
                database.close()

        asyncio.run(move())


@pytest.fixture(scope="module")
def platform(jupyterhub_factory_module, tmp_path_factory):
    return Platform(jupyterhub_factory_module, tmp_path_factory.mktemp("sessions"))


@pytest.fixture(scope="module")
def bob(platform):
    return platform.user("bob")


@pytest.fixture(scope="module")
def carol(platform):
    return platform.user("carol")


# --- who may call what --------------------------------------------------------------------

ADMIN_ROUTES = [
    ("GET", "/activity", None),
    ("POST", "/activity/reset", {}),
    ("POST", "/activity/sample", {}),
    ("GET", "/activity/history?start={today}&end={today}", None),
]
USER_ROUTES = [
    ("GET", "/users/{user}/session-info", None),
    ("POST", "/users/{user}/extend-session", {"hours": 1}),
]


def call(client: HubClient, method: str, path: str, body, **kwargs):
    today = datetime.now(timezone.utc).date().isoformat()
    return client.api(method, path.format(today=today, user="bob"), json=body, **kwargs)


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
def test_the_activity_routes_answer_admins_and_scoped_tokens_only(
    platform, bob, method, path, body
):
    assert call(platform.client(), method, path, body).status_code == 403  # anonymous
    refused = call(bob, method, path, body)
    assert refused.status_code == 403
    assert "custom:stellars:activity" in refused.json()["message"]
    assert call(platform.admin, method, path, body).status_code == 200
    scoped = platform.client(platform.admin.new_token("admin", ["custom:stellars:activity"]))
    assert call(scoped, method, path, body).status_code == 200
    unscoped = platform.client(platform.admin.new_token("admin", ["read:users"]))
    assert call(unscoped, method, path, body).status_code == 403
    fetch = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"}
    assert call(platform.admin, method, path, body, xsrf=False, headers=fetch).status_code == 403


@pytest.mark.parametrize(("method", "path", "body"), USER_ROUTES)
def test_the_session_routes_answer_the_user_admins_and_scoped_tokens(
    platform, bob, carol, method, path, body
):
    ok = {200, 409}  # extending a stopped server is refused with 409, but it was allowed to ask
    assert call(platform.client(), method, path, body).status_code == 403
    assert call(carol, method, path, body).status_code == 403  # another user
    assert call(bob, method, path, body).status_code in ok
    assert call(platform.admin, method, path, body).status_code in ok
    own_token = platform.client(bob.new_token("bob", ["custom:stellars:sessions!user=bob"]))
    assert call(own_token, method, path, body).status_code in ok
    other_token = platform.client(carol.new_token("carol"))
    assert call(other_token, method, path, body).status_code == 403
    unscoped = platform.client(bob.new_token("bob", ["read:users!user=bob"]))
    assert call(unscoped, method, path, body).status_code == 403
    fetch = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"}
    assert call(bob, method, path, body, xsrf=False, headers=fetch).status_code == 403


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "hours: is required"),
        ({"hours": 1.5}, "hours: must be a whole number, got 1.5"),
        ({"hours": True}, "hours: must be a whole number, got true"),
        ({"hours": "2"}, 'hours: must be a whole number, got "2"'),
        ({"hours": 0}, "hours: must be at least 1, got 0"),
        ({"hours": -3}, "hours: must be at least 1, got -3"),
        ({"hours": 1e9}, "hours: must be a whole number, got 1000000000.0"),
        ({"hours": MAX_EXTENSION + 1}, f"hours: must be at most {MAX_EXTENSION}"),
        ([1], "The request body must be a JSON object."),
    ],
)
def test_bad_hours_are_400_naming_the_problem(bob, body, message):
    answer = bob.api("POST", "/users/bob/extend-session", json=body)
    assert answer.status_code == 400
    assert answer.json()["message"].startswith(message)


def test_a_body_that_is_not_json_is_400(bob):
    answer = bob.api("POST", "/users/bob/extend-session", data="hours=2")
    assert answer.status_code == 400
    assert answer.json()["message"] == "The request body is not valid JSON."


def test_an_unknown_user_is_404(platform):
    answer = platform.admin.api("GET", "/users/nobody/session-info")
    assert answer.status_code == 404
    assert "nobody" in answer.json()["message"]


def test_extending_a_stopped_server_is_409(platform, bob):
    assert platform.server("bob") is None
    answer = bob.api("POST", "/users/bob/extend-session", json={"hours": 1})
    assert answer.status_code == 409
    assert answer.json()["message"] == "The server is not running."


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=0", "limit: must be between 1 and 1000, got 0"),
        ("limit=ten", "limit: must be a whole number, got 'ten'"),
        ("offset=-1", "offset: must be between 0 and 1000000000, got -1"),
    ],
)
def test_bad_paging_is_400(platform, query, message):
    answer = platform.admin.api("GET", f"/activity?{query}")
    assert answer.status_code == 400
    assert answer.json()["message"] == message


def test_bad_history_ranges_are_400(platform):
    today = datetime.now(timezone.utc).date()
    cases = {
        "": "start: is required, as YYYY-MM-DD",
        f"start={today}&end=2026-13-01": "end: must be a date as YYYY-MM-DD, got '2026-13-01'",
        f"start={today}&end={today - timedelta(days=1)}": "start",
        f"start={today - timedelta(days=30)}&end={today}": "start",
        f"start={today}&end={today + timedelta(days=1)}": "end",
        f"start={today}&end={today}&format=xml": "format: must be csv or json, got 'xml'",
    }
    for query, message in cases.items():
        answer = platform.admin.api("GET", f"/activity/history?{query}")
        assert answer.status_code == 400, query
        assert answer.json()["message"].startswith(message), (query, answer.text)


# --- the dashboard's data -------------------------------------------------------------------


def test_a_sample_now_and_a_reset_show_in_the_dashboard(platform, bob, carol):
    platform.admin.api("POST", "/activity/reset")  # the access tests above took samples too
    summary = platform.admin.api("POST", "/activity/sample").json()
    assert summary["total"] == 3 and summary["offline"] == 3
    rows = {row["username"]: row for row in platform.admin.api("GET", "/activity").json()["users"]}
    assert set(rows) == {"admin", "bob", "carol"}
    assert rows["bob"]["sample_count"] == 1
    assert rows["bob"]["activity_score"] == 0
    assert rows["bob"]["activity_level"] == "none"
    assert rows["bob"]["is_authorized"] is True
    assert rows["bob"]["status"] == "offline"
    assert rows["bob"]["enough_data"] is False
    reset = platform.admin.api("POST", "/activity/reset").json()
    assert reset == {"success": True, "deleted": 3}
    rows = {row["username"]: row for row in platform.admin.api("GET", "/activity").json()["users"]}
    assert rows["bob"]["sample_count"] == 0
    assert rows["bob"]["activity_score"] is None


def test_the_dashboard_pages_through_users_and_reports_its_snapshots(platform, bob, carol):
    first = platform.admin.api("GET", "/activity?limit=2").json()
    assert [row["username"] for row in first["users"]] == ["admin", "bob"]
    assert first["total"] == 3 and first["next_offset"] == 2
    rest = platform.admin.api("GET", "/activity?offset=2&limit=2").json()
    assert [row["username"] for row in rest["users"]] == ["carol"]
    assert rest["next_offset"] is None
    assert set(first["snapshots"]) == {"container_stats", "volume_sizes"}
    assert first["target_hours"] == 8


def test_the_usage_history_is_a_csv_of_daily_active_hours(platform, bob):
    platform.admin.api("POST", "/activity/sample")
    today = datetime.now(timezone.utc).date().isoformat()
    answer = platform.admin.api("GET", f"/activity/history?start={today}&end={today}")
    assert answer.headers["Content-Type"].startswith("text/csv")
    lines = answer.text.splitlines()
    assert lines[0] == "username,day,active_hours"
    assert f"bob,{today},0.00" in lines
    as_json = platform.admin.api(
        "GET", f"/activity/history?start={today}&end={today}&users=bob&format=json"
    ).json()
    assert as_json["days"] == [{"username": "bob", "day": today, "active_hours": 0.0}]


# --- culling ----------------------------------------------------------------------------------


def test_an_idle_server_is_culled_and_an_extended_one_is_kept_until_its_deadline(
    platform, bob, carol
):
    platform.start_server("bob")
    platform.start_server("carol")
    info = carol.api("GET", "/users/carol/session-info").json()
    assert info["culler_enabled"] and info["server_active"]
    assert 0 < info["time_remaining_seconds"] <= TIMEOUT
    assert info["extensions_available_hours"] == MAX_EXTENSION
    extended = carol.api("POST", "/users/carol/extend-session", json={"hours": 1}).json()
    assert extended["granted_hours"] == 1 and extended["truncated"] is False
    assert extended["session_info"]["time_remaining_seconds"] > 3600
    # Asking for more than is still on offer is granted up to the offer, and says so.
    truncated = carol.api("POST", "/users/carol/extend-session", json={"hours": 2}).json()
    assert truncated["truncated"] is True
    assert truncated["granted_hours"] == 1
    assert "limited to the 1 still available" in truncated["message"]
    nothing_left = carol.api("POST", "/users/carol/extend-session", json={"hours": 1})
    assert nothing_left.status_code == 409
    assert "No extension is available" in nothing_left.json()["message"]
    # Bob's server is culled once idle past the timeout (within one cull interval).
    platform.wait_for_server("bob", ready=False, timeout=TIMEOUT + 3 * CULL_EVERY)
    assert platform.server("carol") is not None  # still running: extended
    # An hour later, in effect: the stored deadline comes due in 25 s.
    due = datetime.now(timezone.utc) + timedelta(seconds=25)
    platform.move_deadline("carol", due)
    left = carol.api("GET", "/users/carol/session-info").json()["time_remaining_seconds"]
    assert 15 <= left <= 25
    platform.wait_for_server("carol", ready=False, timeout=25 + 3 * CULL_EVERY)
    culled_at = datetime.now(timezone.utc)
    assert culled_at >= due
    assert (culled_at - due).total_seconds() <= CULL_EVERY + 5  # one interval, and a margin
    metrics = platform.admin.session.get(platform.admin.url("/metrics"), timeout=30).text
    assert 'stellars_session_extensions_total{outcome="granted"} 2.0' in metrics
    assert 'stellars_session_extensions_total{outcome="refused"}' in metrics
