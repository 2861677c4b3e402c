"""Broadcasts into running JupyterLab servers, and the warning before the culler stops one.

Two hubs from deploy/jupyterhub_config.py:
- labs in Docker, from the project's lab image with the real notifications extension: a
  broadcast is read back through the extension's own API, and the pre-cull warning arrives in
  the lab once per deadline;
- lightweight local servers that speak the extension's ingest API (tests/backends/
  lab_stand_in.py), to see the credential each delivery uses and a lab without the extension.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from datetime import datetime, timedelta, timezone

import docker.errors
import pytest
import requests
from tooling.run import gateway

from stellars.adapters.sql import SqlDatabase, SqlSessionStore
from stellars.domain.sessions import SessionDeadline
from tests.backends.lab_stand_in import received, render_config
from tests.backends.platform import (
    ADMIN_PASSWORD,
    HubClient,
    platform_env,
    signed_up_user,
    start_platform,
)
from tests.backends.processes import free_port

pytestmark = pytest.mark.real

WARNING_MINUTES = 9
TIMEOUT = 600  # the warning (9 min before) comes a minute after a server starts


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} not seen within {timeout} s")


def ready(admin: HubClient, name: str) -> bool:
    server = (admin.api("GET", f"/users/{name}").json().get("servers") or {}).get("")
    return bool(server and server["ready"])


class Labs:
    """A hub whose users' servers are Docker containers of the lab image."""

    def __init__(self, factory, tmp, docker_client, lab_image) -> None:
        self.prefix = f"n{secrets.token_hex(2)}"
        self.ann, self.ben, self.cy = (f"{self.prefix}{n}" for n in ("ann", "ben", "cy"))
        bridge = gateway(docker_client, "bridge")
        self.env = {
            "STELLARS_SPAWNER": "docker",
            "JUPYTERHUB_NOTEBOOK_IMAGE": lab_image,
            "JUPYTERHUB_HUB_BIND_URL": f"http://{bridge}:{free_port(bridge)}",
            "JUPYTERHUB_IDLE_CULLER_ENABLED": "1",
            "JUPYTERHUB_IDLE_CULLER_TIMEOUT": str(TIMEOUT),
            "JUPYTERHUB_IDLE_CULLER_INTERVAL": "10",
            "JUPYTERHUB_IDLE_CULLER_MAX_EXTENSION": "2",
            "JUPYTERHUB_IDLE_CULLER_WARNING_MINUTES": str(WARNING_MINUTES),
        }
        self.data = tmp / "data"
        self.hub = start_platform(factory, tmp, self.env)
        self.admin = HubClient(self.hub.public_url)
        self.admin.login("admin", ADMIN_PASSWORD)
        self.users = {
            name: signed_up_user(self.hub.public_url, self.admin, name, f"{name}-password-1")
            for name in (self.ann, self.ben, self.cy)
        }
        for name in (self.ann, self.ben):
            assert self.admin.api("POST", f"/users/{name}/server").status_code in {201, 202}
        for name in (self.ann, self.ben):
            wait_for(lambda n=name: ready(self.admin, n), 180, f"{name}'s lab")
        self.tokens = {
            name: self.users[name].new_token(name, [f"access:servers!server={name}/"])
            for name in (self.ann, self.ben)
        }

    def fetch(self, name: str) -> list[dict]:
        """The notifications waiting in a lab, read (and taken) through the extension's API."""
        answer = requests.get(
            f"{self.hub.public_url}/user/{name}/jupyterlab-notifications-extension/notifications",
            headers={"Authorization": f"token {self.tokens[name]}"},
            timeout=30,
        )
        answer.raise_for_status()
        return answer.json()["notifications"]


@pytest.fixture(scope="module")
def labs(jupyterhub_factory_module, tmp_path_factory, docker_client, lab_image):
    labs = Labs(
        jupyterhub_factory_module, tmp_path_factory.mktemp("labs"), docker_client, lab_image
    )
    yield labs
    for name in (labs.ann, labs.ben):
        labs.admin.api("DELETE", f"/users/{name}/server")
    for container in docker_client.containers.list(all=True, filters={"name": labs.prefix}):
        container.remove(force=True)
    for volume in docker_client.volumes.list(filters={"name": labs.prefix}):
        with contextlib.suppress(docker.errors.NotFound):
            volume.remove(force=True)


def test_a_broadcast_reaches_two_running_labs_and_reports_everyone(labs):
    body = {
        "message": "  Maintenance at noon: save your work  ",
        "variant": "warning",
        "autoClose": False,
        "recipients": [labs.ann, labs.ben, labs.cy, "ghost"],
    }
    report = labs.admin.api("POST", "/notifications/broadcast", json=body).json()
    assert (report["total"], report["successful"], report["failed"], report["skipped"]) == (
        2,
        2,
        0,
        2,
    )
    details = {d["username"]: d for d in report["details"]}
    assert details[labs.ann]["outcome"] == details[labs.ben]["outcome"] == "delivered"
    assert details[labs.ann]["status"] == details[labs.ben]["status"] == "success"
    assert details[labs.cy] == {
        "username": labs.cy,
        "server": None,
        "status": "skipped",
        "outcome": "skipped",
        "error": "no running server",
    }
    assert details["ghost"]["error"] == "no such user"
    for name in (labs.ann, labs.ben):
        shown = [n for n in labs.fetch(name) if n["message"].startswith("Maintenance")]
        assert len(shown) == 1
        assert shown[0]["message"] == "Maintenance at noon: save your work"
        assert shown[0]["type"] == "warning"
        assert shown[0]["autoClose"] is False


def test_active_servers_lists_the_running_ones(labs):
    servers = labs.admin.api("GET", "/notifications/active-servers").json()["servers"]
    running = {s["username"] for s in servers}
    assert {labs.ann, labs.ben} <= running and labs.cy not in running
    assert all(s["started"].endswith("Z") for s in servers)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/notifications/active-servers", None),
        ("POST", "/notifications/broadcast", {"message": "hi", "recipients": ["nobody-at-all"]}),
    ],
)
def test_only_admins_and_scoped_tokens_may_broadcast(labs, method, path, body):
    user = labs.users[labs.cy]
    assert HubClient(labs.hub.public_url).api(method, path, json=body).status_code == 403
    assert user.api(method, path, json=body).status_code == 403
    assert labs.admin.api(method, path, json=body).status_code == 200
    scoped = HubClient(
        labs.hub.public_url, labs.admin.new_token("admin", ["custom:stellars:broadcast"])
    )
    assert scoped.api(method, path, json=body).status_code == 200
    unscoped = HubClient(labs.hub.public_url, labs.admin.new_token("admin", ["read:users"]))
    assert unscoped.api(method, path, json=body).status_code == 403
    fetch = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"}
    assert labs.admin.api(method, path, json=body, xsrf=False, headers=fetch).status_code == 403


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "message: is required and must be a string"),
        ({"message": "   "}, "message: must not be empty"),
        ({"message": "x" * 141}, "message: must be at most 140 characters, got 141"),
        ({"message": "hi", "variant": "loud"}, "variant: must be one of: default, info"),
        (
            {"message": "hi", "autoClose": "soon"},
            'autoClose: must be true, false or milliseconds, got "soon"',
        ),
        (
            {"message": "hi", "recipients": "ann"},
            'recipients: must be a list of strings, got "ann"',
        ),
        ({"message": "hi", "recipients": []}, "recipients: must name at least one user"),
    ],
)
def test_bad_broadcasts_are_400_naming_the_field(labs, body, message):
    answer = labs.admin.api("POST", "/notifications/broadcast", json=body)
    assert answer.status_code == 400
    assert answer.json()["message"].startswith(message)


def test_the_warning_arrives_once_before_the_stop_and_again_after_an_extension(labs):
    def warnings(name: str) -> list[dict]:
        return [n for n in labs.fetch(name) if n["message"].startswith("Idle session")]

    # Reading the lab is activity, which moves the deadline: read it only every few seconds.
    first = wait_for(lambda: warnings(labs.ann) or time.sleep(5), 120, "the warning in the lab")
    assert len(first) == 1
    assert first[0]["type"] == "warning"
    assert "stops at" in first[0]["message"] and "/hub/home" in first[0]["message"]
    time.sleep(45)  # two more checks of the warner: the same deadline is not warned again
    assert warnings(labs.ann) == []
    session = labs.users[labs.ann].api("GET", f"/users/{labs.ann}/session-info").json()
    assert session["time_remaining_seconds"] > 0  # warned before the stop, not after
    extended = labs.users[labs.ann].api(
        "POST", f"/users/{labs.ann}/extend-session", json={"hours": 1}
    )
    assert extended.status_code == 200
    # An hour on, in effect: the extension's deadline is brought to two minutes after the idle
    # deadline that was warned about, which puts it within the warning time.
    model = labs.admin.api("GET", f"/users/{labs.ann}").json()
    due = parse_time(model["servers"][""]["started"]) + timedelta(seconds=TIMEOUT + 120)
    move_deadline(labs.data, labs.ann, due)
    info = labs.users[labs.ann].api("GET", f"/users/{labs.ann}/session-info").json()
    assert parse_time(info["cull_at"]) == due
    again = wait_for(
        lambda: warnings(labs.ann) or time.sleep(5), 150, "the warning for the new deadline"
    )
    assert len(again) == 1
    assert again[0]["message"] != first[0]["message"]  # another stop time
    metrics = labs.admin.session.get(labs.admin.url("/metrics"), timeout=30).text
    assert 'stellars_cull_warnings_total{outcome="delivered"}' in metrics


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def move_deadline(data, name: str, cull_at: datetime) -> None:
    async def move() -> None:
        database = SqlDatabase.from_url(f"sqlite:///{data / 'stellars.sqlite'}")
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


# --- lightweight servers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stand_ins(jupyterhub_factory_module, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stand-ins")
    data = tmp / "data"
    env = platform_env(data, JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD, STELLARS_SPAWNER="local")
    hub = jupyterhub_factory_module(render_config(tmp / "config"), env, workdir=tmp / "hub")
    admin = HubClient(hub.public_url)
    admin.login("admin", ADMIN_PASSWORD)
    names = ["lab1", "noext1"]
    admin.api("POST", "/users", json={"usernames": names}).raise_for_status()
    for name in names:
        assert admin.api("POST", f"/users/{name}/server").status_code in {201, 202}
        wait_for(lambda n=name: ready(admin, n), 60, f"{name}'s server")
    return hub, admin, data


def test_a_lab_without_the_extension_is_reported_failed_with_the_reason(stand_ins):
    _, admin, data = stand_ins
    report = admin.api("POST", "/notifications/broadcast", json={"message": "hello"}).json()
    details = {d["username"]: d for d in report["details"]}
    assert details["lab1"]["outcome"] == "delivered"
    assert details["noext1"] == {
        "username": "noext1",
        "server": "",
        "status": "failed",
        "outcome": "failed",
        "error": "the lab has no notifications extension",
    }
    assert received(data, "lab1")[-1]["body"]["message"] == "hello"


def test_each_delivery_uses_the_servers_own_credential_for_that_server_only_and_mints_none(
    stand_ins,
):
    """The credential a delivery presents is the one JupyterHub gave the server when it started
    it: the recipient holds it already, it reaches that one server, a broadcast mints and
    leaves no token, and the credential dies with the server."""
    hub, admin, data = stand_ins

    def tokens() -> list[tuple[str, str]]:
        listed = admin.api("GET", "/users/lab1/tokens").json()["api_tokens"]
        return sorted((t["id"], t["note"]) for t in listed)

    before = tokens()
    for message in ("one", "two"):
        answer = admin.api(
            "POST", "/notifications/broadcast", json={"message": message, "recipients": ["lab1"]}
        )
        assert answer.status_code == 200, answer.text
        report = answer.json()
        assert (report["total"], report["successful"], report["failed"]) == (1, 1, 0), report
        assert report["details"][0]["outcome"] == "delivered", report
    # The lab's last two ingests are these two deliveries, not ones of earlier tests.
    records = received(data, "lab1")[-2:]
    assert [r["body"]["message"] for r in records] == ["one", "two"]
    assert [r["own_token"] for r in records] == [True, True]  # $JUPYTERHUB_API_TOKEN
    first, second = (r["authorization"] for r in records)
    assert first == second
    # It reaches this one server and posts (so reads) its owner's activity (JupyterHub's
    # `server` role), nothing else (JupyterHub adds only the right to read the owner's own name
    # and groups, which every token has).
    identity = {"read:users:name!user=lab1", "read:users:groups!user=lab1"}
    server_role = {
        "access:servers!server=lab1/",
        "users:activity!user=lab1",
        "read:users:activity!user=lab1",
    }
    for record in records:
        assert "access:servers!server=lab1/" in record["scopes"]
        assert set(record["scopes"]) <= server_role | identity
    assert requests.get(
        f"{hub.api_url}/users/noext1", headers={"Authorization": first}, timeout=30
    ).status_code in {403, 404}
    assert tokens() == before  # no token minted for a delivery, none left over
    # It dies with the server.
    assert admin.api("DELETE", "/users/lab1/server").status_code in {202, 204}
    wait_for(lambda: not admin.api("GET", "/users/lab1").json()["servers"], 60, "lab1 stopped")
    answer = requests.get(f"{hub.api_url}/user", headers={"Authorization": first}, timeout=30)
    assert answer.status_code == 403  # the hub no longer knows it
    assert admin.api("POST", "/users/lab1/server").status_code in {201, 202}
    wait_for(lambda: ready(admin, "lab1"), 60, "lab1's server again")
