"""In a real browser: the admin reads the audit feed (filters by user and action, pages older
and newer, the CSV link follows the filters), and the notifications page lists past
broadcasts with their reports, a new one included as soon as it is sent."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from tests.backends.platform import ADMIN_PASSWORD, HubClient, start_platform

pytestmark = [pytest.mark.real, pytest.mark.browser]

USERS = [f"u{n:02d}" for n in range(60)]


def position(row) -> tuple[datetime, int]:
    """A row's place in the feed's order: its time, then its id."""
    at = datetime.fromisoformat(row.get_attribute("data-at").replace("Z", "+00:00"))
    return at, int(row.get_attribute("data-id"))


def settled(admin: HubClient, count: int) -> None:
    """Wait until the feed holds at least `count` entries (recorded after each answer)."""
    deadline = time.monotonic() + 30
    while len(admin.api("GET", "/audit", params={"limit": 500}).json()["entries"]) < count:
        assert time.monotonic() < deadline, "the entries were not recorded"
        time.sleep(0.3)


@pytest.fixture
def hub(jupyterhub_factory, tmp_path):
    hub = start_platform(jupyterhub_factory, tmp_path, env={"STELLARS_SPAWNER": "local"})
    admin = HubClient(hub.public_url)
    admin.login("admin", ADMIN_PASSWORD)
    assert admin.api("POST", "/users", json={"usernames": USERS}).status_code == 201
    assert admin.api("DELETE", "/users/u07").status_code == 204
    answer = admin.api("POST", "/notifications/broadcast", json={"message": "First notice"})
    assert answer.status_code == 200
    settled(admin, len(USERS) + 2)
    return hub


def test_the_admin_filters_and_pages_the_feed(hub, browser_page):
    browser = browser_page(hub.public_url)
    browser.log_in("admin", ADMIN_PASSWORD)
    page = browser.page
    page.click("nav >> text=Audit")
    rows = page.locator("#audit-entries tbody tr[data-id]")
    rows.first.wait_for()
    assert rows.count() == 50
    newest = [position(rows.nth(n)) for n in range(50)]
    assert newest == sorted(newest, reverse=True)  # by time, then id
    assert page.is_disabled("#audit-newer")
    browser.snap("audit-first-page")

    page.click("#audit-older")
    page.wait_for_function("document.getElementById('audit-page-number').textContent === 'page 2'")
    older = [position(rows.nth(n)) for n in range(rows.count())]
    assert older and older == sorted(older, reverse=True) and max(older) < min(newest)
    assert rows.count() == len(USERS) + 2 - 50  # the rest of the feed
    assert page.is_disabled("#audit-older")
    page.click("#audit-newer")
    page.wait_for_function("document.getElementById('audit-page-number').textContent === 'page 1'")
    assert position(rows.first) == newest[0]

    page.fill("#audit-user", "u07")
    page.click("#audit-apply")
    page.wait_for_function(
        "document.querySelectorAll('#audit-entries tbody tr[data-id]').length === 2"
    )
    actions = {rows.nth(n).get_attribute("data-action") for n in range(2)}
    assert actions == {"user-created", "user-deleted"}
    assert "u07" in page.inner_text("#audit-entries tbody")
    assert "user=u07" in page.get_attribute("#audit-csv", "href")

    page.select_option("#audit-action", "user-deleted")
    page.click("#audit-apply")
    page.wait_for_function(
        "document.querySelectorAll('#audit-entries tbody tr[data-id]').length === 1"
    )
    assert rows.first.get_attribute("data-action") == "user-deleted"
    assert "action=user-deleted" in page.get_attribute("#audit-csv", "href")
    browser.snap("audit-filtered")

    page.fill("#audit-user", "nobody-here")
    page.click("#audit-apply")
    page.wait_for_selector("text=No entries.")


def test_the_notifications_page_lists_past_broadcasts_with_their_reports(hub, browser_page):
    browser = browser_page(hub.public_url)
    browser.log_in("admin", ADMIN_PASSWORD)
    page = browser.page
    page.click("nav >> text=Notifications")
    history = page.locator("#broadcast-history-entries tbody tr[data-id]")
    history.first.wait_for()
    assert history.count() == 1
    assert "First notice" in history.first.inner_text()
    assert "0 of 0 delivered" in history.first.inner_text()

    page.fill("#broadcast-message", "Second notice")
    page.click("#broadcast-send")
    page.wait_for_selector("#broadcast-report:not(.d-none)")
    page.wait_for_function(
        "document.querySelectorAll('#broadcast-history-entries tbody tr[data-id]').length === 2"
    )
    assert "Second notice" in history.first.inner_text()
    assert "admin" in history.first.inner_text()
    browser.snap("notifications-history")
