"""In a real browser: the admin logs in and opens the settings page, which looks like the hub's
own pages (its nav bar, light and dark) and shows the settings without secrets."""

from __future__ import annotations

import pytest

from tests.backends.platform import ADMIN_PASSWORD, start_platform

pytestmark = [pytest.mark.real, pytest.mark.browser]


def test_the_admin_logs_in_and_opens_the_settings_page(jupyterhub_factory, tmp_path, browser_page):
    hub = start_platform(jupyterhub_factory, tmp_path, {"STELLARS_SPAWNER": "local"})
    browser = browser_page(hub.public_url)
    browser.log_in("admin", ADMIN_PASSWORD)
    assert browser.page.url.endswith("/hub/home")
    browser.page.click("nav >> text=Settings")
    browser.page.wait_for_selector("#stellars-settings")
    browser.snap("settings")
    page = browser.page
    assert page.title() == "Platform settings"
    assert (
        page.locator("tr[data-variable=JUPYTERHUB_IDLE_CULLER_TIMEOUT] td").nth(1).inner_text()
        == "86400"
    )
    assert (
        page.locator("tr[data-variable=JUPYTERHUB_ADMIN_PASSWORD] td").nth(1).inner_text()
        == "(set)"
    )
    assert ADMIN_PASSWORD not in page.content()
    # The hub's own theme switch works on our page too.
    page.click("#dark-theme-toggle")
    assert page.locator("html").get_attribute("data-bs-theme") == "dark"
    browser.snap("settings-dark")
