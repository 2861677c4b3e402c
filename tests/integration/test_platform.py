"""The README's `make run`: deploy/jupyterhub_config.py on its embedded defaults, as tooling/run.py
starts it. On a fresh install the admin signs up (or has the deployer's password), the activity
sampler records the hub's users, and the admin's server starts from the project's lab image in
Docker and answers through the proxy."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sqlite3
import time
from datetime import timedelta

import docker
import docker.errors
import pytest
import requests
from tooling.run import gateway

from stellars.adapters.sql import SqlActivityStore, SqlDatabase
from tests.backends.platform import (
    ADMIN_PASSWORD,
    DEPLOY_CONFIG,
    HubClient,
    platform_env,
    start_platform,
)
from tests.backends.processes import free_port

pytestmark = pytest.mark.real

SIGNUP_PASSWORD = "a-password-of-my-own"


def test_the_admin_logs_in_on_a_fresh_install_with_the_password_file(jupyterhub_factory, tmp_path):
    secret = tmp_path / "admin-password"
    secret.write_text(SIGNUP_PASSWORD + "\n")
    secret.chmod(0o600)
    env = platform_env(
        tmp_path / "data", STELLARS_SPAWNER="local", JUPYTERHUB_ADMIN_PASSWORD_FILE=str(secret)
    )
    hub = jupyterhub_factory(DEPLOY_CONFIG, env, workdir=tmp_path / "hub")
    browser = HubClient(hub.public_url)
    wrong = browser.session.post(
        browser.url("/login"),
        data={"username": "admin", "password": "wrong", "_xsrf": browser.form_xsrf("/login")},
        timeout=10,
    )
    assert "Invalid username or password" in wrong.text
    browser.login("admin", SIGNUP_PASSWORD)
    home = browser.page("/home")
    assert home.status_code == 200
    assert "/hub/admin" in home.text  # the admin's control panel, with the admin link
    # JupyterHub's own SQLite database runs in WAL mode: its commits do not wait for the disk.
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "jupyterhub.sqlite")) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_activity_sampler_records_the_hub_users(jupyterhub_factory, tmp_path):
    hub = start_platform(jupyterhub_factory, tmp_path, {"STELLARS_SPAWNER": "local"})
    database_file = tmp_path / "data" / "stellars.sqlite"

    async def samples_and_users() -> tuple[int, int]:
        database = SqlDatabase.from_url(f"sqlite:///{database_file}")
        try:
            summary = await SqlActivityStore(database, half_life=timedelta(hours=72)).summary()
            return summary.samples, summary.users
        finally:
            database.close()

    deadline = time.monotonic() + 60
    found = (0, 0)
    while time.monotonic() < deadline and found == (0, 0):
        if database_file.exists():
            found = asyncio.run(samples_and_users())
        time.sleep(0.5)
    # The hub creates the configured admin at start; the sampler's first tick records it.
    assert found == (1, 1), hub.log_tail()


SHARED_VOLUME = "jupyterhub_shared"


@pytest.fixture
def admin_name(docker_client):
    """A fresh admin name, so the container and volumes DockerSpawner makes are this test's;
    they are removed at the end (the shared volume too, unless it was there before)."""
    name = f"adm{secrets.token_hex(3)}"
    shared_existed = bool(docker_client.volumes.list(filters={"name": SHARED_VOLUME}))
    yield name
    for container in docker_client.containers.list(all=True, filters={"name": name}):
        container.remove(force=True)
    doomed = docker_client.volumes.list(filters={"name": name})
    if not shared_existed:
        doomed += docker_client.volumes.list(filters={"name": SHARED_VOLUME})
    for volume in doomed:
        with contextlib.suppress(docker.errors.NotFound):
            volume.remove(force=True)


def test_the_admins_server_starts_from_the_lab_image_and_answers_through_the_proxy(
    jupyterhub_factory, tmp_path, docker_client, lab_image, admin_name
):
    bridge = gateway(docker_client, "bridge")
    assert bridge, "the default bridge network has no gateway"
    hub = start_platform(
        jupyterhub_factory,
        tmp_path,
        {
            "JUPYTERHUB_ADMIN": admin_name,
            "STELLARS_SPAWNER": "docker",
            "JUPYTERHUB_NOTEBOOK_IMAGE": lab_image,
            "JUPYTERHUB_HUB_BIND_URL": f"http://{bridge}:{free_port(bridge)}",
        },
    )
    admin = HubClient(hub.public_url)
    admin.login(admin_name, ADMIN_PASSWORD)
    started = admin.api("POST", f"/users/{admin_name}/server")
    assert started.status_code in {201, 202}, started.text
    try:
        deadline = time.monotonic() + 120
        model: dict = {}
        while time.monotonic() < deadline:
            model = admin.api("GET", f"/users/{admin_name}").json()
            server = (model.get("servers") or {}).get("")
            if server and server["ready"]:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"server not ready: {model}\n{hub.log_tail()}")
        token = admin.new_token(admin_name, [f"access:servers!server={admin_name}/"])
        status = requests.get(
            f"{hub.public_url}/user/{admin_name}/api/status",
            headers={"Authorization": f"token {token}"},
            timeout=30,
        )
        assert status.status_code == 200, status.text
        assert "kernels" in status.json()
        # The browser's way in: the hub cookie, then JupyterLab's own OAuth with the hub.
        lab = admin.session.get(f"{hub.public_url}/user/{admin_name}/lab", timeout=60)
        assert lab.status_code == 200
        assert "JupyterLab" in lab.text
        container = docker_client.containers.get(f"jupyterlab-{admin_name}")
        # The very image (by id): other tests may tag it with other names meanwhile.
        assert container.attrs["Config"]["Image"] == lab_image
        assert container.image.id == docker_client.images.get(lab_image).id
        mounts = {m["Name"]: m["Destination"] for m in container.attrs["Mounts"]}
        assert mounts[f"jupyterlab-{admin_name}_home"] == "/home/jovyan"
        assert mounts[SHARED_VOLUME] == "/mnt/shared"
        # The lab keeps Jupyter's own protections: no open CORS, XSRF checks on.
        command = " ".join(container.attrs["Config"]["Cmd"] or [])
        assert "allow_origin" not in command
        assert "disable_check_xsrf" not in command
    finally:
        admin.api("DELETE", f"/users/{admin_name}/server")


def test_the_platform_stops_with_the_hub(jupyterhub_factory, tmp_path):
    hub = start_platform(jupyterhub_factory, tmp_path, {"STELLARS_SPAWNER": "local"})
    deadline = time.monotonic() + 60
    while "Activity sampler started" not in hub.log_path.read_text():
        assert time.monotonic() < deadline, "the sampler did not start"
        time.sleep(0.2)
    hub.stop()  # SIGTERM, as a service manager or Ctrl-C sends it
    log = hub.log_path.read_text()
    assert "stellars: the platform stopped with the hub" in log
    assert "Traceback" not in log
