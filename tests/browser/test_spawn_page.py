"""In a real browser, with labs in Docker: the spawn page follows a start's steps as they happen
(its event log lists the platform's step messages) and, when the lab exits at once, shows the
reason and the last lines of the container's log, a `<script>` in them shown as text and never
run; the progress bar turns red, and no page logs a JavaScript error."""

from __future__ import annotations

import pytest

from tests.backends.platform import ADMIN_PASSWORD, HubClient, signed_up_user
from tests.integration.test_spawn_progress import (
    TAG,
    docker_hub,
    failing_image,
    removed_afterwards,
)

pytestmark = [pytest.mark.real, pytest.mark.browser]

USER = f"ria{TAG}"
PASSWORD = "rias-password-1"


def test_the_spawn_page_shows_the_steps_and_the_failure_with_its_log(
    jupyterhub_factory, tmp_path, docker_client, tiny_image, browser_page
):
    image = failing_image(docker_client, tiny_image)
    with removed_afterwards(docker_client, image):
        hub = docker_hub(jupyterhub_factory, tmp_path, docker_client, image)
        admin = HubClient(hub.public_url)
        admin.login("admin", ADMIN_PASSWORD)
        signed_up_user(hub.public_url, admin, USER, PASSWORD)

        browser = browser_page(hub.public_url)
        browser.log_in(USER, PASSWORD)
        page = browser.page
        # The spawn page streams until the start ends: no wait for an idle network.
        page.goto(f"{hub.public_url}/hub/spawn/{USER}", wait_until="domcontentloaded")
        page.wait_for_url(f"**/hub/spawn-pending/{USER}**")
        log = page.locator("#progress-log")
        page.locator(
            "#progress-log .progress-log-event", has_text="Waiting for JupyterLab"
        ).wait_for(state="attached", timeout=60_000)
        browser.snap("spawn-waiting")
        page.locator("#progress-bar.bg-danger").wait_for(timeout=60_000)

        events = [text.strip() for text in log.locator(".progress-log-event").all_inner_texts()]
        assert events[:6] == [
            "Server requested",
            "Your volumes are ready.",
            "No GPU for this server.",
            events[3],
            f"The container jupyterlab-{USER} started.",
            "Waiting for JupyterLab to answer...",
        ], events
        assert events[3].startswith(f"The image {image} (") and events[3].endswith("present.")

        message = page.locator("#progress-message")
        assert message.locator(".stellars-start-failure").inner_text() == (
            "Your server's container exited with code 3 as it started."
        )
        assert "The last 3 lines of the container's log:" in message.inner_text()
        tail = message.locator("pre.stellars-log-tail").inner_text().split("\n")
        assert sorted(tail) == sorted(
            ["starting the lab", "<script>alert(1)</script>", "no such module: jupyterlab"]
        )
        assert page.locator("#progress-message script, #progress-log script").count() == 0
        assert "alert(1)" not in "".join(page.locator("script").all_inner_texts())
        assert page.locator("#progress-details").get_attribute("open") is not None
        assert "Spawn failed" not in message.inner_text()  # the platform's words, not a trace
        assert "Traceback" not in page.content()
        browser.snap("spawn-failed")
        page.evaluate("document.documentElement.setAttribute('data-bs-theme', 'dark')")
        browser.snap("spawn-failed-dark")
