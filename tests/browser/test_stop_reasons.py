"""In a real browser, with labs in Docker: the home page says why the user's server stopped for
the reasons nobody and somebody asked for (issue 21 §2), and the activity page shows each
user's last stop in its own column.

- A lab killed behind the hub's back after writing markup to its log: "Your server stopped:
  exited with code 137.", with the last lines of its log shown as text (the markup is never
  rendered: no element comes of it).
- The admin's activity page: the user's row says "exited with code 137" in the "Last stop"
  column.
- The user stopping their own server: "Your server stopped: stopped by its user NAME.", in the
  quieter style of a stop somebody chose.
"""

from __future__ import annotations

import contextlib
import secrets

import docker.errors
import pytest
from tooling.run import gateway

from tests.backends.hub_helpers import wait_for
from tests.backends.platform import ADMIN_PASSWORD, HubClient, signed_up_user, start_platform
from tests.backends.processes import free_port

pytestmark = [pytest.mark.real, pytest.mark.browser]

TAG = secrets.token_hex(3)
USER = f"stella{TAG}"
PASSWORD = "stellas-password-1"
SHARED_VOLUME = "jupyterhub_shared"
MARKUP = f'<img src=x onerror="document.title=`pwned`"><b>{TAG}</b>'


@pytest.fixture
def cleanup(docker_client):
    shared_existed = bool(docker_client.volumes.list(filters={"name": SHARED_VOLUME}))
    yield
    for container in docker_client.containers.list(all=True, filters={"name": TAG}):
        container.remove(force=True)
    doomed = [v for v in docker_client.volumes.list(filters={"name": TAG}) if TAG in v.name]
    if not shared_existed:
        doomed += docker_client.volumes.list(filters={"name": SHARED_VOLUME})
    for volume in doomed:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            volume.remove(force=True)


def server_of(client: HubClient) -> dict | None:
    return (client.api("GET", f"/users/{USER}").json().get("servers") or {}).get("")


def start(user: HubClient) -> None:
    assert user.api("POST", f"/users/{USER}/server").status_code in {201, 202}
    wait_for(lambda: (server_of(user) or {}).get("ready"), 180, "the server")


def test_the_home_page_and_the_activity_page_say_why_the_server_stopped(
    jupyterhub_factory, tmp_path, docker_client, lab_image, browser_page, cleanup
):
    bridge = gateway(docker_client, "bridge")
    assert bridge
    hub = start_platform(
        jupyterhub_factory,
        tmp_path,
        {
            "STELLARS_SPAWNER": "docker",
            "JUPYTERHUB_NOTEBOOK_IMAGE": lab_image,
            "JUPYTERHUB_HUB_BIND_URL": f"http://{bridge}:{free_port(bridge)}",
        },
    )
    admin = HubClient(hub.public_url)
    admin.login("admin", ADMIN_PASSWORD)
    user = signed_up_user(hub.public_url, admin, USER, PASSWORD)
    start(user)
    box = docker_client.containers.get(f"jupyterlab-{USER}")
    said = box.exec_run(["sh", "-c", f"printf '%s\\n' '{MARKUP}' > /proc/1/fd/1"], user="1000")
    assert said.exit_code == 0, said.output
    wait_for(lambda: TAG.encode() in box.logs(tail=5), 30, "the line in the log")
    box.kill()

    page = browser_page(hub.public_url)
    page.log_in(USER, PASSWORD)
    page.visit("/hub/home")  # the visit makes the hub look
    wait_for(lambda: server_of(user) is None, 60, "the hub to see the stop")
    page.visit("/hub/home")
    told = page.page.locator("#stellars-last-stop")
    told.wait_for(state="visible", timeout=30_000)
    assert told.get_attribute("data-reason") == "exited"
    assert told.locator("strong").inner_text() == "Your server stopped: exited with code 137."
    assert "The last lines of its log may say why." in told.inner_text()
    assert "alert-warning" in (told.get_attribute("class") or "")
    log = told.locator("#stellars-last-stop-log")
    log.locator("summary").click()
    assert MARKUP in log.locator("pre").inner_text()
    assert told.locator("img").count() == 0  # shown as text, never rendered
    assert page.page.title() != "pwned"
    page.snap("home-exited-with-log")

    board = browser_page(hub.public_url)
    board.log_in("admin", ADMIN_PASSWORD)
    board.visit("/hub/activity")
    cell = board.page.locator(f'#activity-table tr[data-username="{USER}"] td.stellars-last-stop')
    cell.locator("[data-reason]").wait_for(timeout=30_000)
    assert cell.locator("[data-reason]").get_attribute("data-reason") == "exited"
    assert cell.inner_text().startswith("exited with code 137 · ")
    board.snap("activity-last-stop")

    start(user)
    assert user.api("DELETE", f"/users/{USER}/server").status_code in {202, 204}
    wait_for(lambda: server_of(user) is None, 120, "the stop")
    page.visit("/hub/home")
    told = page.page.locator("#stellars-last-stop")
    told.wait_for(state="visible", timeout=30_000)
    assert told.get_attribute("data-reason") == "stopped_by_user"
    assert told.locator("strong").inner_text() == (
        f"Your server stopped: stopped by its user {USER}."
    )
    assert "alert-secondary" in (told.get_attribute("class") or "")
    assert told.locator("#stellars-last-stop-log").count() == 0
    page.snap("home-stopped-by-user")
