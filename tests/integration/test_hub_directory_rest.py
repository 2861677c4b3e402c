"""RestHubDirectory against a real JupyterHub subprocess holding more users than one API page,
and against a small in-process fake hub for the failures a real one rarely shows on demand."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
import requests
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from stellars.adapters.hub import PAGINATION_MEDIA_TYPE, RestHubDirectory, parse_timestamp
from stellars.domain.errors import BackendUnavailable
from tests.backends import JupyterHubProcess, free_port
from tests.backends.fixtures import backend
from tests.backends.hub_helpers import (
    api,
    create_user,
    create_users,
    render_hub_config,
    report_activity,
    start_server,
)

CROWD = [f"user{index:03d}" for index in range(450)]
ODD_NAMES = ["ann.lee@example.org", "bob-the_builder"]


@dataclass
class CrowdedHub:
    hub: JupyterHubProcess
    names: set[str]
    runner_server: dict = field(default_factory=dict)
    runner_activity: datetime | None = None


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrowdedHub]:
    """One hub for the module: 450 users + an admin + odd names + a group, and one user with
    a running server whose activity was reported."""
    hub = JupyterHubProcess(render_hub_config(tmp_path_factory.mktemp("crowded-hub")))
    with backend("jupyterhub"):
        hub.start()
    try:
        create_users(hub, CROWD + ODD_NAMES)
        create_user(hub, "dora", admin=True)
        create_user(hub, "runner")
        api(hub, "POST", "/groups/staff", json={"users": ["dora", "runner"]})
        start_server(hub, "runner")
        activity = (datetime.now(timezone.utc) + timedelta(seconds=30)).replace(microsecond=123456)
        report_activity(hub, "runner", activity)
        server = api(hub, "GET", "/users/runner").json()["servers"][""]
        yield CrowdedHub(hub, {*CROWD, *ODD_NAMES, "dora", "runner"}, server, activity)
    finally:
        hub.stop()


@pytest.mark.real
class TestAgainstARealHub:
    def test_the_hub_serves_fewer_users_per_page_than_it_holds(self, crowded):
        # The original sampler's request: no pagination header, so silently one page only.
        plain = api(crowded.hub, "GET", "/users").json()
        assert len(plain) == 200 < len(crowded.names)
        page = requests.get(
            f"{crowded.hub.api_url}/users?limit=1000",
            headers={**crowded.hub.admin_headers(), "Accept": PAGINATION_MEDIA_TYPE},
            timeout=30,
        ).json()
        assert page["_pagination"]["limit"] == 200
        assert page["_pagination"]["total"] == len(crowded.names)

    @pytest.mark.parametrize("page_size", [200, 1000, 37])
    async def test_every_user_of_every_page_is_listed_once_sorted(self, crowded, page_size):
        directory = RestHubDirectory(
            crowded.hub.api_url, crowded.hub.admin_token, page_size=page_size
        )
        names = [user.name for user in await directory.list_users()]
        assert names == sorted(crowded.names)

    async def test_a_running_server_is_mapped_from_the_hubs_model(self, crowded):
        directory = RestHubDirectory(crowded.hub.api_url, crowded.hub.admin_token)
        runner = await directory.get_user("runner")
        server = runner.default_server
        assert server is not None
        assert (server.username, server.name, server.ready, server.pending) == (
            "runner",
            "",
            True,
            None,
        )
        assert server.running and runner.has_running_server
        assert server.started == parse_timestamp(crowded.runner_server["started"])
        assert server.last_activity == crowded.runner_activity
        assert runner.latest_server_activity() == crowded.runner_activity
        assert server.url == "/user/runner/"
        listed = {user.name: user for user in await directory.list_users()}
        assert listed["runner"] == runner
        assert not listed["user000"].servers

    async def test_admin_flag_groups_and_names_that_need_quoting(self, crowded):
        directory = RestHubDirectory(crowded.hub.api_url, crowded.hub.admin_token)
        dora = await directory.get_user("dora")
        assert dora.admin and dora.groups == {"staff"}
        assert not (await directory.get_user("user001")).admin
        for name in ODD_NAMES:
            assert (await directory.get_user(name)).name == name
        assert await directory.get_user("no-such-user") is None
        assert await directory.get_user("a/b") is None

    async def test_a_refused_token_is_a_backend_failure_that_says_so(self, crowded):
        directory = RestHubDirectory(crowded.hub.api_url, "not-a-token")
        with pytest.raises(BackendUnavailable, match=r"refused the token \(403"):
            await directory.list_users()


@pytest.mark.real
async def test_a_hub_that_is_not_there_is_a_backend_failure() -> None:
    directory = RestHubDirectory(f"http://127.0.0.1:{free_port()}/hub/api", "t")
    with pytest.raises(BackendUnavailable, match="unreachable"):
        await directory.list_users()


# --- a fake hub, in-process ------------------------------------------------------------------


@dataclass
class FakeHub:
    """Answers GET /hub/api/users[/NAME] as scripted by the test."""

    users: list[dict] = field(default_factory=list)
    paginate: bool = True
    status: int = 200
    body: bytes | None = None
    delay: float = 0.0
    stuck: bool = False  # answer every page with next = the same offset
    # users inserted into the list after the first page, shifting later offsets
    insert_after_first_page: list[dict] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)


class _UsersHandler(web.RequestHandler):
    def initialize(self, fake: FakeHub) -> None:
        self.fake = fake

    async def get(self, name: str | None = None) -> None:
        fake = self.fake
        fake.requests.append(self.request.uri)
        fake.tokens.append(self.request.headers.get("Authorization", ""))
        if fake.delay:
            await asyncio.sleep(fake.delay)
        if fake.status != 200 or fake.body is not None:
            self.set_status(fake.status)
            self.finish(fake.body or json.dumps({"status": fake.status, "message": "scripted"}))
            return
        if name is not None:
            found = [u for u in fake.users if u["name"] == name]
            if not found:
                raise web.HTTPError(404)
            self.finish(found[0])
            return
        offset = int(self.get_argument("offset", "0"))
        limit = min(int(self.get_argument("limit", "200")), 2)  # tiny pages
        items = fake.users[offset : offset + limit]
        if offset == 0 and fake.insert_after_first_page:
            fake.users[0:0] = fake.insert_after_first_page
            fake.insert_after_first_page = []
        if not fake.paginate:
            self.finish(json.dumps(items))
            return
        following = offset if fake.stuck else offset + limit
        self.finish(
            {
                "items": items,
                "_pagination": {
                    "offset": offset,
                    "limit": limit,
                    "total": len(fake.users),
                    "next": {"offset": following, "limit": limit, "url": "ignored"}
                    if following < len(fake.users)
                    else None,
                },
            }
        )


@pytest.fixture
async def fake_hub() -> AsyncIterator[tuple[FakeHub, str]]:
    fake = FakeHub(users=[{"name": name} for name in ["ann", "bob", "cy", "dee", "eve"]])
    app = web.Application(
        [
            (r"/hub/api/users", _UsersHandler, {"fake": fake}),
            (r"/hub/api/users/([^/]+)", _UsersHandler, {"fake": fake}),
        ]
    )
    sock, port = bind_unused_port()
    server = HTTPServer(app)
    server.add_sockets([sock])
    try:
        yield fake, f"http://127.0.0.1:{port}/hub/api"
    finally:
        server.stop()
        await server.close_all_connections()


class TestAgainstAFakeHub:
    async def test_pages_are_followed_by_their_next_offsets(self, fake_hub):
        fake, url = fake_hub
        users = await RestHubDirectory(url, "t").list_users()
        assert [u.name for u in users] == ["ann", "bob", "cy", "dee", "eve"]
        assert len(fake.requests) == 3
        assert all("limit=200" in uri for uri in fake.requests)

    async def test_a_user_seen_on_two_shifted_pages_is_listed_once(self, fake_hub):
        fake, url = fake_hub
        fake.insert_after_first_page = [{"name": "aaron"}]
        users = await RestHubDirectory(url, "t").list_users()
        names = [u.name for u in users]
        assert names == sorted(set(names))
        assert {"ann", "bob", "cy", "dee", "eve"} <= set(names)

    async def test_a_next_page_that_does_not_advance_is_a_backend_failure(self, fake_hub):
        fake, url = fake_hub
        fake.stuck = True
        with pytest.raises(BackendUnavailable, match="paginates backwards"):
            await RestHubDirectory(url, "t").list_users()

    async def test_a_hub_that_does_not_paginate_sends_one_list(self, fake_hub):
        fake, url = fake_hub
        fake.paginate = False
        users = await RestHubDirectory(url, "t").list_users()
        assert [u.name for u in users] == ["ann", "bob"]

    @pytest.mark.parametrize(
        ("status", "message"),
        [
            (401, r"refused the token \(401"),
            (403, r"refused the token \(403.*read:servers"),
            (500, r"failed: 500 scripted"),
            (503, r"failed: 503"),
            (400, r"failed: 400"),
        ],
    )
    async def test_error_statuses_are_backend_failures(self, fake_hub, status, message):
        fake, url = fake_hub
        fake.status = status
        with pytest.raises(BackendUnavailable, match=message):
            await RestHubDirectory(url, "t").list_users()

    async def test_invalid_json_is_a_backend_failure(self, fake_hub):
        fake, url = fake_hub
        fake.body = b"<html>proxy error</html>"
        with pytest.raises(BackendUnavailable, match="invalid JSON"):
            await RestHubDirectory(url, "t").list_users()

    async def test_a_hub_that_does_not_answer_in_time_is_a_backend_failure(self, fake_hub):
        fake, url = fake_hub
        fake.delay = 2.0
        directory = RestHubDirectory(url, "t", request_timeout=0.2)
        with pytest.raises(BackendUnavailable, match="did not answer"):
            await directory.list_users()

    async def test_get_user_is_none_on_404_and_sends_the_token(self, fake_hub):
        fake, url = fake_hub
        directory = RestHubDirectory(url, "secret")
        assert (await directory.get_user("bob")).name == "bob"
        assert await directory.get_user("zed") is None
        assert fake.tokens == ["token secret", "token secret"]


def test_page_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="page_size"):
        RestHubDirectory("http://hub/api", "t", page_size=0)
