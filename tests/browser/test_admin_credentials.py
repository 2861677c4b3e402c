"""In a real browser, on JupyterHub's own admin page: the admin adds users through the React app
and gets their generated passwords once, in a dialog with copy and download (light and dark);
the volumes panel below the app lists every user and the orphaned volumes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backends.platform import ADMIN_PASSWORD, HubClient, start_platform

pytestmark = [pytest.mark.real, pytest.mark.browser]

NEW_USERS = ["nina", "omar", "pia"]


def test_the_admin_adds_users_and_gets_their_passwords_once(
    jupyterhub_factory, tmp_path, browser_page
):
    hub = start_platform(jupyterhub_factory, tmp_path, {"STELLARS_SPAWNER": "local"})
    browser = browser_page(hub.public_url)
    browser.log_in("admin", ADMIN_PASSWORD)
    page = browser.page
    browser.visit("/hub/admin")
    page.wait_for_selector("#stellars-user-volumes tbody tr[data-user=admin]")
    page.get_by_role("button", name="Add Users").first.click()
    page.fill("[data-testid=user-textarea]", "\n".join(NEW_USERS))
    page.locator("[data-testid=user-textarea]").blur()
    page.locator("[data-testid=submit]").click()

    dialog = page.locator("#stellars-credentials-dialog")
    dialog.wait_for(state="visible")
    assert not dialog.locator("#stellars-credentials-notices").is_visible()  # nothing to add
    browser.snap("credentials")
    rows = dialog.locator("tbody tr")
    assert rows.count() == len(NEW_USERS)
    shown = {
        rows.nth(i).get_attribute("data-user"): rows.nth(i).locator("code").inner_text()
        for i in range(rows.count())
    }
    assert set(shown) == set(NEW_USERS)
    assert all(len(password.split("-")) == 4 for password in shown.values())

    page.click("#stellars-credentials-copy")
    message = page.locator("#stellars-credentials-message")
    message.wait_for(state="visible")
    assert "clipboard" in message.inner_text() or "did not allow" in message.inner_text()

    with page.expect_download() as download:
        page.click("#stellars-credentials-download")
    assert download.value.suggested_filename.startswith("jupyterhub-credentials-")
    text = Path(download.value.path()).read_text()
    for name, password in shown.items():
        assert f"Username: {name}\nPassword: {password}\n" in text

    # What the hub's theme switch (behind the dialog now) does.
    page.evaluate("document.documentElement.setAttribute('data-bs-theme', 'dark')")
    browser.snap("credentials-dark")
    dialog.get_by_role("button", name="Done").click()
    dialog.wait_for(state="hidden")

    # The passwords work, and they were handed out once: the hub has none left to give.
    for name, password in shown.items():
        HubClient(hub.public_url).login(name, password)
    admin = HubClient(hub.public_url)
    admin.login("admin", ADMIN_PASSWORD)
    again = admin.api("POST", "/admin/credentials", json={"usernames": NEW_USERS})
    assert again.json() == {"credentials": []}

    page.click("#stellars-admin-volumes-refresh")
    page.wait_for_selector("#stellars-user-volumes tbody tr[data-user=pia]")
    row = page.locator("#stellars-user-volumes tbody tr[data-user=pia]")
    assert row.locator("td").nth(1).inner_text() == "stopped"
    assert "home" in row.locator("td").nth(2).inner_text()
    browser.snap("volumes-panel-dark")


def test_the_dialog_tells_the_admin_of_a_sign_up_it_replaced(
    jupyterhub_factory, tmp_path, browser_page
):
    """Security finding L3 on the admin page: a stranger signed up as quinn before the admin
    added quinn; the dialog says the sign-up was replaced, and its password is dead."""
    hub = start_platform(jupyterhub_factory, tmp_path, {"STELLARS_SPAWNER": "local"})
    stranger = HubClient(hub.public_url, source="127.0.0.9")
    assert stranger.signup("quinn", "a-strangers-password-1").status_code == 200
    browser = browser_page(hub.public_url)
    browser.log_in("admin", ADMIN_PASSWORD)
    page = browser.page
    browser.visit("/hub/admin")
    page.wait_for_selector("#stellars-user-volumes tbody tr[data-user=admin]")
    page.get_by_role("button", name="Add Users").first.click()
    page.fill("[data-testid=user-textarea]", "quinn\nrae")
    page.locator("[data-testid=user-textarea]").blur()
    page.locator("[data-testid=submit]").click()

    dialog = page.locator("#stellars-credentials-dialog")
    dialog.wait_for(state="visible")
    notices = dialog.locator("#stellars-credentials-notices")
    assert notices.is_visible()
    assert notices.locator("p").count() == 1
    assert "Someone had signed up as quinn" in notices.inner_text()
    assert dialog.locator("tr[data-user=quinn][data-replaced-sign-up]").count() == 1
    assert dialog.locator("tr[data-user=rae][data-replaced-sign-up]").count() == 0
    browser.snap("credentials-replaced-sign-up")
    password = dialog.locator("tr[data-user=quinn] code").inner_text()
    dialog.get_by_role("button", name="Done").click()
    dialog.wait_for(state="hidden")

    HubClient(hub.public_url).login("quinn", password)
    refused = HubClient(hub.public_url, source="127.0.0.9")
    answer = refused.session.post(
        refused.url("/login"),
        data={
            "username": "quinn",
            "password": "a-strangers-password-1",
            "_xsrf": refused.form_xsrf("/login"),
        },
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code != 302
