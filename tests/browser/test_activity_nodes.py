"""In a real browser: the activity page in swarm mode shows which node each user's lab runs on
and the age of each node's newest report, the stale node flagged.

A hub of deploy/jupyterhub_config.py with local servers, whose dashboard reads a seeded report
store (swarm mode's NodeReportStore port, given here by a config that loads the deploy config
and then hands the platform's dashboard the store): one node reported a moment ago, with the
running lab of one user, the other ten minutes ago (stale). The real swarm's reports come from
the node samplers (tests/swarm)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.backends.platform import (
    ADMIN_PASSWORD,
    DEPLOY_CONFIG,
    HubClient,
    platform_env,
    signed_up_user,
)

pytestmark = [pytest.mark.real, pytest.mark.browser]

SEEDED_REPORTS = '''
from datetime import datetime, timedelta, timezone

from stellars.adapters.jupyterhub import PLUGIN_SETTING
from stellars.domain.containers import ContainerUsage
from stellars.domain.node_reports import LabReport, NodeReport


class SeededReports:
    """The newest report of two nodes: manager-1 two seconds ago with zoe's lab, worker-1 ten
    minutes ago (stale)."""

    async def latest(self):
        now = datetime.now(timezone.utc)
        usage = ContainerUsage(cpu_percent=3.5, memory_bytes=2**28, memory_limit_bytes=2**30)
        fresh, old = now - timedelta(seconds=2), now - timedelta(minutes=10, seconds=30)
        return [
            NodeReport(node="manager-1", slot=fresh, taken_at=fresh,
                       labs=(LabReport("jupyterlab-zoe", usage),)),
            NodeReport(node="worker-1", slot=old, taken_at=old),
        ]


_dashboard = c.JupyterHub.tornado_settings[PLUGIN_SETTING].platform.dashboard
_dashboard._node_reports = SeededReports()
'''


def render_config(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "jupyterhub_config.py"
    config.write_text(
        "c = get_config()  # noqa: F821\n"
        f"load_subconfig({str(DEPLOY_CONFIG)!r})  # noqa: F821\n" + SEEDED_REPORTS
    )
    return config


@pytest.fixture
def platform(jupyterhub_factory, tmp_path):
    env = platform_env(tmp_path / "data", JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
                       STELLARS_SPAWNER="local")  # fmt: skip
    hub = jupyterhub_factory(render_config(tmp_path / "config"), env, workdir=tmp_path / "hub")
    admin = HubClient(hub.public_url)
    admin.login("admin", ADMIN_PASSWORD)
    signed_up_user(hub.public_url, admin, "zoe", "zoe-password-1")
    assert admin.api("POST", "/users/zoe/server").status_code in {201, 202}
    deadline = time.monotonic() + 120
    while not ((admin.api("GET", "/users/zoe").json().get("servers") or {}).get("") or {}).get(
        "ready"
    ):
        assert time.monotonic() < deadline, "zoe's server did not start"
        time.sleep(0.5)
    yield hub, admin
    admin.api("DELETE", "/users/zoe/server")


def test_the_page_shows_each_labs_node_and_each_nodes_report_age(platform, browser_page):
    hub, admin = platform
    answer = admin.api("GET", "/activity").json()
    assert {row["username"]: row["node"] for row in answer["users"]} == {
        "admin": None,
        "zoe": "manager-1",
    }
    assert [(node["node"], node["is_stale"]) for node in answer["nodes"]] == [
        ("manager-1", False),
        ("worker-1", True),
    ]
    browser = browser_page(hub.public_url)
    browser.log_in("admin", ADMIN_PASSWORD)
    browser.page.click("nav >> text=Activity")
    page = browser.page
    page.wait_for_selector("#activity-table tbody tr[data-username=zoe]")
    page.wait_for_selector("#activity-nodes:not(.d-none)")
    assert page.is_visible("#activity-node-column")
    assert page.inner_text("#activity-node-column") == "Node"
    zoe = "#activity-table tr[data-username=zoe] .stellars-lab-node"
    assert page.inner_text(zoe) == "manager-1"
    assert page.inner_text("#activity-table tr[data-username=admin] .stellars-lab-node") == "--"
    fresh = page.locator("#activity-nodes [data-node=manager-1]")
    stale = page.locator("#activity-nodes [data-node=worker-1]")
    assert fresh.get_attribute("data-stale") == "false"
    assert stale.get_attribute("data-stale") == "true"
    assert "text-danger" in (stale.get_attribute("class") or "")
    assert "(stale)" not in fresh.inner_text() and "report" in fresh.inner_text()
    assert stale.inner_text().strip() == "worker-1: report 10m ago (stale)"
    browser.snap("activity-nodes")
    page.click("th[data-sort=node]")  # descending: zoe's node first, no node last
    first = page.locator("#activity-table tbody tr").first.get_attribute("data-username")
    assert first == "zoe"
