"""Storage quotas on the real engine, through a real JupyterHub started from
deploy/jupyterhub_config.py whose DockerSpawner starts the project's lab image:

- who may read a user's storage (`GET /hub/api/users/{user}/storage`), JSON errors, and a group
  policy's quota overriding the platform's;
- a running lab whose user writes past 90 % of the quota on a real volume gets the storage
  warning inside JupyterLab (read back through the notifications extension's own API), once;
- written past the quota, the next start is refused with a 409 that names the usage, the quota
  and the volume reset, and holds no container; the user's `DELETE .../manage-volumes` works
  over the quota, and the start after it succeeds.

The quota is `QUOTA` for everyone (the platform's setting), measured every 10 s (the shortest
period the settings allow). Every container and volume carries the module's random prefix and
is removed at the end.
"""

from __future__ import annotations

import contextlib
import secrets
import time

import docker.errors
import pytest
import requests
from tooling.run import gateway

from tests.backends.platform import ADMIN_PASSWORD, HubClient, signed_up_user, start_platform
from tests.backends.processes import free_port

pytestmark = pytest.mark.real

MIB = 1024 * 1024
QUOTA = 64 * MIB
PREFIX = f"q{secrets.token_hex(2)}"
ANN, BOB, CY = (f"{PREFIX}{name}" for name in ("ann", "bob", "cy"))


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"{what} not seen within {timeout} s")


class Site:
    def __init__(self, factory, tmp, docker_client, lab_image) -> None:
        bridge = gateway(docker_client, "bridge")
        assert bridge, "the default bridge network has no gateway"
        self.docker = docker_client
        env = {
            "STELLARS_SPAWNER": "docker",
            "JUPYTERHUB_NOTEBOOK_IMAGE": lab_image,
            "JUPYTERHUB_HUB_BIND_URL": f"http://{bridge}:{free_port(bridge)}",
            "STELLARS_STORAGE_QUOTA": f"{QUOTA // MIB}MiB",
            "JUPYTERHUB_ACTIVITYMON_VOLUMES_UPDATE_INTERVAL": "10",
            "JUPYTERHUB_GPU_ENABLED": "0",
        }
        self.hub = start_platform(factory, tmp, env)
        self.admin = HubClient(self.hub.public_url)
        self.admin.login("admin", ADMIN_PASSWORD)
        self.users = {
            name: signed_up_user(self.hub.public_url, self.admin, name, f"{name}-password-1")
            for name in (ANN, BOB, CY)
        }

    def client(self, token: str | None = None) -> HubClient:
        return HubClient(self.hub.public_url, token)

    def server(self, name: str) -> dict | None:
        return (self.admin.api("GET", f"/users/{name}").json().get("servers") or {}).get("")

    def start(self, name: str) -> requests.Response:
        return self.users[name].api("POST", f"/users/{name}/server")

    def wait_running(self, name: str) -> None:
        wait_for(lambda: (self.server(name) or {}).get("ready"), 240, f"{name}'s lab")

    def stop(self, name: str) -> None:
        answer = self.users[name].api("DELETE", f"/users/{name}/server")
        assert answer.status_code in {202, 204}, answer.text
        wait_for(lambda: self.server(name) is None, 120, f"{name} stopped")

    def storage(self, name: str) -> dict:
        answer = self.users[name].api("GET", f"/users/{name}/storage")
        assert answer.status_code == 200, answer.text
        return answer.json()

    def in_state(self, name: str, *states: str) -> dict:
        """The storage of `name` once a measurement shows it in one of `states`."""

        def shown() -> dict | None:
            got = self.storage(name)
            return got if got["state"] in states else None

        return wait_for(shown, 120, f"{name}'s storage {' or '.join(states)}")

    def write(self, name: str, size: int, file: str) -> None:
        """`size` bytes written into `file` in the home of `name`'s running lab."""
        lab = self.docker.containers.get(f"jupyterlab-{name}")
        code, output = lab.exec_run(
            ["sh", "-c", f"head -c {size} /dev/urandom > /home/jovyan/{file} && sync"]
        )
        assert code == 0, output

    def notifications(self, name: str, token: str) -> list[dict]:
        answer = requests.get(
            f"{self.hub.public_url}/user/{name}/jupyterlab-notifications-extension/notifications",
            headers={"Authorization": f"token {token}"},
            timeout=30,
        )
        answer.raise_for_status()
        return answer.json()["notifications"]


@pytest.fixture(scope="module")
def site(jupyterhub_factory_module, tmp_path_factory, docker_client, lab_image):
    made = Site(
        jupyterhub_factory_module, tmp_path_factory.mktemp("quotas"), docker_client, lab_image
    )
    yield made
    for name in (ANN, BOB, CY):
        made.admin.api("DELETE", f"/users/{name}/server")
    for container in docker_client.containers.list(all=True, filters={"name": PREFIX}):
        container.remove(force=True)
    for volume in docker_client.volumes.list(filters={"name": PREFIX}):
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            volume.remove(force=True)


def test_a_users_storage_answers_the_user_admins_and_scoped_tokens(site):
    bob, cy = site.users[BOB], site.users[CY]
    path = f"/users/{BOB}/storage"
    anonymous = site.client().api("GET", path)
    assert anonymous.status_code == 403
    assert anonymous.json()["status"] == 403
    assert cy.api("GET", path).status_code == 403  # another user
    got = bob.api("GET", path)
    assert got.status_code == 200
    assert got.json()["quota_bytes"] == QUOTA
    assert got.json()["reset"] == {
        "method": "DELETE",
        "url": f"/hub/api/users/{BOB}/manage-volumes",
    }
    assert site.admin.api("GET", path).status_code == 200
    own = site.client(bob.new_token(BOB, [f"custom:stellars:resources!user={BOB}"]))
    assert own.api("GET", path).status_code == 200
    assert site.client(cy.new_token(CY)).api("GET", path).status_code == 403
    unscoped = site.client(bob.new_token(BOB, [f"read:users!user={BOB}"]))
    refused = unscoped.api("GET", path)
    assert refused.status_code == 403
    assert "custom:stellars:resources" in refused.json()["message"]
    admin_scoped = site.client(site.admin.new_token("admin", ["custom:stellars:resources"]))
    assert admin_scoped.api("GET", path).status_code == 200
    missing = site.admin.api("GET", "/users/nobody-here/storage")
    assert missing.status_code == 404
    assert missing.json() == {"status": 404, "message": "No user named 'nobody-here'"}


def test_a_group_policy_gives_its_members_another_quota(site):
    group = f"{PREFIX}big"
    assert site.admin.api("POST", f"/groups/{group}").status_code == 201
    answer = site.admin.api("PUT", f"/policies/{group}", json={"storage_quota": 4 * QUOTA})
    assert answer.status_code == 200, answer.text
    joined = site.admin.api("POST", f"/groups/{group}/users", json={"users": [CY]})
    assert joined.status_code == 200
    got = site.storage(CY)
    assert (got["quota_bytes"], got["quota_from"]) == (4 * QUOTA, group)
    assert site.storage(BOB)["quota_from"] is None


def test_a_running_lab_is_warned_at_90_percent_once(site):
    assert site.start(ANN).status_code in {201, 202}
    site.wait_running(ANN)
    token = site.users[ANN].new_token(ANN, [f"access:servers!server={ANN}/"])
    base = site.in_state(ANN, "under")
    site.write(ANN, QUOTA * 95 // 100 - base["used_bytes"], "big.bin")
    warned = site.in_state(ANN, "warning")
    assert warned["text"].endswith(f"of {QUOTA // MIB} MiB ({warned['percent']} %)")

    def storage_warnings() -> list[dict]:
        return [
            n
            for n in site.notifications(ANN, token)
            if n["message"].startswith("Storage: your volumes use")
        ]

    [shown] = wait_for(storage_warnings, 120, "the storage warning in the lab")
    assert shown["type"] == "warning"
    assert f"of {QUOTA // MIB} MiB" in shown["message"]
    # The warning pass runs every 30 s: after two more passes, no second warning.
    time.sleep(65)
    assert storage_warnings() == []  # read once above (the extension hands each out once)


def test_over_the_quota_the_next_start_is_a_409_offering_the_reset(site):
    site.write(ANN, QUOTA // 2, "more.bin")
    site.in_state(ANN, "over")
    site.stop(ANN)
    refused = site.start(ANN)
    assert refused.status_code == 409, refused.text
    message = refused.json()["message"]
    assert message.startswith(f"The server of {ANN} cannot start: its volumes use ")
    assert f"more than the storage quota of {QUOTA // MIB} MiB" in message
    assert f"DELETE /hub/api/users/{ANN}/manage-volumes" in message
    assert "Manage volumes on the home page (/hub/home)" in message
    assert site.server(ANN) is None
    with pytest.raises(docker.errors.NotFound):
        site.docker.containers.get(f"jupyterlab-{ANN}")


def test_the_reset_works_over_the_quota_and_the_start_after_it_succeeds(site):
    reset = site.users[ANN].api(
        "DELETE", f"/users/{ANN}/manage-volumes", json={"volumes": ["home"]}
    )
    assert reset.status_code == 200, reset.text
    assert reset.json()["reset_volumes"] == ["home"]
    # At once, before the background measurement: the start measures again itself.
    started = site.start(ANN)
    assert started.status_code in {201, 202}, started.text
    site.wait_running(ANN)
    assert site.in_state(ANN, "under")["used_bytes"] < QUOTA // 10
