"""The platform over an authenticator other than NativeAuthenticator: JupyterHub's own
DummyAuthenticator (STELLARS_AUTHENTICATOR=dummy) in a real hub started from
deploy/jupyterhub_config.py, through a config that loads it and adds the deployer's own
settings for that authenticator, as the docs tell deployers to do.

Its pages and API work for the admin and for users; generated passphrases are refused with the
reason, since the identity provider (here, the dummy) keeps the passwords.
"""

from __future__ import annotations

import time

import pytest

from tests.backends.lab_stand_in import render_config
from tests.backends.platform import HubClient, platform_env

pytestmark = [pytest.mark.real, pytest.mark.hub]


@pytest.fixture(scope="module")
def hub(jupyterhub_factory_module, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dummy-auth")
    stand_ins = render_config(tmp / "stand-ins")
    config = tmp / "jupyterhub_config.py"
    config.write_text(
        "c = get_config()  # noqa: F821\n"
        f"load_subconfig({str(stand_ins)!r})  # noqa: F821\n"
        "# The deployer's own settings for their authenticator: who may log in.\n"
        "c.DummyAuthenticator.allow_all = True\n"
    )
    env = platform_env(
        tmp / "data",
        STELLARS_AUTHENTICATOR="dummy",
        STELLARS_SPAWNER="local",
        JUPYTERHUB_IDLE_CULLER_ENABLED="1",
    )
    return jupyterhub_factory_module(config, env, workdir=tmp / "hub")


def logged_in(hub, name: str) -> HubClient:
    client = HubClient(hub.public_url)
    client.login(name, "any password the dummy takes")
    return client


def test_the_admins_pages_and_api_work(hub):
    admin = logged_in(hub, "admin")
    for page in ("/activity", "/notifications", "/settings", "/admin"):
        answer = admin.page(page)
        assert answer.status_code == 200, (page, answer.status_code)
    settings = admin.page("/settings").text
    assert "PlatformDummyAuthenticator" in settings or "DummyAuthenticator" in settings
    assert "passwords stay with the identity provider" in settings
    assert admin.api("GET", "/activity").status_code == 200
    assert admin.api("POST", "/activity/sample").json()["success"] is True
    assert "Sign up" not in admin.page("/login", allow_redirects=True).text


def test_a_user_starts_a_server_and_uses_their_routes(hub):
    dana = logged_in(hub, "dana")
    assert dana.api("POST", "/users/dana/server").status_code in {201, 202}
    deadline = time.monotonic() + 60
    while not (dana.api("GET", "/users/dana").json().get("servers") or {}).get("", {}).get("ready"):
        assert time.monotonic() < deadline, "dana's server did not start"
        time.sleep(0.5)
    info = dana.api("GET", "/users/dana/session-info").json()
    assert info["server_active"] is True and info["time_remaining_seconds"] > 0
    assert dana.api("POST", "/users/dana/extend-session", json={"hours": 1}).status_code == 200
    assert dana.api("GET", "/users/dana/manage-volumes").status_code == 200
    assert dana.api("GET", "/activity").status_code == 403
    admin = logged_in(hub, "admin")
    report = admin.api("POST", "/notifications/broadcast", json={"message": "hi dana"}).json()
    assert [(d["username"], d["outcome"]) for d in report["details"]] == [("dana", "delivered")]
    rows = {row["username"]: row for row in admin.api("GET", "/activity").json()["users"]}
    assert rows["dana"]["is_authorized"] is True  # the identity provider let her in


def test_passphrases_are_refused_with_the_reason(hub):
    admin = logged_in(hub, "admin")
    created = admin.api("POST", "/users", json={"usernames": ["eve"]})
    assert created.status_code == 201, created.text
    answer = admin.api("POST", "/admin/credentials", json={"usernames": ["eve"]})
    assert answer.status_code == 409
    assert answer.json()["message"] == (
        "Generated passphrases need NativeAuthenticator (authenticator 'native'): on this hub "
        "users log in through an identity provider, which keeps their passwords."
    )
