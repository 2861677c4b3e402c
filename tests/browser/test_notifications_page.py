"""In a real browser: the admin composes a notification (with the character count), picks the
recipients among the running servers, sends it, and reads the per-recipient report."""

from __future__ import annotations

import time

import pytest

from tests.backends.lab_stand_in import received, render_config
from tests.backends.platform import ADMIN_PASSWORD, HubClient, platform_env

pytestmark = [pytest.mark.real, pytest.mark.browser]


def test_the_admin_composes_sends_and_reads_the_report(jupyterhub_factory, tmp_path, browser_page):
    data = tmp_path / "data"
    env = platform_env(data, JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD, STELLARS_SPAWNER="local")
    hub = jupyterhub_factory(render_config(tmp_path / "config"), env, workdir=tmp_path / "hub")
    admin = HubClient(hub.public_url)
    admin.login("admin", ADMIN_PASSWORD)
    admin.api("POST", "/users", json={"usernames": ["ada", "noext-bo", "cy"]}).raise_for_status()
    for name in ("ada", "noext-bo"):
        assert admin.api("POST", f"/users/{name}/server").status_code in {201, 202}
    deadline = time.monotonic() + 60
    while len(admin.api("GET", "/notifications/active-servers").json()["servers"]) < 2:
        assert time.monotonic() < deadline, "the servers did not start"
        time.sleep(0.5)

    browser = browser_page(hub.public_url)
    browser.log_in("admin", ADMIN_PASSWORD)
    browser.page.click("nav >> text=Notifications")
    page = browser.page
    # The running servers are listed (hidden until "Chosen users" is picked).
    page.wait_for_selector("#recipients-servers input", state="attached")
    assert page.inner_text("#broadcast-send") == "Send to every running server"
    page.fill("#broadcast-message", "The hub restarts at 18:00 UTC")
    assert page.inner_text("#broadcast-count") == "29"
    page.select_option("#broadcast-variant", "warning")
    page.check("#recipients-chosen")
    assert page.inner_text("#broadcast-send") == "Send to 2 user(s)"
    browser.snap("notifications-compose")
    page.click("#broadcast-send")
    page.wait_for_selector("#broadcast-report:not(.d-none)")
    rows = page.locator("#broadcast-details tbody tr")
    assert rows.count() == 2
    assert page.get_attribute("tr[data-username=ada]", "data-status") == "delivered"
    assert page.get_attribute("tr[data-username=noext-bo]", "data-status") == "failed"
    assert "no notifications extension" in page.inner_text("tr[data-username=noext-bo]")
    assert "Delivered to 1 of 2" in page.inner_text("#broadcast-summary")
    assert page.input_value("#broadcast-message") == ""
    browser.snap("notifications-report")
    assert received(data, "ada")[-1]["body"]["message"] == "The hub restarts at 18:00 UTC"
    assert received(data, "ada")[-1]["body"]["type"] == "warning"
