"""In a real browser, on the home page: the user's storage against their quota, measured on the
engine from a real volume, in the resources card: a bar and the words ("3.8 MiB of 4 MiB
(95 %)"), a warning from 90 %, and over the quota a danger note that offers the volume reset
(the Manage volumes button and the route), light and dark.

The user's server is a local process (nothing to start): their home volume is made and filled
on the engine with the tiny image, as a lab writing files would.
"""

from __future__ import annotations

import contextlib
import secrets

import docker.errors
import pytest

from tests.backends.hub_helpers import wait_for
from tests.backends.platform import HubClient, signed_up_user, start_platform

pytestmark = [pytest.mark.real, pytest.mark.browser]

TAG = secrets.token_hex(3)
USER = f"sto{TAG}"
PASSWORD = "stos-password-1"
MIB = 1024 * 1024
QUOTA = 4 * MIB
HOME = f"jupyterlab-{USER}_home"


@pytest.fixture
def cleanup(docker_client):
    yield
    for volume in docker_client.volumes.list(filters={"name": TAG}):
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            volume.remove(force=True)


def fill(docker_client, image: str, size: int, file: str) -> None:
    """`size` bytes written into `file` on the user's home volume."""
    docker_client.containers.run(
        image,
        ["sh", "-c", f"head -c {size} /dev/urandom > /volume/{file} && sync"],
        volumes={HOME: {"bind": "/volume", "mode": "rw"}},
        name=f"fill{TAG}-{secrets.token_hex(3)}",
        network_disabled=True,
        remove=True,
    )


def test_the_home_page_shows_the_usage_the_warning_and_the_reset_over_the_quota(
    jupyterhub_factory, tmp_path, docker_client, docker_labels, tiny_image, browser_page, cleanup
):
    hub = start_platform(
        jupyterhub_factory,
        tmp_path,
        {
            "STELLARS_SPAWNER": "local",
            "STELLARS_STORAGE_QUOTA": "4MiB",
            "JUPYTERHUB_ACTIVITYMON_VOLUMES_UPDATE_INTERVAL": "10",
        },
    )
    admin = HubClient(hub.public_url)
    admin.login("admin", "correct-horse-battery-staple")
    user = signed_up_user(hub.public_url, admin, USER, PASSWORD)
    docker_client.volumes.create(HOME, labels=docker_labels)  # made after the account: hers
    fill(docker_client, tiny_image, QUOTA * 95 // 100 + 100, "data.bin")  # just past 95 %

    def state() -> str:
        return user.api("GET", f"/users/{USER}/storage").json()["state"]

    wait_for(lambda: state() == "warning", 120, "the warning state")
    browser = browser_page(hub.public_url)
    browser.log_in(USER, PASSWORD)
    page = browser.page
    storage = page.locator("#stellars-storage")
    storage.wait_for(state="visible")
    assert storage.get_attribute("data-state") == "warning"
    assert page.inner_text("#stellars-storage-text") == "3.8 MiB of 4 MiB (95 %)"
    bar = page.locator("#stellars-storage-bar")
    assert "bg-warning" in (bar.get_attribute("class") or "")
    assert bar.evaluate("node => node.style.width") == "95%"
    assert page.get_attribute("#stellars-storage-progress", "aria-valuenow") == "95"
    note = page.locator("#stellars-storage-note")
    assert note.is_visible()
    assert "alert-warning" in (note.get_attribute("class") or "")
    assert "close to your storage quota" in note.inner_text()
    browser.snap("storage-warning")

    fill(docker_client, tiny_image, 2 * MIB, "more.bin")
    wait_for(lambda: state() == "over", 120, "the over state")
    browser.visit("/hub/home")
    storage.wait_for(state="visible")
    assert storage.get_attribute("data-state") == "over"
    text = page.inner_text("#stellars-storage-text")
    assert text.endswith(" of 4 MiB (145 %): over the quota"), text
    assert "bg-danger" in (bar.get_attribute("class") or "")
    assert bar.evaluate("node => node.style.width") == "100%"  # never past the bar's end
    assert "alert-danger" in (note.get_attribute("class") or "")
    said = note.inner_text()
    assert "reset volumes with Manage volumes above" in said
    assert f"DELETE /hub/api/users/{USER}/manage-volumes" in said
    assert page.locator("#stellars-manage-volumes").is_visible()  # the reset offered
    browser.snap("storage-over")
    page.evaluate("document.documentElement.setAttribute('data-bs-theme', 'dark')")
    browser.snap("storage-over-dark")

    # The usage row sits in the resources card beside the quota (platform default).
    quota_row = page.locator('#stellars-resources-table tr[data-resource="Storage quota"]')
    assert quota_row.locator("td").first.inner_text() == "4.0 MB"
