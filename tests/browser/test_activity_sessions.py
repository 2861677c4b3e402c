"""In a real browser: the admin sorts the activity dashboard and resets it after confirming; a
user extends the session from the home page and sees the countdown move without a reload."""

from __future__ import annotations

import re
import time

import pytest

from tests.backends.platform import ADMIN_PASSWORD, HubClient, signed_up_user, start_platform

pytestmark = [pytest.mark.real, pytest.mark.browser]

CULLING = {
    "STELLARS_SPAWNER": "local",
    "JUPYTERHUB_IDLE_CULLER_ENABLED": "1",
    "JUPYTERHUB_IDLE_CULLER_TIMEOUT": "3600",
    "JUPYTERHUB_IDLE_CULLER_MAX_EXTENSION": "4",
}


@pytest.fixture
def platform(jupyterhub_factory, tmp_path):
    hub = start_platform(jupyterhub_factory, tmp_path, CULLING)
    admin = HubClient(hub.public_url)
    admin.login("admin", ADMIN_PASSWORD)
    for name in ("zoe", "adam"):
        signed_up_user(hub.public_url, admin, name, f"{name}-password-1")
    return hub, admin


def minutes_shown(countdown: str) -> int:
    """The idle card's countdown ("59m", "2h 58m") in minutes; anything else fails the test."""
    shown = re.fullmatch(r"(?:(\d+)h )?(\d+)m", countdown)
    assert shown, f"not a countdown: {countdown!r}"
    return int(shown[1] or 0) * 60 + int(shown[2])


def usernames(page) -> list[str]:
    return page.locator("#activity-table tbody tr").evaluate_all(
        "rows => rows.map(row => row.dataset.username)"
    )


def test_the_admin_sorts_the_dashboard_and_resets_it_after_confirming(platform, browser_page):
    hub, admin = platform
    admin.api("POST", "/activity/sample")
    browser = browser_page(hub.public_url)
    browser.log_in("admin", ADMIN_PASSWORD)
    browser.page.click("nav >> text=Activity")
    page = browser.page
    page.wait_for_selector("#activity-table tbody tr")
    browser.snap("activity")
    assert "3 user(s)" in page.inner_text("#activity-counts")
    page.click("th[data-sort=username]")  # descending first
    assert usernames(page) == ["zoe", "admin", "adam"]
    page.click("th[data-sort=username]")
    assert usernames(page) == ["adam", "admin", "zoe"]
    assert page.get_attribute("th[data-sort=username]", "aria-sort") == "ascending"
    browser.snap("activity-sorted")
    assert admin.api("GET", "/activity").json()["users"][0]["sample_count"] == 1
    page.click("#activity-reset")
    page.wait_for_selector("#activity-reset-dialog.show")
    browser.snap("activity-reset-dialog")
    page.click("#activity-reset-confirm")
    page.wait_for_selector("#activity-reset-dialog", state="hidden")
    assert admin.api("GET", "/activity").json()["users"][0]["sample_count"] == 0
    browser.snap("activity-after-reset")


def test_a_user_extends_the_session_and_the_countdown_moves_without_a_reload(
    platform, browser_page
):
    hub, admin = platform
    assert admin.api("POST", "/users/zoe/server").status_code in {201, 202}
    deadline = time.monotonic() + 120
    while not ((admin.api("GET", "/users/zoe").json().get("servers") or {}).get("") or {}).get(
        "ready"
    ):
        assert time.monotonic() < deadline, "zoe's server did not start"
        time.sleep(0.5)
    browser = browser_page(hub.public_url)
    browser.log_in("zoe", "zoe-password-1")
    page = browser.page
    page.wait_for_selector("#stellars-session:not(.d-none)")
    # A fresh server has the whole idle timeout (60 min) left, less the start and the login.
    before = minutes_shown(page.inner_text("#session-remaining"))
    assert 50 <= before <= 60, before
    assert page.get_attribute("#session-hours", "max") == "4"
    browser.snap("session-card")
    page.fill("#session-hours", "2")
    page.click("#session-extend-button")
    page.wait_for_selector("#session-message.alert-success")
    # Two hours on top of what was left (less the seconds the extension took).
    after = minutes_shown(page.inner_text("#session-remaining"))
    assert before + 118 <= after <= before + 120, (before, after)
    assert "Added 2 hour(s)" in page.inner_text("#session-message")
    assert page.get_attribute("#session-hours", "max") == "2"
    browser.snap("session-extended")
    admin.api("DELETE", "/users/zoe/server")
