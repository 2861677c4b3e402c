"""Fault 2: configurable-http-proxy killed with SIGKILL under a running platform with a running
lab. The hub's periodic proxy check (shortened to 2 s here with
`--ConfigurableHTTPProxy.check_running_interval`) starts a new proxy and restores every route it
had, and the lab answers through the new proxy."""

from __future__ import annotations

import os
import signal
import time

import requests

from tests.backends.hub_helpers import wait_for
from tests.backends.platform import ADMIN_PASSWORD, HubClient, signed_up_user, start_platform
from tests.backends.processes import is_alive

from .rig import child_with, probe, problems, statuses

FAULT = "proxy SIGKILL"
CHECK_EVERY = 2  # seconds between the hub's checks that its proxy runs


def proxy_routes(hub) -> set[str] | None:
    """The route table of the hub's proxy, read from its REST API (None: it does not answer)."""
    url = f"http://127.0.0.1:{hub.env['JUPYTERHUB_PROXY_API_PORT']}/api/routes"
    try:
        answer = requests.get(
            url, headers={"Authorization": f"token {hub.env['CONFIGPROXY_AUTH_TOKEN']}"}, timeout=5
        )
    except requests.RequestException:
        return None
    return set(answer.json()) if answer.status_code == 200 else None


def lab_answers(hub, token: str) -> bool:
    try:
        answer = requests.get(
            f"{hub.public_url}/user/bob/api/status",
            headers={"Authorization": f"token {token}"},
            timeout=10,
            allow_redirects=False,
        )
    except requests.RequestException:
        return False
    return answer.status_code == 200


def test_a_killed_proxy_is_replaced_with_every_route_and_the_lab_answers_through_it(
    tmp_path, jupyterhub_factory, outcomes
):
    hub = start_platform(
        jupyterhub_factory,
        tmp_path,
        {"STELLARS_SPAWNER": "local"},
        args=[f"--ConfigurableHTTPProxy.check_running_interval={CHECK_EVERY}"],
    )
    assert hub.process is not None
    admin = HubClient(hub.public_url)
    admin.login("admin", ADMIN_PASSWORD)
    signed_up_user(hub.public_url, admin, "bob", "bob-password-1")
    started = admin.api("POST", "/users/bob/server")
    assert started.status_code in {201, 202}, started.text
    token = admin.new_token("bob")
    wait_for(lambda: lab_answers(hub, token), timeout=120, what="bob's lab through the proxy")
    routes = proxy_routes(hub)
    assert routes is not None
    assert "/user/bob" in routes, routes
    proxy = child_with(hub.process.pid, "configurable-http-proxy")
    assert proxy is not None

    os.kill(proxy, signal.SIGKILL)
    killed = time.monotonic()
    wait_for(lambda: not is_alive(proxy), what="the proxy gone")
    wait_for(lambda: (proxy_routes(hub) or set()) >= routes, timeout=60, what="every route back")
    restored = time.monotonic() - killed
    replacement = child_with(hub.process.pid, "configurable-http-proxy")
    assert replacement not in {None, proxy}
    assert hub.process.poll() is None, hub.log_tail()
    outcomes(FAULT, "routes", f"{len(routes)} of {len(routes)} back in {restored:.1f} s")

    wait_for(lambda: lab_answers(hub, token), timeout=30, what="bob's lab through the new proxy")
    outcomes(FAULT, "running lab", "answers through the new proxy")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    after = probe(admin, "bob", today)
    assert not problems(after), problems(after)
    assert all(answer.status == 200 for answer in after), statuses(after)
    outcomes(FAULT, "pages and APIs after", "all 200")
