"""In a real browser, with labs in Docker: a user whose server the kernel's OOM killer took sees
"Your server stopped: ran out of memory (limit 384 MiB)." on the home page, and the API says
the same; the admin's settings page says each lab limit and where it came from (the memory limit
set, CPU and processes derived from the engine's host), and the lab runs under all three.

The OOM killer takes the biggest process; the test makes it take the server itself, as it does
when the server holds the memory, by raising the server's own score (what any process may do to
one of its user's) before allocating past the limit as the lab's user.
"""

from __future__ import annotations

import contextlib
import secrets

import docker.errors
import pytest
import requests
from tooling.run import gateway

from stellars.adapters.docker.engine import host_resources
from stellars.domain.limits import derived_cpu_limit, derived_pids_limit, describe_cores
from tests.backends.hub_helpers import ended_or_removed, wait_for
from tests.backends.platform import ADMIN_PASSWORD, HubClient, signed_up_user, start_platform
from tests.backends.processes import free_port

pytestmark = [pytest.mark.real, pytest.mark.browser]

TAG = secrets.token_hex(3)
USER = f"oona{TAG}"
PASSWORD = "oonas-password-1"
SHARED_VOLUME = "jupyterhub_shared"
SERVER_FIRST = """
import os
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
    except OSError:
        continue
    if any(part.endswith(b"jupyterhub-singleuser") for part in argv[:2]):
        with open(f"/proc/{pid}/oom_score_adj", "w") as score:
            score.write("1000")
        print("marked", pid)
"""
ALLOCATE = 'chunks = [b"x" * (16 * 2**20) for _ in range(64)]\nprint("allocated 1 GiB")\n'


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


def test_the_user_sees_that_the_server_ran_out_of_memory(
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
            "STELLARS_LAB_MEMORY_LIMIT": "384MiB",  # CPU and processes: from the host
        },
    )
    admin = HubClient(hub.public_url)
    admin.login("admin", ADMIN_PASSWORD)
    user = signed_up_user(hub.public_url, admin, USER, PASSWORD)
    assert user.api("POST", f"/users/{USER}/server").status_code in {201, 202}
    wait_for(lambda: (server_of(user) or {}).get("ready"), 180, "the server")
    box = docker_client.containers.get(f"jupyterlab-{USER}")
    host = host_resources(docker_client.info())
    assert host is not None
    limits = box.attrs["HostConfig"]
    assert (limits["Memory"], limits["MemorySwap"]) == (384 * 2**20, 384 * 2**20)
    assert limits["CpuQuota"] == int(derived_cpu_limit(host) * 100_000)
    assert limits["PidsLimit"] == derived_pids_limit(host)

    # The admin's settings page says each limit and where it came from.
    browser = browser_page(hub.public_url)
    browser.log_in("admin", ADMIN_PASSWORD)
    browser.visit("/hub/settings")
    facts = browser.page.locator("#stellars-facts")
    facts.wait_for()

    def fact(label: str) -> str:
        return str(facts.locator("tr", has_text=label).locator("td").inner_text())

    assert fact("Lab memory limit") == "384 MiB (set by the deployer)"
    cores = derived_cpu_limit(host)
    assert fact("Lab CPU limit") == (
        f"{describe_cores(cores)} (derived from the host's {describe_cores(host.cpus)}: all but "
        "one, at least one)"
    )
    assert fact("Lab process limit").startswith(f"{derived_pids_limit(host)} processes (derived")
    browser.snap("settings-lab-limits")

    marked = box.exec_run(["python3", "-c", SERVER_FIRST], user="1000")
    assert marked.exit_code == 0 and marked.output.startswith(b"marked"), marked.output
    with contextlib.suppress(docker.errors.APIError, requests.RequestException):
        box.exec_run(["timeout", "-s", "KILL", "120", "python3", "-c", ALLOCATE], user="1000")
    wait_for(lambda: ended_or_removed(box), 60, "the kill")

    page = browser_page(hub.public_url)
    page.log_in(USER, PASSWORD)  # lands on the home page, whose visit makes the hub look
    page.visit("/hub/home")
    told = page.page.locator("#stellars-last-stop")
    told.wait_for(state="visible", timeout=30_000)
    assert told.get_attribute("data-reason") == "out_of_memory"
    assert told.locator("strong").inner_text() == (
        "Your server stopped: ran out of memory (limit 384 MiB)."
    )
    assert "Your work on disk is kept" in told.inner_text()
    page.snap("home-out-of-memory")
    page.page.evaluate("document.documentElement.setAttribute('data-bs-theme', 'dark')")
    page.snap("home-out-of-memory-dark")
    body = user.api("GET", f"/users/{USER}/last-stop").json()
    assert body["last_stop"]["message"] == "stopped: ran out of memory (limit 384 MiB)"
    assert server_of(user) is None
