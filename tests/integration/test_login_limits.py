"""Sign-up and login that cannot be hammered, on a real JupyterHub started from
deploy/jupyterhub_config.py (security finding M5).

An anonymous visitor needs only the login form's XSRF token to post `/hub/login` or
`/hub/signup` as often as they like. Here:

- a burst of 50 wrong passwords from one address gets the per-address limit's number checked and
  the rest answered 429 before any check, and the admin, elsewhere, logs in at once;
- forwarding headers a client writes itself (X-Forwarded-For, X-Real-IP) do not make it another
  address: only what the proxy saw counts;
- sign-up refuses a password shorter than 8 characters and a common one;
- a name that failed too often is locked out (NativeAuthenticator's lockout), for a short time;
- bcrypt never runs on the hub's event loop: with stall reports on, no report of a blocked loop
  shows bcrypt in its stack while logins are checked.

Other clients are other loopback addresses (127.0.0.2, ...): the proxy sees the connection come
from there and says so in X-Forwarded-For. Each test uses addresses of its own, so the
per-address windows of one test do not reach into another's.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.backends.platform import (
    ADMIN_PASSWORD,
    HubClient,
    signed_up_user,
    start_platform,
)

pytestmark = pytest.mark.real

#: The defaults: attempts per address per minute, and failed logins before a name is locked.
PER_MINUTE = 10
LOCKOUT_FAILURES = 20
#: Shortened for the test (the default is a minute).
LOCKOUT_SECONDS = 3

HUB_ENV = {
    "STELLARS_SPAWNER": "local",
    "STELLARS_LOGIN_LOCKOUT_SECONDS": str(LOCKOUT_SECONDS),
    # Every stall of 100 ms or more is reported with the stack that held the loop.
    "STELLARS_LOOP_STALL_REPORT_MS": "100",
}


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("logins")


@pytest.fixture(scope="module")
def hub(jupyterhub_factory_module, tmp):
    return start_platform(jupyterhub_factory_module, tmp, HUB_ENV)


@pytest.fixture(scope="module")
def admin(hub) -> HubClient:
    client = HubClient(hub.public_url, source="127.0.0.2")
    client.login("admin", ADMIN_PASSWORD)
    return client


def accounts(tmp: Path) -> dict[str, bool]:
    """NativeAuthenticator's rows in the hub database: username -> authorized."""
    with sqlite3.connect(tmp / "data" / "jupyterhub.sqlite") as connection:
        rows = connection.execute("SELECT username, is_authorized FROM users_info").fetchall()
    return {name: bool(authorized) for name, authorized in rows}


def logs_in(hub, username: str, password: str, source: str) -> bool:
    client = HubClient(hub.public_url, source=source)
    answer = client.session.post(
        client.url("/login"),
        data={"username": username, "password": password, "_xsrf": client.form_xsrf("/login")},
        allow_redirects=False,
        timeout=60,
    )
    return answer.status_code == 302


def burst(
    hub,
    username: str,
    passwords: list[str],
    *,
    source: str,
    headers: Callable[[int], Mapping[str, str]] = lambda index: {},
) -> list[requests.Response]:
    """One login POST per password, all released at once from `source`, each from a client of
    its own that first fetched the login form (with the same `headers`, since JupyterHub ties
    an anonymous form's XSRF token to the address it believes); the answers in the order of
    `passwords`."""
    start = threading.Barrier(len(passwords))

    def post(index: int) -> requests.Response:
        client = HubClient(hub.public_url, source=source)
        client.session.headers.update(headers(index))
        xsrf = client.form_xsrf("/login")
        start.wait(timeout=120)
        return client.session.post(
            client.url("/login"),
            data={"username": username, "password": passwords[index], "_xsrf": xsrf},
            allow_redirects=False,
            timeout=120,
        )

    with ThreadPoolExecutor(len(passwords)) as pool:
        return list(pool.map(post, range(len(passwords))))


def test_fifty_wrong_passwords_at_once_are_mostly_refused_before_any_check(hub, admin):
    answers = burst(hub, "admin", [f"guess-{i}" for i in range(50)], source="127.0.0.11")
    limited = [answer for answer in answers if answer.status_code == 429]
    checked = [answer for answer in answers if answer.status_code != 429]
    assert len(limited) == 50 - PER_MINUTE, [answer.status_code for answer in answers]
    assert all("Invalid username or password" in answer.text for answer in checked)
    for answer in limited:  # the login page again, saying why and for how long
        assert answer.headers["Content-Type"].startswith("text/html")
        assert "Too many attempts" in answer.text
        assert 0 < int(answer.headers["Retry-After"]) <= 60
    # Ten failures are not a lockout: the admin, from elsewhere, logs in at once.
    assert logs_in(hub, "admin", ADMIN_PASSWORD, "127.0.0.12")


def test_forwarding_headers_a_client_writes_do_not_make_it_another_address(hub):
    def spoofed(index: int) -> dict[str, str]:
        return {"X-Forwarded-For": f"198.51.100.{index}", "X-Real-IP": f"203.0.113.{index}"}

    answers = burst(hub, "nobody-by-that-name", ["x"] * 30, source="127.0.0.13", headers=spoofed)
    assert sum(answer.status_code == 429 for answer in answers) == 30 - PER_MINUTE


@pytest.mark.parametrize(
    ("name", "password", "source"),
    [
        ("shorty", "x", "127.0.0.14"),  # one character
        ("seven", "s3ven!!", "127.0.0.15"),  # seven
        ("commoner", "password123", "127.0.0.16"),  # long enough, but on the common list
    ],
)
def test_sign_up_refuses_a_short_or_common_password(hub, tmp, name, password, source):
    answer = HubClient(hub.public_url, source=source).signup(name, password)
    assert answer.status_code == 200
    assert "at least 8 characters" in answer.text
    assert name not in accounts(tmp)


def test_sign_up_takes_a_good_password(hub, tmp):
    answer = HubClient(hub.public_url, source="127.0.0.17").signup("goodie", "long-and-rare-1")
    assert answer.status_code == 200
    assert accounts(tmp).get("goodie") is False  # waiting for the admin


def test_a_name_that_failed_too_often_is_locked_out_for_a_short_time(hub, admin):
    signed_up_user(hub.public_url, admin, "dora", "doras-password-1")
    # Ten guesses from each of two addresses: within each address's limit, 20 failures in all.
    for source in ("127.0.0.21", "127.0.0.22"):
        for index in range(LOCKOUT_FAILURES // 2):
            assert not logs_in(hub, "dora", f"guess-{index}", source)
    assert not logs_in(hub, "dora", "doras-password-1", "127.0.0.23")  # locked out
    time.sleep(LOCKOUT_SECONDS + 1)
    assert logs_in(hub, "dora", "doras-password-1", "127.0.0.23")


STALL = re.compile(r"the event loop has been blocked for \d+ ms, in:\n((?:[ \t].*\n?)*)")


def stalled_stacks(log: str) -> list[str]:
    """The stack of every report of a blocked loop in this part of the hub's log."""
    return [match.group(1) for match in STALL.finditer(log)]


def test_password_checks_never_run_on_the_hubs_loop(hub, admin):
    signed_up_user(hub.public_url, admin, "emil", "emils-password-1")
    since = len(hub.log_path.read_text(errors="replace"))
    wrong = [f"guess-{i}" for i in range(8)]

    def from_address(source: str) -> list[requests.Response]:
        return burst(hub, "emil", [*wrong, "emils-password-1"], source=source)

    with ThreadPoolExecutor(2) as pool:
        answers = [
            a for batch in pool.map(from_address, ["127.0.0.31", "127.0.0.32"]) for a in batch
        ]
    assert sum(answer.status_code == 302 for answer in answers) == 2  # the right password
    assert sum(answer.status_code == 429 for answer in answers) == 0  # all of them checked
    time.sleep(0.5)  # the last report reaches the log
    stacks = stalled_stacks(hub.log_path.read_text(errors="replace")[since:])
    assert not [stack for stack in stacks if "bcrypt" in stack], "\n---\n".join(stacks)
