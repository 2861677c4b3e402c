"""Users created, renamed and deleted in a real JupyterHub started from deploy/jupyterhub_config.py
(local-process servers, no Docker needed):

- users an admin creates get a passphrase, collected once through `POST /hub/api/admin/credentials`
  and good for logging in; users who sign up and the configured admin never get one;
- a rename (`PATCH /hub/api/users/{name}`) and a deletion (`DELETE /hub/api/users/{name}`) take
  the NativeAuthenticator account, a waiting passphrase, the activity samples and the session
  deadlines with them, and creating users never passes for a rename;
- the Docker-access groups exist from the start;
- who may call each route of servers.py and users.py, for every kind of caller, and the 4xx
  answers to bad input.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from stellars.adapters.sql import SqlActivityStore, SqlDatabase, SqlSessionStore
from stellars.domain.activity import RecordedSample
from stellars.domain.sessions import SessionDeadline
from tests.backends.hub_helpers import wait_for
from tests.backends.platform import (
    ADMIN_PASSWORD,
    HubClient,
    signed_up_user,
    start_platform,
)

pytestmark = pytest.mark.real

NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("users")


@pytest.fixture(scope="module")
def hub(jupyterhub_factory_module, tmp):
    return start_platform(jupyterhub_factory_module, tmp, {"STELLARS_SPAWNER": "local"})


@pytest.fixture(scope="module")
def admin(hub) -> HubClient:
    client = HubClient(hub.public_url)
    client.login("admin", ADMIN_PASSWORD)
    return client


@pytest.fixture(scope="module")
def alice(hub, admin) -> HubClient:
    return signed_up_user(hub.public_url, admin, "alice", "alices-password-1")


@pytest.fixture(scope="module")
def bob(hub, admin) -> HubClient:
    return signed_up_user(hub.public_url, admin, "bob", "bobs-password-1")


def accounts(tmp: Path) -> dict[str, bool]:
    """NativeAuthenticator's rows in the hub database: username -> authorized."""
    with sqlite3.connect(tmp / "data" / "jupyterhub.sqlite") as connection:
        rows = connection.execute("SELECT username, is_authorized FROM users_info").fetchall()
    return {name: bool(authorized) for name, authorized in rows}


def create_users(admin: HubClient, *names: str) -> None:
    answer = admin.api("POST", "/users", json={"usernames": list(names)})
    assert answer.status_code == 201, answer.text


def collect(admin: HubClient, *names: str) -> dict[str, str]:
    answer = admin.api("POST", "/admin/credentials", json={"usernames": list(names)})
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    return {entry["username"]: entry["password"] for entry in answer.json()["credentials"]}


def logs_in(hub, username: str, password: str) -> bool:
    client = HubClient(hub.public_url)
    answer = client.session.post(
        client.url("/login"),
        data={"username": username, "password": password, "_xsrf": client.form_xsrf("/login")},
        allow_redirects=False,
        timeout=10,
    )
    return answer.status_code == 302


def in_stellars_db(tmp: Path, work: Callable[[SqlDatabase], Any]) -> Any:
    async def run() -> Any:
        database = SqlDatabase.from_url(f"sqlite:///{tmp / 'data' / 'stellars.sqlite'}")
        try:
            return await work(database)
        finally:
            database.close()

    return asyncio.run(run())


def seed_activity_and_deadline(tmp: Path, username: str) -> None:
    async def seed(database: SqlDatabase) -> None:
        store = SqlActivityStore(database, half_life=timedelta(hours=72))
        await store.add([RecordedSample(username, NOW - timedelta(minutes=10), True, NOW)])
        await SqlSessionStore(database).put(
            SessionDeadline(username, "", NOW - timedelta(hours=1), NOW + timedelta(hours=5))
        )

    in_stellars_db(tmp, seed)


def activity_and_deadline(tmp: Path, username: str) -> tuple[int, bool]:
    async def read(database: SqlDatabase) -> tuple[int, bool]:
        store = SqlActivityStore(database, half_life=timedelta(hours=72))
        samples = await store.samples(username, since=NOW - timedelta(days=1), until=NOW)
        deadline = await SqlSessionStore(database).get(username, "")
        return len(samples), deadline is not None

    return in_stellars_db(tmp, read)


class TestPassphrasesForUsersAnAdminCreates:
    def test_each_new_user_gets_a_passphrase_collected_once_and_good_for_logging_in(
        self, hub, admin, tmp
    ):
        create_users(admin, "carla", "dmitri", "ewa")
        found = collect(admin, "carla", "dmitri", "ewa")
        assert set(found) == {"carla", "dmitri", "ewa"}
        assert len(set(found.values())) == 3
        for name, password in found.items():
            assert len(password.split("-")) == 4  # four words and the default delimiter
            assert logs_in(hub, name, password)
        assert collect(admin, "carla", "dmitri", "ewa") == {}  # handed out once
        assert {"carla", "dmitri", "ewa"} <= {n for n, ok in accounts(tmp).items() if ok}

    def test_a_user_created_one_at_a_time_gets_one_too(self, hub, admin):
        answer = admin.api("POST", "/users/fiona", json={})
        assert answer.status_code == 201, answer.text
        assert set(collect(admin, "fiona")) == {"fiona"}

    def test_users_who_signed_up_and_the_configured_admin_get_none(self, admin, alice):
        assert collect(admin, "alice", "admin", "nobody-of-that-name") == {}

    def test_a_pending_sign_up_does_not_squat_a_name_an_admin_creates(self, hub, admin, tmp):
        """Security finding L3: a stranger signs up as carol before the admin creates carol
        for a real person. The stranger's password must never log in, and the admin is told."""
        strangers = "a-strangers-password-1"
        assert HubClient(hub.public_url).signup("carol", strangers).status_code == 200
        assert accounts(tmp)["carol"] is False  # waiting for an admin
        create_users(admin, "carol")
        answer = admin.api("POST", "/admin/credentials", json={"usernames": ["carol"]})
        assert answer.status_code == 200, answer.text
        if not accounts(tmp)["carol"]:  # what the admin did before: authorize the new name
            assert admin.page("/authorize/carol").status_code in {200, 302}
        assert not logs_in(hub, "carol", strangers)
        [entry] = answer.json()["credentials"]
        assert entry["username"] == "carol"
        assert entry["replaced_sign_up"] is True
        assert "sign-up" in entry["notice"] and "carol" in entry["notice"]
        assert logs_in(hub, "carol", entry["password"])
        assert list(accounts(tmp)).count("carol") == 1
        # Every other new user's entry says there was nothing to replace.
        create_users(admin, "cleo")
        [plain] = admin.api("POST", "/admin/credentials", json={"usernames": ["cleo"]}).json()[
            "credentials"
        ]
        assert plain["replaced_sign_up"] is False and plain["notice"] is None

    def test_creating_users_is_never_taken_for_a_rename(self, hub, admin):
        create_users(admin, "gerd")
        collect(admin, "gerd")
        log = hub.log_path.read_text()
        assert "following user" not in log  # what the lifecycle logs when a follow-up fails
        assert "renamed to" not in log  # what it logs after a rename


class TestRenameAndDelete:
    def test_a_rename_takes_the_account_passphrase_activity_and_deadline_along(
        self, hub, admin, tmp
    ):
        create_users(admin, "hanna")
        seed_activity_and_deadline(tmp, "hanna")
        # Not collected yet: the waiting passphrase must follow the new name.
        answer = admin.api("PATCH", "/users/hanna", json={"name": "hannah"})
        assert answer.status_code == 200, answer.text
        wait_for(lambda: activity_and_deadline(tmp, "hannah") == (1, True), what="follow-up")
        assert activity_and_deadline(tmp, "hanna") == (0, False)
        password = collect(admin, "hannah")["hannah"]
        rows = accounts(tmp)
        assert "hannah" in rows and "hanna" not in rows
        assert logs_in(hub, "hannah", password)
        assert not logs_in(hub, "hanna", password)

    def test_a_rename_of_a_user_who_signed_up_keeps_their_own_password(self, hub, admin):
        signed_up_user(hub.public_url, admin, "ivan", "ivans-password-1")
        assert admin.api("PATCH", "/users/ivan", json={"name": "ivo"}).status_code == 200
        assert logs_in(hub, "ivo", "ivans-password-1")
        assert not logs_in(hub, "ivan", "ivans-password-1")

    def test_a_rename_onto_a_pending_sign_up_replaces_that_sign_up(self, hub, admin, tmp):
        HubClient(hub.public_url).signup("karl", "a-strangers-password")  # never authorized
        create_users(admin, "jana")
        password = collect(admin, "jana")["jana"]
        assert admin.api("PATCH", "/users/jana", json={"name": "karl"}).status_code == 200
        assert logs_in(hub, "karl", password)
        assert not logs_in(hub, "karl", "a-strangers-password")
        assert list(accounts(tmp)).count("karl") == 1

    def test_a_deletion_takes_the_account_passphrase_activity_and_deadline_away(
        self, hub, admin, tmp
    ):
        create_users(admin, "lena")
        seed_activity_and_deadline(tmp, "lena")
        assert admin.api("DELETE", "/users/lena").status_code == 204
        wait_for(lambda: activity_and_deadline(tmp, "lena") == (0, False), what="follow-up")
        assert "lena" not in accounts(tmp)
        assert collect(admin, "lena") == {}
        # A new user of the same name starts from nothing and gets a passphrase of their own.
        create_users(admin, "lena")
        assert set(collect(admin, "lena")) == {"lena"}


def test_the_docker_access_groups_exist_from_the_start(admin):
    answer = admin.api("GET", "/groups")
    assert answer.status_code == 200, answer.text
    assert {"docker-sock", "docker-privileged"} <= {group["name"] for group in answer.json()}


# --- who may call what ----------------------------------------------------------------------

BROWSER_FETCH = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"}


def call(client: HubClient, route: tuple[str, str, Any], **kwargs: Any) -> requests.Response:
    method, path, body = route
    if body is not None:
        kwargs["json"] = body
    return client.api(method, path, **kwargs)


ROUTES_OF_ALICE = {  # route -> the scope a token needs, for alice's own resources
    "restart": (("POST", "/users/alice/restart-server", None), "servers!user=alice"),
    "list volumes": (
        ("GET", "/users/alice/manage-volumes", None),
        "custom:stellars:volumes!user=alice",
    ),
    "reset volumes": (
        ("DELETE", "/users/alice/manage-volumes", {"volumes": ["cache"]}),
        "custom:stellars:volumes!user=alice",
    ),
}

ADMIN_ROUTES = {
    "credentials": (
        ("POST", "/admin/credentials", {"usernames": ["alice"]}),
        "custom:stellars:credentials",
    ),
    "volumes overview": (("GET", "/admin/volumes", None), "custom:stellars:volumes"),
    "orphans": (("GET", "/admin/orphaned-volumes", None), "custom:stellars:volumes"),
    "delete orphans": (
        ("DELETE", "/admin/orphaned-volumes", {"volumes": ["jupyterlab-nobody_home"]}),
        "custom:stellars:volumes",
    ),
}


def denied(answer: requests.Response) -> bool:
    return answer.status_code == 403 and answer.json()["status"] == 403


@pytest.mark.parametrize("name", list(ROUTES_OF_ALICE))
class TestWhoMayActOnAUsersServerAndVolumes:
    def test_anonymous_callers_are_refused(self, hub, name):
        assert denied(call(HubClient(hub.public_url), ROUTES_OF_ALICE[name][0]))

    def test_another_user_is_refused(self, bob, name):
        answer = call(bob, ROUTES_OF_ALICE[name][0])
        assert denied(answer)
        assert "alice" in answer.json()["message"]

    def test_the_user_and_an_admin_get_through(self, alice, admin, name):
        for client in (alice, admin):
            assert call(client, ROUTES_OF_ALICE[name][0]).status_code != 403

    def test_a_token_with_the_scope_gets_through_and_one_without_it_does_not(
        self, hub, alice, name
    ):
        route, scope = ROUTES_OF_ALICE[name]
        scoped = HubClient(hub.public_url, alice.new_token("alice", [scope]))
        assert call(scoped, route).status_code != 403
        unscoped = HubClient(hub.public_url, alice.new_token("alice", ["read:users!user=alice"]))
        assert denied(call(unscoped, route))

    def test_a_cookie_without_the_xsrf_token_is_refused(self, alice, name):
        route = ROUTES_OF_ALICE[name][0]
        assert denied(call(alice, route, xsrf=False, headers=BROWSER_FETCH))


@pytest.mark.parametrize("name", list(ADMIN_ROUTES))
class TestWhoMayUseTheAdminRoutes:
    def test_anonymous_callers_and_users_are_refused(self, hub, alice, name):
        route, scope = ADMIN_ROUTES[name]
        assert denied(call(HubClient(hub.public_url), route))
        answer = call(alice, route)
        assert denied(answer)
        assert scope in answer.json()["message"]

    def test_an_admin_and_a_token_with_the_scope_get_through(self, hub, admin, name):
        route, scope = ADMIN_ROUTES[name]
        assert call(admin, route).status_code == 200
        scoped = HubClient(hub.public_url, admin.new_token("admin", [scope]))
        assert call(scoped, route).status_code == 200
        unscoped = HubClient(hub.public_url, admin.new_token("admin", ["read:users"]))
        assert denied(call(unscoped, route))

    def test_a_cookie_without_the_xsrf_token_is_refused(self, admin, name):
        route = ADMIN_ROUTES[name][0]
        assert denied(call(admin, route, xsrf=False, headers=BROWSER_FETCH))


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "body", "status", "words"),
    [
        (("POST", "/admin/credentials"), b"not json", 400, "not valid JSON"),
        (("POST", "/admin/credentials"), b"[1]", 400, "JSON object"),
        (("POST", "/admin/credentials"), b'{"usernames": "alice"}', 400, "usernames"),
        (("POST", "/admin/credentials"), b'{"usernames": [1]}', 400, "usernames"),
        (("POST", "/admin/credentials"), b"{}", 400, "usernames: is required"),
        (("DELETE", "/users/alice/manage-volumes"), b"{}", 400, "volumes: is required"),
        (("DELETE", "/users/alice/manage-volumes"), b'{"volumes": []}', 400, "at least one"),
        (("DELETE", "/users/alice/manage-volumes"), b'{"volumes": ["etc"]}', 400, "unknown"),
        (("DELETE", "/users/alice/manage-volumes"), b'{"volumes": "home"}', 400, "list"),
        (("DELETE", "/users/nobody/manage-volumes"), b'{"volumes": ["home"]}', 404, "nobody"),
        (("GET", "/users/nobody/manage-volumes"), None, 404, "nobody"),
        (("POST", "/users/nobody/restart-server"), None, 404, "nobody"),
        (("POST", "/users/alice/restart-server"), None, 409, "not running"),
        (("DELETE", "/admin/orphaned-volumes"), b'{"volumes": []}', 400, "at least one"),
        (("PUT", "/admin/credentials"), b"{}", 405, ""),
    ],
)
def test_bad_input_gets_a_4xx_that_names_the_problem(admin, alice, route, body, status, words):
    method, path = route
    answer = admin.api(method, path, data=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == status, answer.text
    payload = answer.json()
    assert payload["status"] == status
    assert words in (payload["message"] or "")


def test_too_many_names_in_one_request_are_refused(admin):
    names = [f"user{index}" for index in range(1001)]
    answer = admin.api("POST", "/admin/credentials", json={"usernames": names})
    assert answer.status_code == 400
    assert "at most 1000" in answer.json()["message"]
