"""Spawn progress on the real stack: deploy/jupyterhub_config.py in a real JupyterHub whose
DockerSpawner starts labs on the real engine.

- The progress stream of a real start (`GET /hub/api/users/{name}/server/progress`, JupyterHub's
  own) lists the platform's steps in order (volumes, GPUs, image, container, waiting for
  JupyterLab, serving) with a percentage that only grows, and ends ready only once the lab
  answers HTTP: when the ready event comes, the lab answers through the proxy.
- A lab that never answers fails before JupyterHub's start timeout (15 s here) with the
  platform's reason and its log, and its container is removed.
- A lab whose command exits at once (the tiny image with a command that prints a `<script>` and
  exits 3) fails its start with the platform's reason and the last lines of its log: in the
  start API's answer or the stream's failure event (whichever sees the failure), and in the
  stream's failure event afterwards and on the spawn page visited again, its HTML escaped;
  never a traceback in the hub's log.

Every container, volume and image the module creates carries its random tag and is removed at
the end.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import secrets
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors
import pytest
import requests
from tooling.run import gateway

from tests.backends.hub_helpers import wait_for
from tests.backends.platform import ADMIN_PASSWORD, HubClient, signed_up_user, start_platform
from tests.backends.processes import free_port

pytestmark = pytest.mark.real

TAG = secrets.token_hex(3)
FAILING_REPOSITORY = "stellars-test-failing-lab"
#: What the failing lab prints before it exits 3 (DockerSpawner appends the lab's arguments,
#: which `sh -c` takes as $0, $1, ...). It waits a little first, so that a reader of the
#: stream joins while the start is under way.
FAILING_SCRIPT = (
    "sleep 6; echo 'starting the lab'; echo '<script>alert(1)</script>'; "
    "echo 'no such module: jupyterlab' >&2; exit 3"
)
STEPS = ["volumes", "gpus", "image", "container", "waiting", "serving"]


def failing_image(
    docker_client: docker.DockerClient, tiny_image: str, script: str = FAILING_SCRIPT
) -> str:
    """The tiny image whose command is `script` (by default: print a few lines, one a
    `<script>`, and exit 3)."""
    tag = f"{TAG}-{zlib.crc32(script.encode()):08x}"
    box = docker_client.containers.create(tiny_image, command=["true"])
    try:
        box.commit(
            repository=FAILING_REPOSITORY,
            tag=tag,
            changes=[f"CMD {json.dumps(['sh', '-c', script])}"],
        )
    finally:
        box.remove(force=True)
    return f"{FAILING_REPOSITORY}:{tag}"


@contextlib.contextmanager
def removed_afterwards(docker_client: docker.DockerClient, image: str = "") -> Iterator[None]:
    try:
        yield
    finally:
        for container in docker_client.containers.list(all=True, filters={"name": TAG}):
            with contextlib.suppress(docker.errors.NotFound):  # gone meanwhile
                container.remove(force=True)
        for volume in docker_client.volumes.list(filters={"name": TAG}):
            if TAG in volume.name:
                with contextlib.suppress(docker.errors.APIError):
                    volume.remove(force=True)
        if image:
            with contextlib.suppress(docker.errors.APIError):
                docker_client.images.remove(image, force=True)


def docker_hub(jupyterhub_factory, tmp_path, docker_client, image: str, **env: str):
    bridge = gateway(docker_client, "bridge")
    assert bridge
    return start_platform(
        jupyterhub_factory,
        tmp_path,
        {
            "STELLARS_SPAWNER": "docker",
            "JUPYTERHUB_NOTEBOOK_IMAGE": image,
            "JUPYTERHUB_HUB_BIND_URL": f"http://{bridge}:{free_port(bridge)}",
            **env,
        },
    )


def events_of(answer: requests.Response) -> Iterator[dict[str, Any]]:
    """The events of a progress stream (server-sent events: "data: {json}" lines)."""
    for line in answer.iter_lines(decode_unicode=True):
        if line and line.startswith("data:"):
            yield json.loads(line[len("data:") :])


def start_and_follow(client: HubClient, username: str) -> tuple[list[dict[str, Any]], Any]:
    """Ask for the user's server on a thread and read its progress stream from the start (the
    platform's feed gives a reader every event of the start, whenever it joins); returns the
    events and the start API's answer."""
    answer: dict[str, requests.Response] = {}
    asking = threading.Thread(
        target=lambda: answer.update(post=client.api("POST", f"/users/{username}/server"))
    )
    asking.start()

    def stream() -> requests.Response | None:
        opened = client.api("GET", f"/users/{username}/server/progress", stream=True)
        if opened.status_code == 200:
            return opened
        opened.close()
        return None

    opened = wait_for(stream, 60, "the progress stream")
    events = []
    with opened:
        for event in events_of(opened):
            events.append(event)
            if event.get("ready") or event.get("failed"):
                break
    asking.join(120)
    return events, answer.get("post")


def test_a_real_start_reports_its_steps_and_is_ready_only_once_the_lab_answers(
    jupyterhub_factory, tmp_path, docker_client, lab_image
):
    user_name = f"pia{TAG}"
    with removed_afterwards(docker_client):
        hub = docker_hub(jupyterhub_factory, tmp_path, docker_client, lab_image)
        admin = HubClient(hub.public_url)
        admin.login("admin", ADMIN_PASSWORD)
        user = signed_up_user(hub.public_url, admin, user_name, "pias-password-1")
        events, post = start_and_follow(user, user_name)
        # The lab answers as the ready event arrives: its API through the proxy.
        lab = requests.get(f"{hub.public_url}/user/{user_name}/api", timeout=10)
        assert lab.status_code == 200 and "version" in lab.json()
        assert post is not None and post.status_code in {201, 202}, post
        assert events[0] == {"progress": 0, "message": "Server requested"}  # JupyterHub's own
        ours = [event for event in events if "stellars_step" in event]
        assert [event["stellars_step"] for event in ours] == STEPS, events
        assert [event["message"] for event in ours] == [
            "Your volumes are ready.",
            "No GPU for this server.",
            ours[2]["message"],
            f"The container jupyterlab-{user_name} started.",
            "Waiting for JupyterLab to answer...",
            f"JupyterLab is serving at /user/{user_name}/.",
        ]
        assert ours[2]["message"].startswith(f"The image {lab_image} (")
        assert ours[2]["message"].endswith(") is present.")
        percents = [event["progress"] for event in events]
        assert percents == sorted(percents) and percents[-1] == 100
        assert events[-1]["ready"] is True and events[-1]["url"] == f"/user/{user_name}/"
        assert ours[-1] is events[-2]  # serving, then JupyterHub's ready: nothing between
        model = user.api("GET", f"/users/{user_name}").json()
        assert model["servers"][""]["ready"] is True
        assert user.api("DELETE", f"/users/{user_name}/server").status_code in {202, 204}


def test_a_lab_that_exits_at_once_fails_with_its_log_tail(
    jupyterhub_factory, tmp_path, docker_client, tiny_image
):
    user_name = f"quin{TAG}"
    image = failing_image(docker_client, tiny_image)
    with removed_afterwards(docker_client, image):
        hub = docker_hub(jupyterhub_factory, tmp_path, docker_client, image)
        admin = HubClient(hub.public_url)
        admin.login("admin", ADMIN_PASSWORD)
        user = signed_up_user(hub.public_url, admin, user_name, "quins-password-1")
        events, post = start_and_follow(user, user_name)
        reason = "Your server's container exited with code 3 as it started."
        heading = "The last 3 lines of the container's log:"
        # The engine interleaves the two streams as it got them: stdout's order is kept.
        printed = ["starting the lab", "<script>alert(1)</script>", "no such module: jupyterlab"]

        def told(message: str) -> None:
            first, second, *lines = message.split("\n")
            assert (first, second) == (reason, heading), message
            assert sorted(lines) == sorted(printed), message
            assert lines.index(printed[0]) < lines.index(printed[1]), message

        # The stream: the steps up to the wait, then the failure with the reason and the log.
        ours = [event["stellars_step"] for event in events if "stellars_step" in event]
        assert ours == ["volumes", "gpus", "image", "container", "waiting"], events
        failed = events[-1]
        assert failed["failed"] is True and failed["progress"] == 100
        assert failed["message"].startswith("Spawn failed: ")
        told(failed["message"].removeprefix("Spawn failed: "))
        page = failed["html_message"]
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
        assert html.escape(reason) in page and "no such module: jupyterlab" in page

        # The start API: a spawn that fails within JupyterHub's wait answers with the message;
        # a slower one was accepted (202) and failed in the stream.
        assert post is not None
        if post.status_code != 202:
            assert post.status_code == 502, post.text
            told(post.json()["message"])

        # Afterwards: the stream still tells the failure; the user model has no server.
        again = list(events_of(user.api("GET", f"/users/{user_name}/server/progress")))
        assert again == [failed]
        model = user.api("GET", f"/users/{user_name}").json()
        assert model["servers"] == {} and model["pending"] is None
        # The spawn page, visited again: JupyterHub's "not running" page with the failure's
        # status, the reason and the log, escaped.
        again_page = user.page(f"/spawn-pending/{user_name}")
        assert again_page.status_code == 502
        assert html.escape(reason) in again_page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in again_page.text
        assert "<script>alert(1)" not in again_page.text
        log = hub.log_path.read_text(errors="replace")
        assert f"Error starting {user_name}'s server: HTTP 502" in log  # told, no traceback
        assert "Unhandled error starting" not in log
        # JupyterHub's stop polls first and finds the container ended, so DockerSpawner leaves
        # it (its next start removes it): exited, not running.
        left = docker_client.containers.list(all=True, filters={"name": user_name})
        assert [box.status for box in left] in ([], ["exited"])


def test_a_lab_that_never_answers_fails_in_time_with_its_log(
    jupyterhub_factory, tmp_path, docker_client, tiny_image
):
    user_name = f"ros{TAG}"
    image = failing_image(docker_client, tiny_image, "echo 'listening nowhere'; sleep 3600")
    with removed_afterwards(docker_client, image):
        hub = docker_hub(
            jupyterhub_factory, tmp_path, docker_client, image, JUPYTERHUB_SPAWN_TIMEOUT="15"
        )
        admin = HubClient(hub.public_url)
        admin.login("admin", ADMIN_PASSWORD)
        user = signed_up_user(hub.public_url, admin, user_name, "ross-password-1")
        events, post = start_and_follow(user, user_name)
        failed = events[-1]
        assert failed["failed"] is True, events
        message = failed["message"].removeprefix("Spawn failed: ")
        assert re.fullmatch(
            r"JupyterLab did not answer within \d+ s of its container's start\.\n"
            r"The last line of the container's log:\nlistening nowhere",
            message,
        ), message
        assert [e["stellars_step"] for e in events if "stellars_step" in e][-1] == "waiting"
        assert post is not None and post.status_code in {202, 502}, post
        # JupyterHub's stop found it running: DockerSpawner stopped and removed it.
        assert not docker_client.containers.list(all=True, filters={"name": user_name})
        assert "Unhandled error" not in hub.log_path.read_text(errors="replace")
