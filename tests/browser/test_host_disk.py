"""In a real browser: the admin sees the host's free disk on the activity page and the settings
page, a warning when it is low.

Both hubs run deploy/jupyterhub_config.py with Docker servers, whose disk is measured in a
container of the lab image. One has the tiny image as its lab image: the line shows the engine's
data directory as measured. The other's lab image is the tiny image with a `stat` that answers
a filesystem 5 % free (the real adapter, a fake world, as the GPU tests fake `nvidia-smi`): the
line is a warning on both pages.
"""

from __future__ import annotations

import secrets

import pytest

from tests.backends.disk_images import fake_stat_image, stat_answering
from tests.backends.hub_helpers import wait_for
from tests.backends.platform import ADMIN_PASSWORD, HubClient, start_platform

pytestmark = [pytest.mark.real, pytest.mark.browser]

TAG = secrets.token_hex(3)
ADMIN = f"adm{TAG}"
# 4096-byte blocks: 1,000,000 of them (3.81 GiB), 50,000 free (5 %).
LOW_TEXT = "195.31 MiB free of 3.81 GiB (5.0 %): low, under 10 % free"


def hub_with_image(jupyterhub_factory, tmp_path, image: str):
    return start_platform(
        jupyterhub_factory,
        tmp_path,
        {
            "JUPYTERHUB_ADMIN": ADMIN,
            "STELLARS_SPAWNER": "docker",
            "JUPYTERHUB_NOTEBOOK_IMAGE": image,
        },
    )


def measured(hub) -> dict:
    """The activity API's `host_disk` once the hub's first measurement is in."""
    admin = HubClient(hub.public_url)
    admin.login(ADMIN, ADMIN_PASSWORD)

    def disk():
        answer = admin.api("GET", "/activity", timeout=30).json()["host_disk"]
        return answer if answer["age_seconds"] is not None else None

    return wait_for(disk, 120, "the hub's first measurement of the disk")


def background(locator) -> str:
    return locator.evaluate("node => getComputedStyle(node).backgroundColor")


def test_the_activity_page_shows_the_engines_data_directory(
    jupyterhub_factory, tmp_path, browser_page, tiny_image
):
    hub = hub_with_image(jupyterhub_factory, tmp_path, tiny_image)
    disk = measured(hub)
    browser = browser_page(hub.public_url)
    browser.log_in(ADMIN, ADMIN_PASSWORD)
    browser.visit("/hub/activity")
    line = browser.page.locator("#activity-disk")
    browser.page.wait_for_function(
        "() => document.querySelector('#activity-disk').textContent.includes('measured')"
    )
    browser.snap("activity-disk")
    assert line.get_attribute("data-state") == disk["state"]
    assert disk["state"] in {"ok", "low"}
    text = " ".join(line.inner_text().split())
    assert text.startswith(f"Host disk {disk['path']}: {disk['text']} (measured ")
    if disk["state"] == "ok":
        assert background(line) == "rgba(0, 0, 0, 0)"  # no warning


def test_a_low_disk_is_a_warning_on_the_activity_and_settings_pages(
    jupyterhub_factory, tmp_path, browser_page, docker_client, tiny_image
):
    image = fake_stat_image(docker_client, tiny_image, stat_answering(4096, 1_000_000, 50_000))
    hub = hub_with_image(jupyterhub_factory, tmp_path, image)
    disk = measured(hub)
    assert (disk["state"], disk["text"]) == ("low", LOW_TEXT)
    browser = browser_page(hub.public_url)
    browser.log_in(ADMIN, ADMIN_PASSWORD)
    browser.visit("/hub/activity")
    page = browser.page
    page.wait_for_function(
        "() => document.querySelector('#activity-disk').textContent.includes('measured')"
    )
    line = page.locator("#activity-disk")
    browser.snap("activity-low-disk")
    assert line.get_attribute("data-state") == "low"
    assert LOW_TEXT in line.inner_text()
    warning = background(line)
    assert warning not in {"rgba(0, 0, 0, 0)", "transparent"}
    assert line.evaluate("node => getComputedStyle(node).fontWeight") == "600"

    browser.visit("/hub/settings")
    settings_line = page.locator("#stellars-settings-disk")
    browser.snap("settings-low-disk")
    assert settings_line.get_attribute("data-state") == "low"
    assert LOW_TEXT in settings_line.inner_text()
    assert background(settings_line) == warning
