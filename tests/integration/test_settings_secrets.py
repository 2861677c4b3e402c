"""The settings view never shows a database password (security review L1), and the settings page
asks for the same scope as the settings API.

SQLAlchemy reads everything between the user part's colon and the next `@` as the password,
`/ ? #` included, and a `password` query parameter too; a mask that stops where a web URL's
netloc stops shows such a password whole. A real hub from deploy/jupyterhub_config.py with its
STELLARS_DB_URL built that way (the hub never connects to it: the platform's database is
opened only when a service needs it, and the sampler's failed ticks are only logged).

A user who holds JupyterHub's `admin-ui` through a custom role, and not the platform's
`custom:stellars:settings`, reads neither the settings API nor the settings page."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backends.platform import (
    ADMIN_PASSWORD,
    DEPLOY_CONFIG,
    HubClient,
    platform_env,
    signed_up_user,
)

pytestmark = pytest.mark.real

NETLOC_PASSWORD = "p/a?s#s-4711"
QUERY_PASSWORD = "s3cret-in-the-query"
SECRETS = (NETLOC_PASSWORD, QUERY_PASSWORD)
DB_URL = (
    f"postgresql+psycopg://hub:{NETLOC_PASSWORD}@db.invalid/stellars"
    f"?sslmode=disable&password={QUERY_PASSWORD}"
)
HELPDESK = "carol"  # holds admin-ui through a custom role, nothing of the platform's


def helpdesk_config(directory: Path) -> Path:
    """deploy/jupyterhub_config.py plus a role that gives HELPDESK only `admin-ui`."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "jupyterhub_config.py"
    config.write_text(
        "c = get_config()  # noqa: F821\n"
        f"load_subconfig({str(DEPLOY_CONFIG)!r})  # noqa: F821\n"
        "c.JupyterHub.load_roles.append(\n"
        f"    {{'name': 'helpdesk', 'scopes': ['admin-ui'], 'users': [{HELPDESK!r}]}}\n"
        ")\n"
    )
    return config


@pytest.fixture(scope="module")
def hub(jupyterhub_factory_module, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("settings-secrets")
    env = platform_env(
        tmp / "data",
        JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
        STELLARS_SPAWNER="local",
        STELLARS_DB_URL=DB_URL,
    )
    return jupyterhub_factory_module(helpdesk_config(tmp / "config"), env, workdir=tmp / "hub")


@pytest.fixture(scope="module")
def admin(hub):
    client = HubClient(hub.public_url)
    client.login("admin", ADMIN_PASSWORD)
    return client


@pytest.fixture(scope="module")
def helpdesk(hub, admin):
    return signed_up_user(hub.public_url, admin, HELPDESK, "carols-password-1")


def test_the_settings_api_shows_no_database_password(admin):
    answer = admin.api("GET", "/settings")
    assert answer.status_code == 200
    rows = {row["variable"]: row for row in answer.json()["settings"]}
    assert rows["STELLARS_DB_URL"]["value"].startswith("postgresql+psycopg://hub:***@")
    for secret in SECRETS:
        assert secret not in answer.text, secret


def test_the_settings_page_shows_no_database_password(admin):
    page = admin.page("/settings")
    assert page.status_code == 200
    assert "postgresql+psycopg://hub:***@" in page.text
    for secret in SECRETS:
        assert secret not in page.text, secret


def test_admin_ui_alone_opens_neither_the_settings_page_nor_the_api(helpdesk):
    assert helpdesk.page("/admin").status_code == 200  # the role works: the hub's admin page
    assert helpdesk.api("GET", "/settings").status_code == 403
    page = helpdesk.page("/settings")
    assert page.status_code == 403
    for secret in SECRETS:
        assert secret not in page.text
