"""In a real browser, on JupyterHub's admin page: the volumes panel resets the chosen volume of a
user whose server is stopped (the engine's listing loses exactly that one), and deletes an
orphaned volume, one named for a user who does not exist (light theme)."""

from __future__ import annotations

import contextlib
import secrets

import docker.errors
import pytest

from tests.backends.hub_helpers import wait_for
from tests.backends.platform import ADMIN_PASSWORD, HubClient, start_platform

pytestmark = [pytest.mark.real, pytest.mark.browser]

TAG = secrets.token_hex(3)
USER = f"ada{TAG}"
GHOST = f"ghost{TAG}"  # no account: its volume is orphaned


def volume(user: str, label: str) -> str:
    return f"jupyterlab-{user}_{label}"


@pytest.fixture
def volumes(docker_client):
    made: list[str] = []

    def make(*names: str) -> None:
        for name in names:
            docker_client.volumes.create(name)
            made.append(name)

    yield make
    for name in made:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            docker_client.volumes.get(name).remove(force=True)


def engine_has(docker_client, name: str) -> bool:
    return bool([v for v in docker_client.volumes.list(filters={"name": name}) if v.name == name])


def test_the_admin_resets_a_users_volume_and_deletes_an_orphan(
    jupyterhub_factory, tmp_path, docker_client, browser_page, volumes
):
    # The volumes below are made behind the platform's back (as with `docker volume create`):
    # the panel sees them at the next measurement, every 10 s here.
    env = {"STELLARS_SPAWNER": "local", "JUPYTERHUB_ACTIVITYMON_VOLUMES_UPDATE_INTERVAL": "10"}
    hub = start_platform(jupyterhub_factory, tmp_path, env)
    admin = HubClient(hub.public_url)
    admin.login("admin", ADMIN_PASSWORD)
    assert admin.api("POST", f"/users/{USER}").status_code == 201
    # Made after the account exists, without an owner mark: the user's (see volume_ownership).
    volumes(volume(USER, "home"), volume(USER, "workspace"), volume(GHOST, "home"))

    browser = browser_page(hub.public_url)
    browser.log_in("admin", ADMIN_PASSWORD)
    page = browser.page
    browser.visit("/hub/admin")
    row = page.locator(f"#stellars-user-volumes tbody tr[data-user={USER}]")
    orphan = page.locator(f'#stellars-orphaned-volumes tr[data-volume="{volume(GHOST, "home")}"]')

    def listed() -> bool:
        page.click("#stellars-admin-volumes-refresh")
        page.wait_for_timeout(500)
        if not row.count() or not orphan.count():
            return False
        badges = row.locator("td").nth(2).inner_text()
        return "home: not created" not in badges and "workspace: not created" not in badges

    wait_for(listed, 60, "the user's volumes and the orphan on the admin page")
    assert row.locator("td").nth(1).inner_text() == "stopped"
    assert GHOST in orphan.locator("td").nth(2).inner_text()
    browser.snap("volumes")

    # Reset the user's home volume only.
    row.get_by_role("button", name="Reset…").click()
    dialog = page.locator("#stellars-admin-reset-dialog")
    dialog.wait_for(state="visible")
    confirm = page.locator("#stellars-admin-reset-confirm")
    assert confirm.is_disabled()  # nothing chosen yet
    page.check("#stellars-admin-volume-home")
    browser.snap("reset-dialog")
    confirm.click()
    message = page.locator("#stellars-admin-reset-message")
    message.wait_for(state="visible")
    wait_for(lambda: "alert-success" in (message.get_attribute("class") or ""), 30, "reset")
    browser.snap("reset-done")
    assert not engine_has(docker_client, volume(USER, "home"))
    assert engine_has(docker_client, volume(USER, "workspace"))
    dialog.get_by_role("button", name="Close").last.click()
    dialog.wait_for(state="hidden")

    # Delete the orphan, behind a confirmation that names it.
    delete = page.locator("#stellars-orphans-delete")
    assert delete.is_disabled()
    orphan.locator("input[type=checkbox]").check()
    delete.click()
    question = page.locator("#stellars-orphans-question")
    question.wait_for(state="visible")
    assert volume(GHOST, "home") in question.inner_text()
    browser.snap("orphans-dialog")
    page.click("#stellars-orphans-confirm")
    wait_for(lambda: orphan.count() == 0, 30, "the orphan's row removed")
    assert "alert-success" in (
        page.locator("#stellars-admin-volumes-message").get_attribute("class") or ""
    )
    browser.snap("orphan-deleted")
    assert not engine_has(docker_client, volume(GHOST, "home"))
    assert engine_has(docker_client, volume(USER, "workspace"))  # nobody else's was touched
