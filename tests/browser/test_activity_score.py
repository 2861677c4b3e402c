"""A working lab earns an activity score: in a real hub with the project's lab image in Docker, a
user's score is 0 while the lab is stopped and while it runs idle, then rises with each sample
taken after the lab did work, on `GET /hub/api/activity` and on the activity page.

The work goes through the proxy, as a person's does: a kernel started with the lab's REST API
runs code over its websocket. JupyterHub learns of it from the proxy's route activity, which it
reads every `JupyterHub.last_activity_interval` (5 minutes; the platform leaves it alone): the
hub here reads it every few seconds, through a config that is deploy/jupyterhub_config.py plus
that one line.

Settings, so that each sample counts and the page shows the number:
- the page withholds the score until a day of samples exists (`enough_data`: as many samples
  as `samples_per_day`, 86400 / interval). At the longest interval, one day, one sample is a
  day's data; the sampler service then takes its one sample at start and none during the test,
  so every other sample is one this test asked for (`POST /hub/api/activity/sample`);
- a target of 24 hours makes the bar's percentage the score itself;
- inactive after 1 minute (the shortest): a lab left alone for a minute samples as idle, and a
  sample right after work as active.

Four samples of the user, half-life 72 hours, so over these few minutes every sample weighs
1 to within 0.2%: stopped (0), idle (0), after work (one active of three: 33), after more work
(two of four: 50).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import requests
from tooling.run import gateway
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from tests.backends.platform import ADMIN_PASSWORD, DEPLOY_CONFIG, HubClient, platform_env
from tests.backends.processes import free_port

pytestmark = [pytest.mark.real, pytest.mark.browser]

ACTIVITY_POLL_SECONDS = 2  # JupyterHub.last_activity_interval in this test's hub
INACTIVE_AFTER = timedelta(minutes=1)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} not seen within {timeout} s")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def render_config(directory: Path) -> Path:
    """deploy/jupyterhub_config.py, with the hub reading the proxy's route activity every
    ACTIVITY_POLL_SECONDS."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "jupyterhub_config.py"
    config.write_text(
        "c = get_config()  # noqa: F821\n"
        f"load_subconfig({str(DEPLOY_CONFIG)!r})  # noqa: F821\n"
        f"c.JupyterHub.last_activity_interval = {ACTIVITY_POLL_SECONDS}\n"
    )
    return config


class Lab:
    """A user's JupyterLab, reached through the hub's proxy with a token for that server."""

    def __init__(self, public_url: str, name: str, token: str) -> None:
        self.url = f"{public_url}/user/{name}"
        self.headers = {"Authorization": f"token {token}"}
        self.kernel_id: str | None = None

    def start_kernel(self) -> None:
        answer = requests.post(
            f"{self.url}/api/kernels", json={"name": "python3"}, headers=self.headers, timeout=60
        )
        assert answer.status_code == 201, answer.text
        self.kernel_id = answer.json()["id"]

    def run(self, code: str) -> str:
        """Execute `code` in the kernel over its websocket; what it printed."""
        assert self.kernel_id is not None
        result: dict[str, Any] = {}
        # In a thread of its own: the browser's sync API owns this thread's event loop.
        worker = threading.Thread(target=lambda: result.update(out=asyncio.run(self._run(code))))
        worker.start()
        worker.join(timeout=120)
        assert "out" in result, "the kernel did not finish the code"
        return str(result["out"])

    async def _run(self, code: str) -> str:
        ws_url = self.url.replace("http://", "ws://", 1) + f"/api/kernels/{self.kernel_id}/channels"
        connection = await websocket_connect(
            HTTPRequest(ws_url, headers=self.headers, request_timeout=60)
        )
        msg_id = uuid.uuid4().hex
        request = {
            "header": {
                "msg_id": msg_id,
                "msg_type": "execute_request",
                "session": uuid.uuid4().hex,
                "username": "test",
                "version": "5.3",
                "date": datetime.now(timezone.utc).isoformat(),
            },
            "parent_header": {},
            "metadata": {},
            "content": {
                "code": code,
                "silent": False,
                "store_history": False,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
            "channel": "shell",
            "buffers": [],
        }
        await connection.write_message(json.dumps(request))
        printed: list[str] = []
        try:
            while True:
                text = await asyncio.wait_for(connection.read_message(), 60)
                assert text is not None, "the kernel's websocket closed"
                message = json.loads(text)
                if message.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = message["msg_type"], message["content"]
                if kind == "stream" and content["name"] == "stdout":
                    printed.append(content["text"])
                elif kind == "error":
                    raise AssertionError(f"the code failed: {content['ename']}")
                elif kind == "status" and content["execution_state"] == "idle":
                    return "".join(printed)
        finally:
            connection.close()


@pytest.fixture
def worker_name(docker_client) -> Iterator[str]:
    name = f"score{secrets.token_hex(3)}"
    yield name
    for container in docker_client.containers.list(all=True, filters={"name": name}):
        container.remove(force=True)
    for volume in docker_client.volumes.list(filters={"name": name}):
        with contextlib.suppress(docker.errors.NotFound):
            volume.remove(force=True)


def row_of(admin: HubClient, name: str) -> dict[str, Any]:
    answer = admin.api("GET", "/activity")
    assert answer.status_code == 200, answer.text
    rows = {row["username"]: row for row in answer.json()["users"]}
    assert name in rows, sorted(rows)
    return rows[name]


def sample(admin: HubClient, name: str) -> dict[str, Any]:
    """One sampling tick now; the user's dashboard row after it."""
    answer = admin.api("POST", "/activity/sample")
    assert answer.status_code == 200, answer.text
    return row_of(admin, name)


def server_activity(admin: HubClient, name: str) -> datetime:
    """The last activity of the user's running server, as the hub has it."""
    server = admin.api("GET", f"/users/{name}").json()["servers"][""]
    assert server["ready"] and server["last_activity"], server
    return parse_time(server["last_activity"])


def quiet_for(admin: HubClient, name: str) -> timedelta:
    """How long the user's server has been without activity, as the hub has it."""
    return datetime.now(timezone.utc) - server_activity(admin, name)


def test_a_working_lab_scores_above_zero_and_rises_on_the_api_and_the_page(
    jupyterhub_factory, tmp_path, docker_client, lab_image, worker_name, browser_page
):
    name = worker_name
    bridge = gateway(docker_client, "bridge")
    env = platform_env(
        tmp_path / "data",
        JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
        STELLARS_SPAWNER="docker",
        JUPYTERHUB_NOTEBOOK_IMAGE=lab_image,
        JUPYTERHUB_HUB_BIND_URL=f"http://{bridge}:{free_port(bridge)}",
        JUPYTERHUB_ACTIVITYMON_SAMPLE_INTERVAL="86400",
        JUPYTERHUB_ACTIVITYMON_TARGET_HOURS="24",
        JUPYTERHUB_ACTIVITYMON_INACTIVE_AFTER=str(INACTIVE_AFTER.seconds // 60),
    )
    hub = jupyterhub_factory(render_config(tmp_path / "config"), env, workdir=tmp_path / "hub")
    admin = HubClient(hub.public_url)
    admin.login("admin", ADMIN_PASSWORD)
    # The sampler service's one sample (at its start) is in before the user exists.
    wait_for(lambda: row_of(admin, "admin")["sample_count"] >= 1, 60, "the sampler's first tick")
    created = admin.api("POST", "/users", json={"usernames": [name]})
    assert created.status_code == 201, created.text

    stopped = sample(admin, name)
    assert (stopped["status"], stopped["activity_score"], stopped["sample_count"]) == (
        "offline",
        0,
        1,
    )
    assert stopped["enough_data"] is True  # one sample is a day's worth at this interval

    assert admin.api("POST", f"/users/{name}/server").status_code in {201, 202}
    wait_for(
        lambda: (
            (admin.api("GET", f"/users/{name}").json().get("servers") or {})
            .get("", {})
            .get("ready")
        ),
        180,
        "the lab",
    )
    # Left alone for longer than inactive_after (the lab's own start-up report may move its
    # activity once, so measure from the latest value).
    wait_for(lambda: quiet_for(admin, name) > INACTIVE_AFTER + timedelta(seconds=5), 300, "quiet")
    idle = sample(admin, name)
    assert (idle["status"], idle["activity_score"], idle["sample_count"]) == ("idle", 0, 2)

    token = admin.new_token(name, [f"access:servers!server={name}/"])
    lab = Lab(hub.public_url, name, token)
    lab.start_kernel()
    working = []
    for code, output in (("print(sum(range(10)))", "45"), ("print(6 * 7)", "42")):
        before_work = server_activity(admin, name)
        assert lab.run(code).strip() == output
        wait_for(
            lambda before=before_work: server_activity(admin, name) > before,
            60,
            "the work in the server's last activity",
        )
        working.append(sample(admin, name))
    assert [row["status"] for row in working] == ["active", "active"], working
    assert [row["sample_count"] for row in working] == [3, 4]
    assert [row["activity_score"] for row in working] == [33, 50]  # above 0, and rising
    assert [row["activity_level"] for row in working] == ["low", "normal"]

    browser = browser_page(hub.public_url)
    browser.log_in("admin", ADMIN_PASSWORD)
    browser.visit("/hub/activity")
    page = browser.page
    user_row = f"#activity-table tr[data-username='{name}']"
    page.wait_for_selector(user_row)
    browser.snap("activity-score")
    assert page.get_attribute(user_row, "data-status") == "active"
    bar = page.locator(f"{user_row} .stellars-activity-bar")
    assert bar.get_attribute("title") == (
        "Activity: 50% of the 24 h daily target (score 50, normal)"
    )
    assert bar.get_attribute("data-lit") == str(math.ceil(50 / 20))
    assert "stellars-not-enough" not in (bar.get_attribute("class") or "")

    stop = admin.api("DELETE", f"/users/{name}/server")
    assert stop.status_code in {202, 204}, stop.text
    wait_for(lambda: not docker_client.containers.list(filters={"name": name}), 60, "the stop")
