"""GPUs given out one by one, end to end, through a real hub started from
deploy/jupyterhub_config.py: a host with four (fake) GPUs and eight users.

This engine has no NVIDIA runtime, so a container asking for a GPU cannot start here; the
servers are local processes instead (the stand-ins of tests/backends/lab_stand_in.py), which
get their GPUs through their environment, and the GPU probe is the host's: a fake `nvidia-smi`
first on the hub's PATH lists four GPUs and their use. The Docker wire format (a device request
naming the GPUs by UUID) and its read-back are tested on the real engine in
tests/contract/test_containers.py.

GPUs are exclusive and one per server (STELLARS_GPU_SHARING, STELLARS_GPUS_PER_SERVER): four
users start and get four different GPUs, the other four are refused with a 409 naming who
holds each GPU, a stop frees a GPU for the next start, a hub restart keeps every holding (read
back from the running servers), and the activity page shows each GPU's holders, memory and
utilisation.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.backends.lab_stand_in import STAND_IN
from tests.backends.platform import (
    ADMIN_PASSWORD,
    DEPLOY_CONFIG,
    HubClient,
    platform_env,
    signed_up_user,
)

pytestmark = pytest.mark.real

UUIDS = (
    "GPU-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
    "GPU-1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809",
    "GPU-2b3c4d5e-6f70-8192-a3b4-c5d6e7f8091a",
    "GPU-3c4d5e6f-7081-92a3-b4c5-d6e7f8091a2b",
)
INVENTORY_CSV = "".join(
    f"{i}, NVIDIA A100-SXM4-40GB, 40960, {uuid}\n" for i, uuid in enumerate(UUIDS)
)
USE_CSV = "".join(f"{uuid}, {1024 * (i + 1)}, {10 * (i + 1)}\n" for i, uuid in enumerate(UUIDS))
# The two queries the platform sends, answered; anything else is an error.
FAKE_NVIDIA_SMI = f"""#!/bin/sh
case "$*" in
  "--query-gpu=index,name,memory.total,uuid --format=csv,noheader,nounits")
    cat <<'CSV'
{INVENTORY_CSV}CSV
    ;;
  "--query-gpu=uuid,memory.used,utilization.gpu --format=csv,noheader,nounits")
    cat <<'CSV'
{USE_CSV}CSV
    ;;
  *) echo "fake nvidia-smi: unexpected arguments: $*" >&2; exit 2 ;;
esac
"""
# Before serving, a stand-in writes down what its environment says of its GPUs, and its pid.
GPU_REPORT = "stellars-gpus.json"
REPORTS_GPUS = f"""\
import json as _json, os as _os
with open({GPU_REPORT!r}, "w") as _out:
    _json.dump({{name: _os.environ.get(name) for name in (
        "NVIDIA_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES", "STELLARS_GPU_SHARING",
        "ENABLE_GPU_SUPPORT")}} | {{"pid": _os.getpid()}}, _out)
"""
USERS = ("ann", "bob", "cy", "dee", "eve", "fay", "gus", "hal")
PASSWORD = "a-long-enough-password-1"
READY_SECONDS = 60


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what} not seen within {timeout} s")


class GpuSite:
    """The hub (restartable on the same data), its admin, and the stand-ins' reports."""

    def __init__(self, factory, tmp: Path) -> None:
        self.factory = factory
        self.tmp = tmp
        tools = tmp / "bin"
        tools.mkdir()
        (tools / "nvidia-smi").write_text(FAKE_NVIDIA_SMI)
        (tools / "nvidia-smi").chmod(0o755)
        stand_in = tmp / "stand_in.py"
        stand_in.write_text(REPORTS_GPUS + STAND_IN)
        self.config = tmp / "jupyterhub_config.py"
        self.config.write_text(
            "c = get_config()  # noqa: F821\n"
            f"load_subconfig({str(DEPLOY_CONFIG)!r})  # noqa: F821\n"
            f"c.Spawner.cmd = [{sys.executable!r}, {str(stand_in)!r}]\n"
            "c.Spawner.args = []\n"
        )
        self.data = tmp / "data"
        self.env = platform_env(
            self.data,
            JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
            STELLARS_SPAWNER="local",
            JUPYTERHUB_GPU_ENABLED="2",
            STELLARS_GPUS_PER_SERVER="1",
            STELLARS_GPU_SHARING="exclusive",
            STELLARS_GPU_USE_INTERVAL="5",
            PATH=f"{tools}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        self.hub: Any = None
        self.pids: set[int] = set()
        self.start_hub()
        self.users = {
            name: signed_up_user(self.hub.public_url, self.admin, name, PASSWORD) for name in USERS
        }

    def start_hub(self) -> None:
        self.hub = self.factory(self.config, self.env, workdir=self.tmp / "hub")
        self.admin = HubClient(self.hub.public_url)
        self.admin.login("admin", ADMIN_PASSWORD)

    def restart_hub(self) -> None:
        """SIGTERM to the hub alone, as a service manager stops it: JupyterHub stops its proxy
        and services and leaves the servers running (cleanup_servers is off). The tooling's
        `stop` would also kill every process the hub started, these servers among them."""
        process = self.hub.process
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        self.start_hub()

    def server(self, name: str) -> dict[str, Any] | None:
        answer = self.admin.api("GET", f"/users/{name}")
        answer.raise_for_status()
        return (answer.json().get("servers") or {}).get("")

    def start(self, name: str) -> Any:
        return self.admin.api("POST", f"/users/{name}/server")

    def started(self, name: str) -> dict[str, Any]:
        answer = self.start(name)
        assert answer.status_code in {201, 202}, answer.text
        wait_for(lambda: (self.server(name) or {}).get("ready"), READY_SECONDS, f"{name}'s server")
        report = self.report(name)
        self.pids.add(report["pid"])
        return report

    def stop(self, name: str) -> None:
        answer = self.admin.api("DELETE", f"/users/{name}/server")
        assert answer.status_code in {202, 204}, answer.text
        wait_for(lambda: self.server(name) is None, READY_SECONDS, f"{name}'s stop")

    def report(self, name: str) -> dict[str, Any]:
        path = self.data / "homes" / name / GPU_REPORT
        wait_for(path.exists, READY_SECONDS, f"{name}'s GPU report")
        return json.loads(path.read_text())

    def gpus(self) -> list[dict[str, Any]]:
        answer = self.admin.api("GET", "/activity/gpus")
        assert answer.status_code == 200, answer.text
        return answer.json()["gpus"]

    def holders(self) -> dict[str, list[str]]:
        return {gpu["uuid"]: [h["username"] for h in gpu["holders"]] for gpu in self.gpus()}

    def close(self) -> None:
        for name in USERS:
            with contextlib.suppress(Exception):
                if self.server(name):
                    self.admin.api("DELETE", f"/users/{name}/server")
        for pid in self.pids:  # the stand-ins this test started, should a stop have failed
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def site(jupyterhub_factory_module, tmp_path_factory):
    site = GpuSite(jupyterhub_factory_module, tmp_path_factory.mktemp("gpus"))
    yield site
    site.close()


def test_four_exclusive_servers_get_four_different_gpus(site):
    reports = {name: site.started(name) for name in USERS[:4]}
    given = [report["CUDA_VISIBLE_DEVICES"] for report in reports.values()]
    assert sorted(given) == sorted(UUIDS)  # one each, all different
    for report in reports.values():
        assert report["NVIDIA_VISIBLE_DEVICES"] == report["CUDA_VISIBLE_DEVICES"]
        assert report["STELLARS_GPU_SHARING"] == "exclusive"
        assert report["ENABLE_GPU_SUPPORT"] == "1"
    assert site.holders() == {
        report["CUDA_VISIBLE_DEVICES"]: [name] for name, report in reports.items()
    }


def test_the_other_four_are_refused_naming_who_holds_each_gpu(site):
    holder_of = {uuid: names[0] for uuid, names in site.holders().items()}
    for name in USERS[4:]:
        answer = site.start(name)
        assert answer.status_code == 409, answer.text
        message = answer.json()["message"]
        assert message.startswith(f"No 1 GPU(s) free for {name} (exclusive): ")
        for index, uuid in enumerate(UUIDS):
            expected = f"GPU {index} (NVIDIA A100-SXM4-40GB): held exclusively by {holder_of[uuid]}"
            assert expected in message, message
        assert site.server(name) is None


def test_the_gpus_with_their_use_and_holders_for_admins_only(site):
    wait_for(lambda: site.gpus()[0]["memory_used_mib"] is not None, 30, "the first GPU readings")
    gpus = site.gpus()
    assert [(g["index"], g["uuid"], g["name"]) for g in gpus] == [
        (i, uuid, "NVIDIA A100-SXM4-40GB") for i, uuid in enumerate(UUIDS)
    ]
    assert [(g["memory_used_mib"], g["utilization_percent"]) for g in gpus] == [
        (1024, 10),
        (2048, 20),
        (3072, 30),
        (4096, 40),
    ]
    assert {g["memory_total_mib"] for g in gpus} == {40960}
    assert {g["sharing"] for g in gpus} == {"exclusive"}
    assert sorted(g["holders"][0]["username"] for g in gpus) == sorted(USERS[:4])
    body = site.admin.api("GET", "/activity/gpus").json()
    assert body["enabled"] is True
    assert body["reason"] == "detected 4 GPU(s): " + ", ".join(["NVIDIA A100-SXM4-40GB"] * 4)
    assert body["readings"]["error"] is None

    url = site.hub.public_url
    anonymous = HubClient(url).api("GET", "/activity/gpus")
    assert anonymous.status_code == 403
    assert anonymous.json() == {"status": 403, "message": "Missing or invalid credentials."}
    for user in ("ann", "eve"):  # a holder, and a user who holds nothing
        refused = site.users[user].api("GET", "/activity/gpus")
        assert refused.status_code == 403
        assert "custom:stellars:activity" in refused.json()["message"]
    scoped = site.admin.new_token("admin", ["custom:stellars:activity"])
    assert HubClient(url, scoped).api("GET", "/activity/gpus").status_code == 200
    unscoped = site.admin.new_token("admin", ["read:users"])
    assert HubClient(url, unscoped).api("GET", "/activity/gpus").status_code == 403
    own = site.users["ann"].new_token("ann")
    assert HubClient(url, own).api("GET", "/activity/gpus").status_code == 403


def test_a_stop_frees_a_gpu_for_the_next_start(site):
    freed = site.report("bob")["CUDA_VISIBLE_DEVICES"]
    site.stop("bob")
    assert site.holders()[freed] == []
    report = site.started("eve")
    assert report["CUDA_VISIBLE_DEVICES"] == freed
    assert site.holders()[freed] == ["eve"]


def test_a_hub_restart_keeps_every_holding(site):
    before = site.holders()
    assert sorted(names[0] for names in before.values()) == ["ann", "cy", "dee", "eve"]
    site.restart_hub()
    # A start waits for the holdings to be read back: fay is refused, naming the same holders.
    answer = site.start("fay")
    assert answer.status_code == 409, answer.text
    for holders in before.values():
        assert f"held exclusively by {holders[0]}" in answer.json()["message"]
    assert site.holders() == before
    for name in ("ann", "cy", "dee", "eve"):
        assert (site.server(name) or {}).get("ready"), name  # still running, untouched


@pytest.mark.browser
def test_the_activity_page_shows_each_gpu_with_its_holder(site, browser_page):
    holders = site.holders()
    browser = browser_page(site.hub.public_url)
    browser.log_in("admin", ADMIN_PASSWORD)
    browser.visit("/hub/activity")
    page = browser.page
    page.wait_for_selector("#activity-gpus:not(.d-none)")
    page.wait_for_selector("#activity-gpus-table tbody tr[data-gpu='3']")
    rows = page.locator("#activity-gpus-table tbody tr")
    assert rows.count() == 4
    for index, uuid in enumerate(UUIDS):
        row = page.locator(f"#activity-gpus-table tr[data-gpu='{index}']")
        assert row.get_attribute("data-uuid") == uuid
        assert row.get_attribute("data-sharing") == "exclusive"
        assert row.get_attribute("data-holders") == holders[uuid][0]
        cells = row.locator("td")
        assert cells.nth(0).inner_text() == f"GPU {index} (NVIDIA A100-SXM4-40GB)"
        assert cells.nth(3).inner_text() == holders[uuid][0]
    page.wait_for_function(
        "document.querySelector('#activity-gpus-freshness').textContent.includes('ago')"
    )
    first = page.locator("#activity-gpus-table tr[data-gpu='0'] td")
    assert first.nth(1).inner_text() == "1.0 GB / 40.0 GB"
    assert first.nth(2).inner_text() == "10%"
    browser.snap("activity-gpus")
