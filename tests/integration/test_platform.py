"""The README's `make run`: the composition root (deploy/jupyterhub_config.py) on its embedded
defaults starts a real JupyterHub behind CHP, the configured admin can sign up and log in on a
fresh install, and the activity sampler service records samples into the SQLite database."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from stellars.adapters.sql import SqlActivityStore, SqlDatabase
from tests.backends.hub import ENV_PUBLIC_PORT
from tests.backends.paths import node_bin
from tests.backends.processes import free_ports

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "jupyterhub_config.py"
PASSWORD = "correct-horse-battery-staple"

pytestmark = pytest.mark.real


@pytest.fixture
def platform(jupyterhub_factory, tmp_path):
    public, proxy_api, hub = free_ports(3)
    data = tmp_path / "data"
    env = {
        ENV_PUBLIC_PORT: str(public),  # where the tooling looks for the hub
        "JUPYTERHUB_PORT": str(public),
        "JUPYTERHUB_PROXY_API_PORT": str(proxy_api),
        "JUPYTERHUB_HUB_BIND_URL": f"http://127.0.0.1:{hub}",
        "JUPYTERHUB_DATA_DIR": str(data),
        "STELLARS_CHP": str(node_bin("configurable-http-proxy")),
        "JUPYTERHUB_ACTIVITYMON_SAMPLE_INTERVAL": "60",
    }
    return jupyterhub_factory(CONFIG, env), data


def xsrf(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=10)
    page.raise_for_status()
    match = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    assert match, f"no _xsrf field on {url}"
    return match.group(1)


def test_the_admin_signs_up_and_logs_in_on_a_fresh_install(platform):
    hub, _ = platform
    browser = requests.Session()
    signup = f"{hub.public_url}/hub/signup"
    answer = browser.post(
        signup,
        data={
            "username": "admin",
            "signup_password": PASSWORD,
            "signup_password_confirmation": PASSWORD,
            "_xsrf": xsrf(browser, signup),
        },
        timeout=10,
    )
    assert answer.status_code == 200
    login = f"{hub.public_url}/hub/login"
    wrong = browser.post(
        login,
        data={"username": "admin", "password": "wrong", "_xsrf": xsrf(browser, login)},
        timeout=10,
    )
    assert wrong.status_code == 200
    assert "Invalid username or password" in wrong.text
    answer = browser.post(
        login,
        data={"username": "admin", "password": PASSWORD, "_xsrf": xsrf(browser, login)},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text[:500]
    home = browser.get(f"{hub.public_url}/hub/home", timeout=10)
    assert home.status_code == 200
    assert "/hub/admin" in home.text  # the admin's control panel, with the admin link


def test_the_activity_sampler_records_the_hub_users(platform):
    hub, data = platform

    async def summary_text() -> str:
        database = SqlDatabase.from_url(f"sqlite:///{data / 'stellars.sqlite'}")
        try:
            store = SqlActivityStore(database, half_life=timedelta(hours=72))
            return (await store.summary()).text
        finally:
            database.close()

    deadline = time.monotonic() + 60
    text = ""
    while time.monotonic() < deadline:
        if (data / "stellars.sqlite").exists():
            text = asyncio.run(summary_text())
            if text != "No samples yet":
                break
        time.sleep(0.5)
    # The hub creates the configured admin at start; the sampler's first tick records it.
    assert text == "1 samples for 1 users", hub.log_tail()
