"""Group policies on the Docker engine: deploy/jupyterhub_config.py in a real JupyterHub whose
DockerSpawner starts the project's lab image, checked with `docker inspect`:

- two users in different groups get what their policies say: the image, the environment (under
  the platform's own), team volumes read-only or read-write, the Docker socket;
- a user who leaves a group gets the change at the next start, nothing kept from before (the
  spawner object is the same one);
- a user whose groups allow several images starts the one they ask for, and an image they may
  not have is refused with a 400 naming the ones they may;
- a restart in place is refused once the socket a policy granted is taken away.

Every container, volume and image tag the module creates carries its random tag and is removed
at the end.
"""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path
from typing import Any

import docker.errors
import pytest
from tooling.run import gateway

from tests.backends.hub_helpers import wait_for
from tests.backends.platform import ADMIN_PASSWORD, DEPLOY_CONFIG, HubClient, platform_env
from tests.backends.processes import free_port

pytestmark = pytest.mark.real

TAG = secrets.token_hex(3)
ADMIN = f"adm{TAG}"
ALICE = f"alice{TAG}"
BOB = f"bob{TAG}"
TEAM = f"team{TAG}"
HANDBOOK = f"handbook{TAG}"
SECOND_IMAGE = f"stellars-test-policy-lab:{TAG}"
SOCKET = "/var/run/docker.sock"


@pytest.fixture(scope="module")
def second_image(docker_client, lab_image):
    """The lab image under a second name: an image a policy may give, that starts as fast."""
    docker_client.images.get(lab_image).tag(SECOND_IMAGE)
    yield SECOND_IMAGE
    with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.APIError):
        docker_client.images.remove(SECOND_IMAGE)


@pytest.fixture(scope="module")
def engine_cleanup(docker_client):
    yield
    for container in docker_client.containers.list(all=True, filters={"name": TAG}):
        container.remove(force=True)
    for volume in docker_client.volumes.list(filters={"name": TAG}):
        if TAG in volume.name:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                volume.remove(force=True)


class Site:
    def __init__(self, factory: Any, tmp: Path, env: dict[str, str]) -> None:
        self.hub = factory(DEPLOY_CONFIG, env, workdir=tmp / "hub")
        self.admin = HubClient(self.hub.public_url)
        self.admin.login(ADMIN, ADMIN_PASSWORD)

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.admin.api(method, path, **kwargs)

    def server(self, user: str) -> dict[str, Any] | None:
        return (self.api("GET", f"/users/{user}").json().get("servers") or {}).get("")

    def start(self, user: str, options: dict[str, Any] | None = None) -> None:
        answer = self.api("POST", f"/users/{user}/server", json=options)
        assert answer.status_code in {201, 202}, answer.text
        wait_for(lambda: (self.server(user) or {}).get("ready"), 180, f"{user} ready")

    def stop(self, user: str) -> None:
        answer = self.api("DELETE", f"/users/{user}/server")
        assert answer.status_code in {202, 204}, answer.text
        wait_for(lambda: self.server(user) is None, 60, f"{user} stopped")

    def groups(self, user: str, *, join: tuple[str, ...] = (), leave: tuple[str, ...] = ()):
        for group in join:
            answer = self.api("POST", f"/groups/{group}/users", json={"users": [user]})
            assert answer.status_code == 200, answer.text
        for group in leave:
            answer = self.api("DELETE", f"/groups/{group}/users", json={"users": [user]})
            assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def site(jupyterhub_factory_module, tmp_path_factory, docker_client, lab_image, second_image,
         engine_cleanup) -> Site:  # fmt: skip
    tmp = tmp_path_factory.mktemp("policies-docker")
    bridge = gateway(docker_client, "bridge")
    assert bridge, "the default bridge network has no gateway"
    env = platform_env(
        tmp / "data",
        JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
        JUPYTERHUB_ADMIN=ADMIN,
        STELLARS_SPAWNER="docker",
        JUPYTERHUB_NOTEBOOK_IMAGE=lab_image,
        JUPYTERHUB_HUB_BIND_URL=f"http://{bridge}:{free_port(bridge)}",
        STELLARS_ALLOWED_IMAGES=f"{lab_image},{second_image}",
    )
    made = Site(jupyterhub_factory_module, tmp, env)
    answer = made.api("POST", "/users", json={"usernames": [ALICE, BOB]})
    assert answer.status_code == 201, answer.text
    for group in ("ml", "viz"):
        assert made.api("POST", f"/groups/{group}").status_code == 201
    ml = {
        "images": [second_image],
        "environment": {"TEAM": "ml", "TZ": "Mars/Olympus"},
        "mounts": [{"volume": TEAM, "path": "/mnt/team", "read_only": False}],
        "docker_socket": True,
    }
    viz = {
        "images": [lab_image],
        "environment": {"TEAM": "viz"},
        "mounts": [{"volume": HANDBOOK, "path": "/mnt/handbook", "read_only": True}],
    }
    for group, policy in (("ml", ml), ("viz", viz)):
        answer = made.api("PUT", f"/policies/{group}", json=policy)
        assert answer.status_code == 200, answer.text
    made.groups(ALICE, join=("ml",))
    made.groups(BOB, join=("viz",))
    return made


def inspect(docker_client, user: str) -> dict[str, Any]:
    return docker_client.containers.get(f"jupyterlab-{user}").attrs


def environment(attrs: dict[str, Any]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in attrs["Config"]["Env"])


def mounts(attrs: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """mount point -> (volume name or host path, writable), as `docker inspect` shows them."""
    return {m["Destination"]: (m.get("Name") or m["Source"], m["RW"]) for m in attrs["Mounts"]}


def test_two_users_in_different_groups_get_what_their_policies_say(
    site, docker_client, lab_image, second_image
):
    site.start(ALICE)
    site.start(BOB)
    alice, bob = inspect(docker_client, ALICE), inspect(docker_client, BOB)
    assert alice["Config"]["Image"] == second_image
    assert bob["Config"]["Image"] == lab_image
    alice_env, bob_env = environment(alice), environment(bob)
    assert (alice_env["TEAM"], bob_env["TEAM"]) == ("ml", "viz")
    assert alice_env["JUPYTERHUB_USER"] == ALICE  # the platform's and JupyterHub's stay
    assert "TZ" not in bob_env and alice_env["TZ"] == "Mars/Olympus"
    assert mounts(alice)["/mnt/team"] == (TEAM, True)
    assert "/mnt/handbook" not in mounts(alice)
    assert mounts(bob)["/mnt/handbook"] == (HANDBOOK, False)
    assert "/mnt/team" not in mounts(bob)
    assert mounts(alice)[SOCKET] == (SOCKET, True)
    assert SOCKET not in mounts(bob)
    # The user volumes and the read-only shared volume are the platform's, as before.
    assert mounts(alice)["/mnt/shared"] == ("jupyterhub_shared", False)
    assert mounts(alice)["/home/jovyan"] == (f"jupyterlab-{ALICE}_home", True)


def test_a_restart_in_place_is_refused_once_the_policy_takes_the_socket_away(site):
    policy = site.api("GET", "/policies/ml").json()
    policy.pop("group")
    without = {**policy, "docker_socket": False}
    assert site.api("PUT", "/policies/ml", json=without).status_code == 200
    answer = site.api("POST", f"/users/{ALICE}/restart-server")
    assert answer.status_code == 409
    assert "the Docker socket was taken away" in answer.json()["message"]
    assert site.api("PUT", "/policies/ml", json=policy).status_code == 200


def test_leaving_a_group_changes_the_next_start_and_nothing_is_kept(site, docker_client, lab_image):
    site.stop(ALICE)
    site.groups(ALICE, leave=("ml",))
    site.start(ALICE)
    alice = inspect(docker_client, ALICE)
    assert alice["Config"]["Image"] == lab_image
    assert "TEAM" not in environment(alice)
    assert "/mnt/team" not in mounts(alice) and SOCKET not in mounts(alice)
    assert site.api("GET", f"/users/{ALICE}/resources").json()["sources"] == {}
    site.stop(ALICE)


def test_a_member_of_groups_allowing_several_images_starts_the_one_asked_for(
    site, docker_client, lab_image, second_image
):
    site.groups(ALICE, join=("ml", "viz"))
    refused = site.api("POST", f"/users/{ALICE}/server", json={"image": "evil:latest"})
    assert refused.status_code == 400
    message = refused.json()["message"]
    assert "'evil:latest' is not one your groups allow" in message
    assert f"choose one of: {second_image}, {lab_image}" in message
    wait_for(lambda: site.server(ALICE) is None, 60, "the refused start to settle")
    site.start(ALICE, {"image": lab_image})
    alice = inspect(docker_client, ALICE)
    assert alice["Config"]["Image"] == lab_image
    env = environment(alice)
    assert env["TEAM"] == "ml"  # ml is first in the admins' order (made first)
    assert mounts(alice)["/mnt/team"] == (TEAM, True)
    assert mounts(alice)["/mnt/handbook"] == (HANDBOOK, False)
    site.stop(ALICE)
