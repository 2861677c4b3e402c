"""In a real browser: the admin makes, edits, orders and deletes group policies on the policies
page (over JupyterHub's own groups), sees a bad value refused with the hub's message naming the
field, and looks up what a user gets and from which group; the user sees their own resources
on the home page."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.backends.platform import ADMIN_PASSWORD, HubClient, signed_up_user, start_platform

pytestmark = [pytest.mark.real, pytest.mark.browser]

IMAGES = "lab:default lab:cuda"


@pytest.fixture
def hub(jupyterhub_factory, tmp_path):
    made = start_platform(
        jupyterhub_factory,
        tmp_path,
        {"STELLARS_SPAWNER": "local", "STELLARS_ALLOWED_IMAGES": IMAGES},
    )
    admin = HubClient(made.public_url)
    admin.login("admin", ADMIN_PASSWORD)
    for group in ("ml", "viz"):
        assert admin.api("POST", f"/groups/{group}").status_code == 201
    return SimpleNamespace(public_url=made.public_url, admin_client=admin)


def rows(page) -> list[str]:
    return page.locator("#policies-table tbody tr").evaluate_all(
        "rows => rows.map(row => row.dataset.group)"
    )


def edit(page, values: dict[str, str]) -> None:
    page.wait_for_selector("#stellars-policy-dialog.show")
    for selector, value in values.items():
        page.fill(selector, value)


def test_the_admin_makes_orders_edits_and_deletes_policies(hub, browser_page):
    admin = hub.admin_client
    bob = signed_up_user(hub.public_url, admin, "bob", "bobs-password-1")
    assert admin.api("POST", "/groups/ml/users", json={"users": ["bob"]}).status_code == 200
    browser = browser_page(hub.public_url)
    browser.log_in("admin", ADMIN_PASSWORD)
    page = browser.page
    page.click("nav >> text=Policies")
    page.wait_for_selector("#policies-table tbody tr")
    assert page.title() == "Group policies"
    assert "No group has a policy yet." in page.inner_text("#policies-table")
    assert "docker-sock (the Docker socket)" in page.inner_text("#policies-builtin")
    browser.snap("policies-empty")

    # A policy for ml.
    page.select_option("#policy-new-group", "ml")
    page.click("#policy-new")
    edit(
        page,
        {
            "#policy-memory": "4",
            "#policy-cpu": "2",
            "#policy-images": "lab:cuda\nlab:default",
            "#policy-environment": "TEAM=ml",
            "#policy-mounts": "team-data:/mnt/team:rw",
            "#policy-idle": "120",
        },
    )
    assert "lab:default, lab:cuda" in page.inner_text("#policy-allowed-images")
    browser.snap("policy-editor")
    page.click("#stellars-policy-confirm")
    page.wait_for_selector("tr[data-group=ml]")
    summary = page.inner_text("tr[data-group=ml]")
    assert "memory 4.0 GB" in summary and "images lab:cuda, lab:default" in summary
    assert "team-data at /mnt/team (read-write)" in summary
    assert "idle timeout 2h 0m" in summary
    assert "The policy of ml is saved." in page.inner_text("#policies-message")
    stored = admin.api("GET", "/policies/ml").json()
    assert (stored["memory_limit"], stored["cpu_limit"]) == (4 * 1024**3, 2.0)
    assert stored["idle_timeout_seconds"] == 7200

    # A bad value is refused by the hub, with its message in the dialog.
    page.select_option("#policy-new-group", "viz")
    page.click("#policy-new")
    edit(page, {"#policy-environment": "PATH=/tmp/evil"})
    page.click("#stellars-policy-confirm")
    page.wait_for_selector("#stellars-policy-message.alert-danger")
    assert page.inner_text("#stellars-policy-message").startswith(
        "environment: 'PATH' is set by JupyterHub or the platform"
    )
    browser.snap("policy-refused")
    # The browser logs the 400 it was answered; that one is expected.
    refused = [error for error in browser.errors if "status of 400" in error]
    assert len(refused) == 1, browser.errors
    browser.errors[:] = [error for error in browser.errors if error not in refused]
    edit(page, {"#policy-environment": "TEAM=viz", "#policy-gpus": "1"})
    page.select_option("#policy-gpu-sharing", "shared")
    page.click("#stellars-policy-confirm")
    page.wait_for_selector("tr[data-group=viz]")
    assert rows(page) == ["ml", "viz"]
    assert "1 GPU(s), shared" in page.inner_text("tr[data-group=viz]")

    # Moved up: viz first, saved in the hub.
    page.click("tr[data-group=viz] button[title='Move up']")
    page.wait_for_function(
        "document.querySelector('#policies-table tbody tr').dataset.group === 'viz'"
    )
    assert rows(page) == ["viz", "ml"]
    assert [p["group"] for p in admin.api("GET", "/policies").json()["policies"]] == ["viz", "ml"]
    browser.snap("policies-ordered")

    # Edited: the dialog opens with the stored values.
    page.click("tr[data-group=ml] >> text=Edit")
    page.wait_for_selector("#stellars-policy-dialog.show")
    assert page.input_value("#policy-memory") == "4"
    assert page.input_value("#policy-mounts") == "team-data:/mnt/team:rw"
    page.fill("#policy-cpu", "8")
    page.click("#stellars-policy-confirm")
    page.wait_for_function(
        "document.querySelector('tr[data-group=ml]').innerText.includes('CPU 8')"
    )
    assert admin.api("GET", "/policies/ml").json()["cpu_limit"] == 8.0

    # What bob gets, and from which group.
    page.fill("#resources-user", "bob")
    page.click("#resources-show")
    page.wait_for_selector("#resources-table:not(.d-none)")
    memory = page.inner_text("#resources-table tr[data-resource=Memory]")
    assert "4.0 GB" in memory and "group ml" in memory
    assert "platform default" in page.inner_text("#resources-table tr[data-resource=GPUs]")
    assert "bob is in ml." in page.inner_text("#resources-message")
    browser.snap("what-bob-gets")

    # Deleted after a confirmation.
    page.click("tr[data-group=viz] >> text=Delete")
    page.wait_for_selector("#stellars-policy-delete-dialog.show")
    page.click("#stellars-policy-delete-confirm")
    page.wait_for_function("!document.querySelector('tr[data-group=viz]')")
    assert rows(page) == ["ml"]
    assert admin.api("GET", "/policies/viz").status_code == 404
    page.click("#dark-theme-toggle")
    browser.snap("policies-dark")
    assert bob.api("GET", "/users/bob/resources").status_code == 200


def test_a_user_sees_their_own_resources_on_the_home_page(hub, browser_page):
    admin = hub.admin_client
    signed_up_user(hub.public_url, admin, "cyd", "cyds-password-1")
    admin.api("POST", "/groups/ml/users", json={"users": ["cyd"]}).raise_for_status()
    policy = {"memory_limit": 2 * 1024**3, "images": ["lab:cuda", "lab:default"]}
    assert admin.api("PUT", "/policies/ml", json=policy).status_code == 200
    browser = browser_page(hub.public_url)
    browser.log_in("cyd", "cyds-password-1")
    page = browser.page
    page.wait_for_selector("#stellars-resources:not(.d-none)")
    assert "From your groups: ml." in page.inner_text("#stellars-resources-groups")
    memory = page.inner_text("#stellars-resources tr[data-resource=Memory]")
    assert "2.0 GB" in memory and "group ml" in memory
    image = page.inner_text("#stellars-resources tr[data-resource=Image]")
    assert "lab:cuda (you may choose: lab:cuda, lab:default)" in image
    assert "no limit" in page.inner_text("#stellars-resources tr[data-resource=CPU]")
    assert "Policies" not in page.inner_text("nav")
    browser.snap("home-resources")
