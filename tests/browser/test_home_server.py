"""In a real browser, on the home page of a user whose server runs in Docker: the restart asks
for confirmation, waits until JupyterLab answers again and reloads into the working lab; once
the server is stopped, the volume dialog lists the volumes under the engine's names (escaped as
DockerSpawner escapes them) and resets the chosen one (light and dark)."""

from __future__ import annotations

import contextlib
import secrets

import docker.errors
import pytest
import requests
from tooling.run import gateway

from tests.backends.hub_helpers import wait_for
from tests.backends.platform import HubClient, signed_up_user, start_platform
from tests.backends.processes import free_port

pytestmark = [pytest.mark.real, pytest.mark.browser]

TAG = secrets.token_hex(3)
USER = f"eve.{TAG}"  # the dot is escaped in Docker's names: eve-2e...
ESCAPED = f"eve-2e{TAG}"
PASSWORD = "eves-password-1"
SHARED_VOLUME = "jupyterhub_shared"


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


def test_a_user_restarts_the_server_then_resets_a_volume(
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
    admin.login("admin", "correct-horse-battery-staple")
    user = signed_up_user(hub.public_url, admin, USER, PASSWORD)
    assert user.api("POST", f"/users/{USER}/server").status_code in {201, 202}
    wait_for(lambda: (server_of(user) or {}).get("ready"), 120, "the server")
    started = docker_client.containers.get(f"jupyterlab-{ESCAPED}").attrs["State"]["StartedAt"]

    browser = browser_page(hub.public_url)
    browser.log_in(USER, PASSWORD)
    page = browser.page
    page.click("#stellars-restart")
    page.locator("#stellars-restart-dialog").wait_for(state="visible")
    browser.snap("restart-dialog")
    page.evaluate("window.stellarsBeforeRestart = true")  # a reload forgets it
    page.click("#stellars-restart-confirm")
    page.wait_for_function("() => window.stellarsBeforeRestart === undefined", timeout=120_000)
    page.wait_for_load_state("load")
    page.locator("#stellars-restart").wait_for()
    browser.snap("after-restart")
    after = docker_client.containers.get(f"jupyterlab-{ESCAPED}").attrs["State"]["StartedAt"]
    assert after != started
    # Reloaded into a working lab: it answers at once.
    token = user.new_token(USER, [f"access:servers!server={USER}/"])
    status = requests.get(
        f"{hub.public_url}/user/{USER}/api/status",
        headers={"Authorization": f"token {token}"},
        timeout=10,
    )
    assert status.status_code == 200

    assert user.api("DELETE", f"/users/{USER}/server").status_code in {202, 204}
    wait_for(lambda: server_of(user) is None, 60, "the stop")
    browser.visit("/hub/home")
    page.click("#stellars-manage-volumes")
    boxes = page.locator("#stellars-volumes-list input[type=checkbox]")
    boxes.first.wait_for()
    names = [boxes.nth(i).get_attribute("data-volume") for i in range(boxes.count())]
    assert names == [f"jupyterlab-{ESCAPED}_{label}" for label in ("home", "workspace", "cache")]
    assert page.locator("#stellars-volumes-confirm").is_disabled()
    page.check("#stellars-volume-cache")
    browser.snap("volumes-dialog")
    page.click("#stellars-volumes-confirm")
    message = page.locator("#stellars-volumes-message")
    message.wait_for(state="visible")
    assert message.inner_text() == "Reset 1 of 1 volume(s)."
    outcome = page.locator("#stellars-volume-cache + label [data-outcome]")
    assert outcome.get_attribute("data-outcome") == "removed"
    page.evaluate("document.documentElement.setAttribute('data-bs-theme', 'dark')")
    browser.snap("volumes-dialog-dark")
    remaining = {v.name for v in docker_client.volumes.list(filters={"name": ESCAPED})}
    assert remaining == {f"jupyterlab-{ESCAPED}_home", f"jupyterlab-{ESCAPED}_workspace"}
