"""Group policies on a real JupyterHub started from deploy/jupyterhub_config.py, with
jupyterhub-idle-culler running our arbiter: who may call each policies route, every bad value
with its 400 naming the field, 404 for what is not there, the policies kept in the groups'
properties (JupyterHub's own group API shows and edits the same entry), what a user gets and
from which group, and the per-group idle timeout shown and enforced by the real culler.

User servers are local stand-in processes (the local-process spawner): sessions need no Docker
engine (what a lab gets is checked on the engine in test_policies_docker.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stellars.domain.policy_documents import PROPERTY_KEY
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
SETTINGS = {
    "STELLARS_SPAWNER": "local",
    "JUPYTERHUB_IDLE_CULLER_ENABLED": "1",
    "JUPYTERHUB_IDLE_CULLER_TIMEOUT": str(TIMEOUT),
    "JUPYTERHUB_IDLE_CULLER_INTERVAL": str(CULL_EVERY),
    "JUPYTERHUB_IDLE_CULLER_MAX_EXTENSION": "2",
    "JUPYTERHUB_ACTIVITYMON_SAMPLE_INTERVAL": "3600",
    "STELLARS_ALLOWED_IMAGES": "lab:default lab:cuda",
}
GIB = 1024**3


class Site:
    def __init__(self, factory, tmp: Path) -> None:
        env = platform_env(tmp / "data", JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD, **SETTINGS)
        self.hub = factory(DEPLOY_CONFIG, env, workdir=tmp / "hub")
        self.admin = HubClient(self.hub.public_url)
        self.admin.login("admin", ADMIN_PASSWORD)
        for group in ("long", "teachers", "empty"):
            assert self.admin.api("POST", f"/groups/{group}").status_code == 201

    def user(self, name: str) -> HubClient:
        return signed_up_user(self.hub.public_url, self.admin, name, f"{name}-password-1")

    def client(self, token: str | None = None) -> HubClient:
        return HubClient(self.hub.public_url, token)

    def join(self, group: str, *names: str) -> None:
        answer = self.admin.api("POST", f"/groups/{group}/users", json={"users": list(names)})
        assert answer.status_code == 200, answer.text

    def server(self, name: str) -> dict | None:
        return (self.admin.api("GET", f"/users/{name}").json().get("servers") or {}).get("")

    def start(self, name: str) -> None:
        answer = self.admin.api("POST", f"/users/{name}/server")
        assert answer.status_code in {201, 202}, answer.text
        self.wait(name, running=True, timeout=120)

    def wait(self, name: str, *, running: bool, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.server(name)
            if (running and server and server["ready"]) or (not running and not server):
                return
            time.sleep(0.5)
        raise AssertionError(f"server of {name}: {self.server(name)}")


@pytest.fixture(scope="module")
def site(jupyterhub_factory_module, tmp_path_factory) -> Site:
    return Site(jupyterhub_factory_module, tmp_path_factory.mktemp("policies"))


@pytest.fixture(scope="module")
def bob(site) -> HubClient:
    return site.user("bob")


@pytest.fixture(scope="module")
def carol(site) -> HubClient:
    return site.user("carol")


@pytest.fixture(scope="module")
def lea(site) -> HubClient:
    made = site.user("lea")
    site.join("long", "lea")
    site.join("teachers", "lea")
    return made


# --- who may call what ------------------------------------------------------------------------

ADMIN_ROUTES = [
    ("GET", "/policies", None, {200}),
    ("PUT", "/policies", {"order": []}, {200}),
    ("PUT", "/policies/empty", {"cpu_limit": 1}, {200}),
    ("GET", "/policies/empty", None, {200, 404}),
    ("DELETE", "/policies/empty", None, {200, 404}),
]


@pytest.mark.parametrize(("method", "path", "body", "ok"), ADMIN_ROUTES)
def test_the_policies_routes_answer_admins_and_scoped_tokens_only(
    site, bob, method, path, body, ok
):
    assert site.client().api(method, path, json=body).status_code == 403  # anonymous
    refused = bob.api(method, path, json=body)
    assert refused.status_code == 403
    assert "custom:stellars:policies" in refused.json()["message"]
    assert site.admin.api(method, path, json=body).status_code in ok
    scoped = site.client(site.admin.new_token("admin", ["custom:stellars:policies"]))
    assert scoped.api(method, path, json=body).status_code in ok
    unscoped = site.client(site.admin.new_token("admin", ["admin:groups", "read:users"]))
    assert unscoped.api(method, path, json=body).status_code == 403
    fetch = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"}
    assert site.admin.api(method, path, json=body, xsrf=False, headers=fetch).status_code == 403


def test_a_users_resources_answer_the_user_admins_and_scoped_tokens(site, bob, carol):
    path = "/users/bob/resources"
    assert site.client().api("GET", path).status_code == 403
    assert carol.api("GET", path).status_code == 403  # another user
    assert bob.api("GET", path).status_code == 200
    assert site.admin.api("GET", path).status_code == 200
    own = site.client(bob.new_token("bob", ["custom:stellars:resources!user=bob"]))
    assert own.api("GET", path).status_code == 200
    assert site.client(carol.new_token("carol")).api("GET", path).status_code == 403
    unscoped = site.client(bob.new_token("bob", ["read:users!user=bob"]))
    refused = unscoped.api("GET", path)
    assert refused.status_code == 403
    assert "custom:stellars:resources" in refused.json()["message"]
    admin_scoped = site.client(site.admin.new_token("admin", ["custom:stellars:resources"]))
    assert admin_scoped.api("GET", path).status_code == 200
    assert site.admin.api("GET", "/users/nobody/resources").status_code == 404


def test_the_page_opens_for_admins_only_and_its_link_with_it(site, bob):
    assert site.admin.page("/policies").status_code == 200
    assert 'href="/hub/policies"' in site.admin.page("/home").text
    assert bob.page("/policies").status_code == 403
    assert 'href="/hub/policies"' not in bob.page("/home").text


# --- bad values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({"memory_limit": -1}, "memory_limit", "at least 67108864"),
        ({"memory_limit": "4G"}, "memory_limit", "whole number"),
        ({"cpu_limit": 0}, "cpu_limit", "more than 0"),
        ({"images": ["evil:latest"]}, "images", "not one of the images a policy may name"),
        ({"environment": {"JUPYTERHUB_API_TOKEN": "x"}}, "environment", "set by JupyterHub"),
        ({"environment": {"PATH": "/tmp"}}, "environment", "set by JupyterHub"),
        ({"mounts": [{"volume": "team", "path": "/etc"}]}, "mounts", "system path"),
        ({"mounts": [{"volume": "team", "path": "/home/jovyan"}]}, "mounts", "mount point"),
        ({"mounts": [{"volume": "jupyterhub_shared", "path": "/x"}]}, "mounts", "platform's own"),
        ({"mounts": [{"volume": "/srv", "path": "/x"}]}, "mounts", "Docker volume name"),
        ({"gpu_sharing": "sometimes"}, "gpu_sharing", "exclusive or shared"),
        ({"idle_timeout_seconds": 5}, "idle_timeout_seconds", "between 60"),
        ({"docker_socket": "yes"}, "docker_socket", "true or false"),
        ({"memory": 4}, "memory", "is not a field of a policy"),
    ],
)
def test_every_bad_value_is_a_400_naming_its_field(site, body, field, text):
    answer = site.admin.api("PUT", "/policies/teachers", json=body)
    assert answer.status_code == 400, answer.text
    message = answer.json()["message"]
    assert message.startswith(f"{field}: "), message
    assert text in message
    assert answer.json()["status"] == 400


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"order": "long"}, 'order: must be a list of strings, got "long"'),
        ({}, "order: is required"),
        ({"order": ["long", "long"]}, "order: names 'long' more than once"),
        ({"order": ["empty-nothing"]}, "order: 'empty-nothing' has no policy"),
    ],
)
def test_a_bad_order_is_a_400_naming_it(site, body, message):
    answer = site.admin.api("PUT", "/policies", json=body)
    assert answer.status_code == 400
    assert answer.json()["message"] == message


def test_bodies_that_are_not_json_objects_are_400(site):
    answer = site.admin.api("PUT", "/policies/teachers", data="cpu_limit=2")
    assert (answer.status_code, answer.json()["message"]) == (
        400,
        "The request body is not valid JSON.",
    )
    answer = site.admin.api("PUT", "/policies/teachers", json=[1])
    assert answer.json()["message"] == "The request body must be a JSON object."


def test_what_is_not_there_is_a_404_that_says_why(site):
    answer = site.admin.api("PUT", "/policies/ghosts", json={"cpu_limit": 1})
    assert (answer.status_code, answer.json()["message"]) == (404, "No such group: ghosts")
    answer = site.admin.api("DELETE", "/policies/ghosts")
    assert (answer.status_code, answer.json()["message"]) == (404, "No such group: ghosts")
    site.admin.api("DELETE", "/policies/empty")
    answer = site.admin.api("GET", "/policies/empty")
    assert (answer.status_code, answer.json()["message"]) == (
        404,
        "The group empty has no policy.",
    )
    answer = site.admin.api("GET", "/policies/a/b")
    assert answer.status_code == 404
    assert answer.json()["message"].startswith("No such route")


# --- policies with the groups, and what a user gets -------------------------------------------


def test_a_policy_lives_in_its_groups_properties_and_the_hubs_group_api_sees_it(site):
    saved = site.admin.api(
        "PUT",
        "/policies/teachers",
        json={"memory_limit": 8 * GIB, "images": ["lab:cuda"], "environment": {"ROLE": "t"}},
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["policy"]["memory_limit"] == 8 * GIB
    assert saved.json()["message"] == "The policy of teachers is saved."
    properties = site.admin.api("GET", "/groups/teachers").json()["properties"]
    assert properties[PROPERTY_KEY]["policy"]["images"] == ["lab:cuda"]
    # Edited through JupyterHub's own group API: the platform reads that same entry.
    entry = dict(properties[PROPERTY_KEY])
    entry["policy"] = {**entry["policy"], "pids_limit": 999}
    edited = site.admin.api(
        "PUT", "/groups/teachers/properties", json={**properties, PROPERTY_KEY: entry}
    )
    assert edited.status_code == 200, edited.text
    listed = {p["group"]: p for p in site.admin.api("GET", "/policies").json()["policies"]}
    assert listed["teachers"]["pids_limit"] == 999


def test_the_overview_holds_what_the_page_needs(site):
    overview = site.admin.api("GET", "/policies").json()
    assert {"long", "teachers", "empty", "docker-sock", "docker-privileged"} <= set(
        overview["groups"]
    )
    assert overview["allowed_images"] == ["lab:default", "lab:cuda"]
    assert overview["builtin"] == [
        {"group": "docker-sock", "grants": "docker_socket"},
        {"group": "docker-privileged", "grants": "docker_privileged"},
    ]
    assert overview["defaults"]["idle_timeout_seconds"] == TIMEOUT
    assert overview["defaults"]["max_extension_hours"] == 2


def test_an_order_and_what_a_member_gets_from_which_group(site, lea):
    long_policy = {
        "idle_timeout_seconds": 3600,
        "max_extension_hours": 6,
        "images": ["lab:default"],
    }
    assert site.admin.api("PUT", "/policies/long", json=long_policy).status_code == 200
    site.admin.api(
        "PUT",
        "/policies/teachers",
        json={"memory_limit": 8 * GIB, "images": ["lab:cuda"], "environment": {"ROLE": "t"}},
    )
    ordered = site.admin.api("PUT", "/policies", json={"order": ["teachers", "long"]})
    assert [p["group"] for p in ordered.json()["policies"]][:2] == ["teachers", "long"]
    got = lea.api("GET", "/users/lea/resources").json()
    assert got["groups"] == ["long", "teachers"]
    assert (got["image"], got["images"]) == ("lab:cuda", ["lab:cuda", "lab:default"])
    assert got["memory_limit"] == 8 * GIB and got["idle_timeout_seconds"] == 3600
    assert got["environment"] == {"ROLE": "t"}
    assert got["sources"]["image"] == "teachers"
    assert got["sources"]["idle_timeout_seconds"] == "long"
    assert got["sources"]["environment:ROLE"] == "teachers"
    assert "cpu_limit" not in got["sources"]  # the platform's default
    assert got["docker_socket"] is False
    reordered = site.admin.api("PUT", "/policies", json={"order": ["long", "teachers"]})
    assert reordered.status_code == 200
    assert lea.api("GET", "/users/lea/resources").json()["image"] == "lab:default"


def test_a_member_of_a_built_in_group_gets_its_access_from_which_group(site, carol):
    site.join("docker-sock", "carol")
    got = site.admin.api("GET", "/users/carol/resources").json()
    assert got["docker_socket"] is True
    assert got["sources"]["docker_socket"] == "docker-sock"
    answer = site.admin.api("DELETE", "/groups/docker-sock/users", json={"users": ["carol"]})
    assert answer.status_code == 200


# --- the per-group idle timeout, shown and enforced -------------------------------------------


def test_the_culler_stops_the_idle_by_their_own_groups_timeout(site, bob, lea):
    site.admin.api("PUT", "/policies/long", json={"idle_timeout_seconds": 3600})
    site.start("bob")
    site.start("lea")
    lea_info = lea.api("GET", "/users/lea/session-info").json()
    assert lea_info["timeout_seconds"] == 3600
    assert 3500 < lea_info["time_remaining_seconds"] <= 3600
    bob_info = bob.api("GET", "/users/bob/session-info").json()
    assert bob_info["timeout_seconds"] == TIMEOUT
    # The real culler, reading lea's groups through the hub API: bob goes, lea stays.
    site.wait("bob", running=False, timeout=TIMEOUT + 4 * CULL_EVERY)
    time.sleep(CULL_EVERY + 2)  # one more pass, which must keep lea
    assert site.server("lea") is not None
    rows = {row["username"]: row for row in site.admin.api("GET", "/activity").json()["users"]}
    assert rows["lea"]["time_remaining_seconds"] > 3000
    # Leaving the group: the next pass holds her to the platform's timeout, long over.
    left = site.admin.api("DELETE", "/groups/long/users", json={"users": ["lea"]})
    assert left.status_code == 200
    site.wait("lea", running=False, timeout=3 * CULL_EVERY + 10)
