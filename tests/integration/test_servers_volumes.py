"""Servers and volumes in Docker: deploy/jupyterhub_config.py in a real JupyterHub whose
DockerSpawner starts the project's lab image on the engine, checked with `docker inspect` and
`docker volume ls`:

- a restart keeps the container and answers only once the lab serves again, through the proxy,
  although the engine gave the container a new published port; it keeps the same volumes
  mounted (`docker inspect`), and files written on them before it are read back after it
  through the restarted lab's contents API, and from each volume by another container;
- the Docker-access groups mount the socket and make the container privileged, and leaving
  them takes both away at the next spawn (spawner objects outlive spawns);
- GPU auto-detection on an engine without NVIDIA's runtime turns GPUs off, says why on the
  settings page, and spawns get no device request;
- branding reaches the lab: icon URLs a browser can load, the configured favicon in the lab's
  tab through a proxy route for that one file, also after a hub restart;
- volumes are named as DockerSpawner names them, marked with their owner, listed, and reset;
  a deleted or renamed user's volumes are orphaned, listed, never mounted for a new user of the
  same name, and removed by an admin (or at once under the delete policy).

Every container and volume the module creates carries its random tag in the name and is
removed at the end, the shared volume too unless it existed before.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
import requests
from tooling.run import gateway

from tests.backends.hub_helpers import wait_for
from tests.backends.platform import (
    ADMIN_PASSWORD,
    DEPLOY_CONFIG,
    HubClient,
    platform_env,
    signed_up_user,
    start_platform,
)
from tests.backends.processes import free_port
from tests.original_api import missing_original_fields

pytestmark = pytest.mark.real

TAG = secrets.token_hex(3)
ADMIN = f"adm{TAG}"
ALICE = f"alice{TAG}"
BOB = f"bob{TAG}"
CAROL = f"carol{TAG}"
ERIN = f"erin{TAG}"
SHARED_VOLUME = "jupyterhub_shared"
LABELS = ("home", "workspace", "cache")
OWNER_LABEL = "org.stellars-hub.owner"
FAVICON = b"\x00\x00\x01\x00stellars-test-favicon"
MAIN_ICON = b"<svg xmlns='http://www.w3.org/2000/svg'><title>main</title></svg>"
SPLASH_URL = "https://cdn.example.org/splash.svg"


def volume_names(user: str) -> dict[str, str]:
    return {label: f"jupyterlab-{user}_{label}" for label in LABELS}


@pytest.fixture(scope="module")
def engine_cleanup(docker_client):
    """Remove this module's containers and volumes (and the shared volume if it is new)."""
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


class Site:
    """The module's hub (restartable), its data directory and its people."""

    def __init__(self, factory: Any, tmp: Path, env: dict[str, str]) -> None:
        self.factory = factory
        self.tmp = tmp
        self.env = env
        self.hub = factory(DEPLOY_CONFIG, env, workdir=tmp / "hub")
        self.admin = HubClient(self.hub.public_url)
        self.admin.login(ADMIN, ADMIN_PASSWORD)

    @property
    def url(self) -> str:
        return self.hub.public_url

    def restart_hub(self) -> None:
        self.hub.stop()
        self.hub = self.factory(DEPLOY_CONFIG, self.env, workdir=self.tmp / "hub")
        self.admin = HubClient(self.hub.public_url)
        self.admin.login(ADMIN, ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def site(jupyterhub_factory_module, tmp_path_factory, docker_client, lab_image, tiny_image,
         engine_cleanup) -> Site:  # fmt: skip
    tmp = tmp_path_factory.mktemp("servers")
    brand = tmp / "brand"
    brand.mkdir()
    (brand / "favicon.ico").write_bytes(FAVICON)
    (brand / "main.svg").write_bytes(MAIN_ICON)
    bridge = gateway(docker_client, "bridge")
    assert bridge, "the default bridge network has no gateway"
    env = platform_env(
        tmp / "data",
        JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
        JUPYTERHUB_ADMIN=ADMIN,
        STELLARS_SPAWNER="docker",
        JUPYTERHUB_NOTEBOOK_IMAGE=lab_image,
        JUPYTERHUB_HUB_BIND_URL=f"http://{bridge}:{free_port(bridge)}",
        # Auto-detection with an image the engine has, on an engine without NVIDIA's runtime.
        JUPYTERHUB_GPU_ENABLED="2",
        JUPYTERHUB_NVIDIA_IMAGE=tiny_image,
        JUPYTERHUB_FAVICON_URI=f"file://{brand / 'favicon.ico'}",
        JUPYTERHUB_LAB_MAIN_ICON_URI=f"file://{brand / 'main.svg'}",
        JUPYTERHUB_LAB_SPLASH_ICON_URI=SPLASH_URL,
    )
    return Site(jupyterhub_factory_module, tmp, env)


@pytest.fixture(scope="module")
def alice(site) -> HubClient:
    return signed_up_user(site.url, site.admin, ALICE, "alices-password-1")


@pytest.fixture(scope="module")
def bob(site) -> HubClient:
    return signed_up_user(site.url, site.admin, BOB, "bobs-password-1")


def server_of(client: HubClient, user: str) -> dict[str, Any] | None:
    model = client.api("GET", f"/users/{user}").json()
    return (model.get("servers") or {}).get("")


def start(client: HubClient, user: str, timeout: float = 120) -> None:
    answer = client.api("POST", f"/users/{user}/server")
    assert answer.status_code in {201, 202}, answer.text
    wait_for(lambda: (server_of(client, user) or {}).get("ready"), timeout, f"{user} ready")


def stop(client: HubClient, user: str) -> None:
    answer = client.api("DELETE", f"/users/{user}/server")
    assert answer.status_code in {202, 204}, answer.text
    wait_for(lambda: server_of(client, user) is None, 60, f"{user} stopped")


def container(docker_client, user: str):
    return docker_client.containers.get(f"jupyterlab-{user}")


def lab_get(site: Site, user: str, path: str, token: str) -> requests.Response:
    return requests.get(
        f"{site.url}/user/{user}/{path}",
        headers={"Authorization": f"token {token}"},
        allow_redirects=False,
        timeout=30,
    )


def lab_contents(
    site: Site, user: str, path: str, token: str, *, put: str | None = None
) -> requests.Response:
    """JupyterLab's contents API of the user's server, through the proxy."""
    body = None if put is None else {"type": "file", "format": "text", "content": put}
    return requests.request(
        "GET" if put is None else "PUT",
        f"{site.url}/user/{user}/api/contents/{path}",
        headers={"Authorization": f"token {token}"},
        json=body,
        allow_redirects=False,
        timeout=30,
    )


def mounted_volumes(attrs: dict[str, Any]) -> dict[str, str]:
    """volume name -> mount point of a container, as `docker inspect` shows its mounts."""
    return {m["Name"]: m["Destination"] for m in attrs["Mounts"] if m["Type"] == "volume"}


def read_on_volume(docker_client, image: str, volume: str, path: str) -> str:
    """A file as it lies on the named volume: read by a throwaway container that mounts it."""
    output = docker_client.containers.run(
        image,
        ["cat", f"/volume/{path}"],
        volumes={volume: {"bind": "/volume", "mode": "ro"}},
        name=f"reader{TAG}-{secrets.token_hex(3)}",
        network_disabled=True,
        remove=True,
    )
    return output.decode()


def engine_volumes(docker_client, user: str) -> dict[str, dict[str, Any]]:
    """The engine's own listing (`docker volume ls`) of the user's volumes."""
    return {
        volume.name: volume.attrs
        for volume in docker_client.volumes.list(filters={"name": f"jupyterlab-{user}_"})
    }


class TestARunningServer:
    def test_a_restart_keeps_the_container_and_answers_once_the_lab_serves(
        self, site, alice, docker_client
    ):
        start(alice, ALICE)
        before = container(docker_client, ALICE)
        port_before = before.attrs["NetworkSettings"]["Ports"]["8888/tcp"][0]["HostPort"]
        token = alice.new_token(ALICE, [f"access:servers!server={ALICE}/"])
        answer = alice.api("POST", f"/users/{ALICE}/restart-server")
        assert answer.status_code == 200, answer.text
        # No waiting here: the answer came once the lab served, at its new address.
        status = lab_get(site, ALICE, "api/status", token)
        assert status.status_code == 200, status.text
        after = container(docker_client, ALICE)
        assert after.id == before.id
        assert after.attrs["State"]["StartedAt"] != before.attrs["State"]["StartedAt"]
        port_after = after.attrs["NetworkSettings"]["Ports"]["8888/tcp"][0]["HostPort"]
        assert answer.json()["moved"] is (port_after != port_before)
        assert answer.json()["message"].endswith("answers again.")
        assert missing_original_fields("POST /api/users/{u}/restart-server", answer.json()) == []

    def test_home_page_visits_during_a_restart_do_not_end_the_server(
        self, site, alice, docker_client
    ):
        # Each visit to /hub/home polls the spawner and, on an exit, JupyterHub stops the
        # server and removes its container: a poll landing while the container is down for its
        # restart must see a running server.
        if not (server_of(alice, ALICE) or {}).get("ready"):
            start(alice, ALICE)  # also when run on its own
        before = container(docker_client, ALICE)
        visitor = requests.Session()
        visitor.cookies.update(alice.session.cookies)
        finished = threading.Event()
        visits: list[int] = []

        def visit_home() -> None:
            while not finished.is_set():
                page = visitor.get(alice.url("/home"), timeout=30, allow_redirects=False)
                visits.append(page.status_code)

        visiting = threading.Thread(target=visit_home)
        visiting.start()
        try:
            answer = alice.api("POST", f"/users/{ALICE}/restart-server")
        finally:
            finished.set()
            visiting.join()
        assert answer.status_code == 200, answer.text
        assert len(visits) >= 3 and set(visits) == {200}
        assert (server_of(alice, ALICE) or {}).get("ready")
        assert container(docker_client, ALICE).id == before.id

    def test_a_restart_keeps_the_volumes_and_the_data_on_them(
        self, site, alice, docker_client, tiny_image
    ):
        if not (server_of(alice, ALICE) or {}).get("ready"):
            start(alice, ALICE)  # also when run on its own
        names = volume_names(ALICE)
        mounts = {
            names["home"]: "/home/jovyan",
            names["workspace"]: "/home/jovyan/work",
            names["cache"]: "/home/jovyan/.cache",
        }
        before = container(docker_client, ALICE)
        assert {k: v for k, v in mounted_volumes(before.attrs).items() if k in mounts} == mounts
        token = alice.new_token(ALICE, [f"access:servers!server={ALICE}/"])
        note = f"written before the restart {TAG}\n"
        # On the home volume through the lab itself; on the other two as the lab's user.
        written = lab_contents(site, ALICE, "kept.txt", token, put=note)
        assert written.status_code in {200, 201}, written.text
        for path in ("/home/jovyan/work/kept.txt", "/home/jovyan/.cache/kept.txt"):
            wrote = before.exec_run(["sh", "-c", f"printf %s '{note}' > {path}"], user="jovyan")
            assert wrote.exit_code == 0, wrote.output
        # The lab's file is on the home volume itself (the engine's view, not the lab's).
        home = before.exec_run(["cat", "/home/jovyan/kept.txt"], user="jovyan")
        assert (home.exit_code, home.output.decode()) == (0, note)

        answer = alice.api("POST", f"/users/{ALICE}/restart-server")
        assert answer.status_code == 200, answer.text

        after = container(docker_client, ALICE)
        assert after.id == before.id
        assert after.attrs["State"]["StartedAt"] != before.attrs["State"]["StartedAt"]
        assert mounted_volumes(after.attrs) == mounted_volumes(before.attrs)
        # The engine never removes it by itself (dockerd < 23 may, during a restart); the
        # spawner does, on stop (TestDockerAccessByGroup).
        assert after.attrs["HostConfig"]["AutoRemove"] is False
        # Read back through the restarted lab, through the proxy, at once.
        for path in ("kept.txt", "work/kept.txt"):
            read = lab_contents(site, ALICE, path, token)
            assert read.status_code == 200, read.text
            assert read.json()["content"] == note
        cached = after.exec_run(["cat", "/home/jovyan/.cache/kept.txt"], user="jovyan")
        assert (cached.exit_code, cached.output.decode()) == (0, note)
        # On the volumes themselves, not in the container's own layer (which a restart in place
        # keeps too): another container mounting each volume by its name reads the file.
        for name in names.values():
            assert read_on_volume(docker_client, tiny_image, name, "kept.txt") == note
        assert set(engine_volumes(docker_client, ALICE)) == set(names.values())

    def test_volumes_cannot_be_reset_while_the_server_runs(self, alice):
        answer = alice.api("DELETE", f"/users/{ALICE}/manage-volumes", json={"volumes": ["cache"]})
        assert answer.status_code == 409
        assert "Stop the server" in answer.json()["message"]

    def test_another_user_may_not_restart_it(self, bob):
        answer = bob.api("POST", f"/users/{ALICE}/restart-server")
        assert answer.status_code == 403

    def test_no_gpu_is_claimed_and_the_settings_say_why(self, site, docker_client):
        attrs = container(docker_client, ALICE).attrs
        assert not attrs["HostConfig"].get("DeviceRequests")
        environment = dict(item.split("=", 1) for item in attrs["Config"]["Env"])
        assert environment["ENABLE_GPU_SUPPORT"] == "0"
        assert environment["NVIDIA_DETECTED"] == "0"
        gpu = site.admin.api("GET", "/settings").json()["facts"]["GPU"]
        assert gpu.startswith("off: no GPU detected: "), gpu
        assert "runtime" in gpu  # the engine's own reason: it has no nvidia runtime
        assert "off: no GPU detected" in site.admin.page("/settings").text
        assert "GPU decision: no GPU detected" in site.hub.log_path.read_text()

    def test_the_lab_gets_icon_urls_a_browser_can_load(self, site, docker_client):
        attrs = container(docker_client, ALICE).attrs
        environment = dict(item.split("=", 1) for item in attrs["Config"]["Env"])
        main = environment["JUPYTERLAB_MAIN_ICON_URI"]
        assert main == "/hub/stellars/branding/stellars-lab-main-icon.svg"
        assert requests.get(site.url + main, timeout=10).content == MAIN_ICON
        assert environment["JUPYTERLAB_SPLASH_ICON_URI"] == SPLASH_URL

    def test_the_labs_tab_shows_the_configured_favicon_and_keeps_its_busy_icons(self, site, alice):
        token = alice.new_token(ALICE, [f"access:servers!server={ALICE}/"])
        icon = lab_get(site, ALICE, "static/favicons/favicon.ico", token)
        assert icon.status_code == 200
        assert icon.content == FAVICON
        busy = lab_get(site, ALICE, "static/favicons/favicon-busy-1.ico", token)
        assert busy.status_code == 200  # JupyterLab's own, not a redirect (loop)
        assert busy.content != FAVICON
        hub_page = site.admin.page("/home").text
        assert 'href="/hub/stellars/branding/stellars-favicon.ico"' in hub_page

    def test_the_servers_volumes_are_marked_with_their_owner(self, docker_client):
        found = engine_volumes(docker_client, ALICE)
        assert set(found) == set(volume_names(ALICE).values())
        owners = {attrs["Labels"][OWNER_LABEL] for attrs in found.values()}
        assert len(owners) == 1 and owners.pop().startswith("user-")

    def test_the_shared_volume_is_read_only_by_default_and_an_admin_fills_it(
        self, site, alice, docker_client, tiny_image
    ):
        # The attack (security review L2): every lab runs as uid 1000, so with /mnt/shared
        # writable any user deletes or changes what the others keep there.
        if not (server_of(alice, ALICE) or {}).get("ready"):
            start(alice, ALICE)  # also when run on its own
        lab = container(docker_client, ALICE)
        shared = [m for m in lab.attrs["Mounts"] if m.get("Name") == SHARED_VOLUME]
        assert [(m["Type"], m["Destination"], m["RW"]) for m in shared] == [
            ("volume", "/mnt/shared", False)
        ]
        note = f"shared{TAG}"
        wrote = lab.exec_run(["sh", "-c", f"echo x > /mnt/shared/{note}"], user="jovyan")
        assert wrote.exit_code != 0, wrote.output
        assert b"Read-only file system" in wrote.output
        # The documented way to fill it: a container of the admin's that mounts it writable.
        docker_client.containers.run(
            tiny_image,
            ["sh", "-c", f"echo {note} > /mnt/shared/{note}"],
            volumes={SHARED_VOLUME: {"bind": "/mnt/shared", "mode": "rw"}},
            name=f"filler{TAG}",
            network_disabled=True,
            remove=True,
        )
        try:
            read = lab.exec_run(["cat", f"/mnt/shared/{note}"], user="jovyan")
            assert (read.exit_code, read.output.decode()) == (0, f"{note}\n")
        finally:
            docker_client.containers.run(
                tiny_image,
                ["rm", "-f", f"/mnt/shared/{note}"],
                volumes={SHARED_VOLUME: {"bind": "/mnt/shared", "mode": "rw"}},
                name=f"cleaner{TAG}",
                network_disabled=True,
                remove=True,
            )


class TestDockerAccessByGroup:
    def test_joining_and_leaving_the_groups_changes_the_next_spawn(self, site, docker_client):
        admin = site.admin
        stop(admin, ALICE)
        with pytest.raises(docker.errors.NotFound):  # the spawner removed it on stop
            container(docker_client, ALICE)
        for group in ("docker-sock", "docker-privileged"):
            joined = admin.api("POST", f"/groups/{group}/users", json={"users": [ALICE]})
            assert joined.status_code == 200, joined.text
        start(admin, ALICE)
        host = container(docker_client, ALICE).attrs["HostConfig"]
        assert host["Privileged"] is True
        assert "/var/run/docker.sock:/var/run/docker.sock:rw" in host["Binds"]
        stop(admin, ALICE)
        for group in ("docker-sock", "docker-privileged"):
            left = admin.api("DELETE", f"/groups/{group}/users", json={"users": [ALICE]})
            assert left.status_code == 200, left.text
        start(admin, ALICE)
        host = container(docker_client, ALICE).attrs["HostConfig"]
        assert host["Privileged"] is False
        assert not any("docker.sock" in bind for bind in host["Binds"])

    def test_a_restart_in_place_never_keeps_a_grant_the_user_lost(self, site, alice, docker_client):
        # The attack (security review L6): alice leaves docker-sock while her server runs with
        # the socket; a restart in place would keep the container, and the socket, as it was.
        admin = site.admin
        stop(admin, ALICE)
        joined = admin.api("POST", "/groups/docker-sock/users", json={"users": [ALICE]})
        assert joined.status_code == 200, joined.text
        start(admin, ALICE)
        before = container(docker_client, ALICE).attrs
        assert "/var/run/docker.sock:/var/run/docker.sock:rw" in before["HostConfig"]["Binds"]
        left = admin.api("DELETE", "/groups/docker-sock/users", json={"users": [ALICE]})
        assert left.status_code == 200, left.text

        answer = alice.api("POST", f"/users/{ALICE}/restart-server")
        assert answer.status_code == 409, answer.text
        assert answer.json()["message"] == (
            "Your Docker access changed since this server started (the Docker socket was "
            "taken away): stop the server and start it again to apply it."
        )
        after = container(docker_client, ALICE).attrs
        assert after["Id"] == before["Id"]  # untouched: not restarted, not recreated
        assert after["State"]["StartedAt"] == before["State"]["StartedAt"]
        assert (server_of(admin, ALICE) or {}).get("ready")
        # A stop and start applies the current grants.
        stop(alice, ALICE)
        start(alice, ALICE)
        host = container(docker_client, ALICE).attrs["HostConfig"]
        assert not any("docker.sock" in bind for bind in host["Binds"])
        restarted = alice.api("POST", f"/users/{ALICE}/restart-server")
        assert restarted.status_code == 200, restarted.text


class TestVolumes:
    def test_a_stopped_users_volumes_are_listed_under_the_engines_names(
        self, site, alice, docker_client
    ):
        stop(alice, ALICE)

        def listed() -> dict[str, Any] | None:
            body = alice.api("GET", f"/users/{ALICE}/manage-volumes").json()
            return body if all(v["exists"] for v in body["volumes"]) else None

        body = wait_for(listed, 60, "volumes measured")
        assert body["server_active"] is False
        assert {v["label"]: v["name"] for v in body["volumes"]} == volume_names(ALICE)
        assert {v["name"] for v in body["volumes"]} == set(engine_volumes(docker_client, ALICE))
        assert {v["mount_point"] for v in body["volumes"]} == {
            "/home/jovyan",
            "/home/jovyan/work",
            "/home/jovyan/.cache",
        }

    def test_a_reset_removes_exactly_the_chosen_volumes(self, alice, docker_client):
        answer = alice.api("DELETE", f"/users/{ALICE}/manage-volumes", json={"volumes": ["cache"]})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["reset_volumes"] == ["cache"]
        assert body["failed_volumes"] == []
        assert set(engine_volumes(docker_client, ALICE)) == {
            volume_names(ALICE)["home"],
            volume_names(ALICE)["workspace"],
        }
        again = alice.api("DELETE", f"/users/{ALICE}/manage-volumes", json={"volumes": ["cache"]})
        assert again.json()["failed_volumes"] == [
            {"volume": "cache", "name": volume_names(ALICE)["cache"], "reason": "not found"}
        ]
        assert again.json()["message"] == "Reset 0 of 1 volume(s); cache: not found."


def orphaned(site: Site) -> dict[str, dict[str, Any]]:
    body = site.admin.api("GET", "/admin/orphaned-volumes").json()
    return {orphan["name"]: orphan for orphan in body["orphaned"]}


class TestOrphanedVolumes:
    """The default policy, keep: a former user's volumes stay, listed, and nobody gets them."""

    def test_a_deleted_users_volumes_are_listed_as_orphaned(self, site, docker_client):
        admin = site.admin
        assert admin.api("POST", f"/users/{CAROL}", json={}).status_code == 201
        start(admin, CAROL)
        stop(admin, CAROL)
        assert admin.api("DELETE", f"/users/{CAROL}").status_code == 204
        names = set(volume_names(CAROL).values())
        found = wait_for(lambda: names <= set(orphaned(site)) and orphaned(site), 60, "orphans")
        assert {found[name]["former_username"] for name in names} == {CAROL}
        assert set(engine_volumes(docker_client, CAROL)) == names  # kept

    def test_a_new_user_of_that_name_cannot_start_on_them(self, site, docker_client):
        admin = site.admin
        assert admin.api("POST", f"/users/{CAROL}", json={}).status_code == 201
        names = set(volume_names(CAROL).values())
        assert {orphaned(site)[name]["reason"] for name in names} == {
            f"left by an earlier user named {CAROL!r}"
        }
        answer = admin.api("POST", f"/users/{CAROL}/server")
        assert answer.status_code == 409, answer.text
        assert "earlier user of the same name" in answer.json()["message"]
        assert server_of(admin, CAROL) is None
        with pytest.raises(docker.errors.NotFound):
            container(docker_client, CAROL)

    def test_the_new_user_can_neither_reset_them_nor_see_their_sizes_as_hers(
        self, site, docker_client
    ):
        # The attack (security review M3): the new carol, refused a spawn onto the former
        # carol's volumes, resets "her" volumes and so deletes the former carol's data.
        before = engine_volumes(docker_client, CAROL)
        names = volume_names(CAROL)
        assert set(before) == set(names.values())
        carol = HubClient(site.url, token=site.admin.new_token(CAROL))  # acting for herself
        for caller in (carol, site.admin):  # the admin takes the orphan route, not this one
            answer = caller.api(
                "DELETE", f"/users/{CAROL}/manage-volumes", json={"volumes": list(LABELS)}
            )
            assert answer.status_code == 409, answer.text
            message = answer.json()["message"]
            assert all(name in message for name in names.values()), message
            assert "earlier user of the same name" in message
            assert "Orphaned volumes" in message
        assert engine_volumes(docker_client, CAROL) == before  # all there, labels unchanged

        listed = carol.api("GET", f"/users/{CAROL}/manage-volumes")
        assert listed.status_code == 200, listed.text
        volumes = listed.json()["volumes"]
        shown = {(v["label"], v["exists"], v["owned"], v["size_bytes"]) for v in volumes}
        assert shown == {(label, True, False, None) for label in LABELS}

    def test_an_admin_deletes_them_and_the_new_user_starts_on_fresh_volumes(
        self, site, docker_client
    ):
        admin = site.admin
        old_owner = {
            a["Labels"][OWNER_LABEL] for a in engine_volumes(docker_client, CAROL).values()
        }
        names = sorted(volume_names(CAROL).values())
        answer = admin.api("DELETE", "/admin/orphaned-volumes", json={"volumes": names})
        assert answer.status_code == 200, answer.text
        assert sorted(answer.json()["deleted"]) == names
        assert engine_volumes(docker_client, CAROL) == {}
        start(admin, CAROL)
        stop(admin, CAROL)
        new_owner = {
            a["Labels"][OWNER_LABEL] for a in engine_volumes(docker_client, CAROL).values()
        }
        assert len(new_owner) == 1 and new_owner != old_owner

    def test_a_renamed_users_volumes_are_orphaned_and_theirs_again_after_renaming_back(self, site):
        admin = site.admin
        renamed = f"{CAROL}x"
        names = set(volume_names(CAROL).values())
        assert admin.api("PATCH", f"/users/{CAROL}", json={"name": renamed}).status_code == 200
        found = wait_for(lambda: names <= set(orphaned(site)) and orphaned(site), 60, "orphans")
        assert {found[name]["reason"] for name in names} == {f"no user is named {CAROL!r}"}
        # The volumes carry the account's mark, not its name: back under that name, they are
        # its own again.
        assert admin.api("PATCH", f"/users/{renamed}", json={"name": CAROL}).status_code == 200
        assert not names & set(orphaned(site))

    def test_an_admin_may_not_delete_volumes_that_a_user_owns(self, site, docker_client):
        names = sorted(volume_names(CAROL).values())
        answer = site.admin.api("DELETE", "/admin/orphaned-volumes", json={"volumes": names})
        assert answer.status_code == 200
        assert answer.json()["deleted"] == []
        assert {r["outcome"] for r in answer.json()["results"]} == {"not orphaned"}
        assert set(engine_volumes(docker_client, CAROL)) == set(names)


def test_the_favicon_route_comes_back_for_a_server_that_survives_a_hub_restart(
    site, alice, docker_client
):
    start(site.admin, ALICE)
    site.restart_hub()
    admin_token = site.admin.new_token(ADMIN, [f"access:servers!server={ALICE}/"])

    def favicon() -> bool:
        answer = lab_get(site, ALICE, "static/favicons/favicon.ico", admin_token)
        return answer.status_code == 200 and answer.content == FAVICON

    wait_for(favicon, 60, "the favicon route of a surviving server")
    stop(site.admin, ALICE)


def test_under_the_delete_policy_a_deleted_users_volumes_go(
    jupyterhub_factory, tmp_path, docker_client, engine_cleanup
):
    hub = start_platform(
        jupyterhub_factory,
        tmp_path,
        {"STELLARS_SPAWNER": "local", "STELLARS_ORPHAN_VOLUMES": "delete"},
    )
    admin = HubClient(hub.public_url)
    admin.login("admin", ADMIN_PASSWORD)
    assert admin.api("POST", f"/users/{ERIN}", json={}).status_code == 201
    time.sleep(1.1)  # the engine stamps creation to the second: after the account existed
    for name in volume_names(ERIN).values():
        docker_client.volumes.create(name)  # as DockerSpawner makes them: no owner mark
    assert admin.api("DELETE", f"/users/{ERIN}").status_code == 204
    wait_for(lambda: engine_volumes(docker_client, ERIN) == {}, 60, "volumes removed")


def test_with_the_engine_down_a_restart_and_a_reset_answer_503(jupyterhub_factory, tmp_path):
    """A hub whose Docker engine does not answer starts, and says so per request."""
    hub = start_platform(
        jupyterhub_factory,
        tmp_path,
        {"STELLARS_SPAWNER": "local", "DOCKER_HOST": f"unix://{tmp_path / 'no-engine.sock'}"},
    )
    admin = HubClient(hub.public_url)
    admin.login("admin", ADMIN_PASSWORD)
    start(admin, "admin")  # a local process: running, so the restart reaches the engine
    restart = admin.api("POST", "/users/admin/restart-server")
    assert restart.status_code == 503, restart.text
    assert "Docker engine" in restart.json()["message"]
    stop(admin, "admin")
    reset = admin.api("DELETE", "/users/admin/manage-volumes", json={"volumes": ["cache"]})
    assert reset.status_code == 503, reset.text
    assert "Docker engine" in reset.json()["message"]


class TestUsernamesDockerCannotName:
    """A username whose container or volume names would not fit Docker's limits (255
    characters for a volume, after DockerSpawner's escaping) is refused where it is created,
    with a 400 that names the limit; one that fits gets its lab, however long."""

    def test_a_long_name_that_fits_gets_its_lab(self, site, docker_client):
        for name in (f"s{TAG}".ljust(64, "s"), f"l{TAG}".ljust(200, "l")):
            created = site.admin.api("POST", "/users", json={"usernames": [name]})
            assert created.status_code == 201, created.text
        name = f"l{TAG}".ljust(200, "l")
        start(site.admin, name)
        assert docker_client.containers.get(f"jupyterlab-{name}").status == "running"
        stop(site.admin, name)

    @pytest.mark.parametrize(
        "name",
        [
            f"x{TAG}".ljust(300, "x"),  # 300 plain characters
            "é" * 64,  # 64 characters, 6 each once escaped
            "日本語" * 22,  # 66 CJK characters, 9 each once escaped
            "🙂" * 64,
        ],
    )
    def test_a_name_docker_cannot_take_is_refused_naming_the_limit(self, site, name):
        answer = site.admin.api("POST", "/users", json={"usernames": [name]})
        assert answer.status_code == 400, answer.text
        message = answer.json()["message"]
        assert message.startswith("The username is too long for Docker")
        assert "at most 255" in message
        assert name not in message  # never the whole name back
        listed = {user["name"] for user in site.admin.api("GET", "/users").json()}
        assert name not in listed

    def test_a_sign_up_under_such_a_name_is_refused_naming_the_limit(self, site):
        visitor = HubClient(site.url)
        answer = visitor.signup(f"y{TAG}".ljust(300, "y"), "a-good-long-password")
        assert answer.status_code == 400
        assert "too long for Docker" in answer.text and "255" in answer.text
