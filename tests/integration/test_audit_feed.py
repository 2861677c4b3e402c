"""The audit feed on a real JupyterHub started from deploy/jupyterhub_config.py: each recorded
action, on JupyterHub's routes and the platform's, produces its entry with its actor and the
client's address, a refused or failed one too; who may read the feed, its filters and their
400s, paging, the CSV download, the broadcast history and the metrics.

User servers are local jupyterhub-singleuser processes (no Docker engine needed)."""

from __future__ import annotations

import csv
import io
import time
from datetime import datetime
from typing import Any

import pytest

from tests.backends.platform import (
    ADMIN_PASSWORD,
    HubClient,
    start_platform,
)

pytestmark = pytest.mark.real

#: The address the admin's requests leave from (another client, as far as the proxy can tell).
ADMIN_ADDRESS = "127.0.0.5"
BOB_ADDRESS = "127.0.0.6"


@pytest.fixture(scope="module")
def hub(jupyterhub_factory_module, tmp_path_factory):
    return start_platform(
        jupyterhub_factory_module,
        tmp_path_factory.mktemp("audit"),
        env={"STELLARS_SPAWNER": "local", "STELLARS_AUDIT_RETENTION_DAYS": "30"},
    )


@pytest.fixture(scope="module")
def admin(hub):
    client = HubClient(hub.public_url, source=ADMIN_ADDRESS)
    client.login("admin", ADMIN_PASSWORD)
    return client


@pytest.fixture(scope="module")
def bob(hub, admin):
    user = HubClient(hub.public_url, source=BOB_ADDRESS)
    assert user.signup("bob", "bobs-password-1").status_code == 200
    assert admin.page("/authorize/bob").status_code in {200, 302}
    user.login("bob", "bobs-password-1")
    return user


def entries(client: HubClient, **filters: Any) -> list[dict]:
    answer = client.api("GET", "/audit", params=filters)
    assert answer.status_code == 200, answer.text
    return answer.json()["entries"]


def wait_for_entry(client: HubClient, timeout: float = 30, **wanted: Any) -> dict:
    """The newest entry with every field of `wanted` (recording runs after the answer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in entries(client, limit=500):
            if all(entry.get(key) == value for key, value in wanted.items()):
                return entry
        time.sleep(0.3)
    raise AssertionError(f"no audit entry {wanted}; newest: {entries(client, limit=5)}")


def wait_for_server(admin: HubClient, name: str, *, ready: bool, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server = (admin.api("GET", f"/users/{name}").json().get("servers") or {}).get("")
        if (ready and server and server["ready"]) or (not ready and not server):
            return
        time.sleep(0.5)
    raise AssertionError(f"the server of {name} is not {'ready' if ready else 'gone'}")


# --- recorded actions ----------------------------------------------------------------------


def test_a_sign_up_authorised_by_the_admin(admin, bob):
    entry = wait_for_entry(admin, action="signup-authorised", target="bob")
    assert (entry["actor"], entry["address"], entry["outcome"]) == ("admin", ADMIN_ADDRESS, "ok")
    assert entry["subject"] == "authorised"


def test_users_created_renamed_made_admin_and_deleted(admin):
    assert admin.api("POST", "/users/cat").status_code == 201
    created = wait_for_entry(admin, action="user-created", target="cat")
    assert (created["actor"], created["address"], created["outcome"]) == (
        "admin",
        ADMIN_ADDRESS,
        "ok",
    )
    assert admin.api("POST", "/users", json={"usernames": ["dan", "eve"]}).status_code == 201
    wait_for_entry(admin, action="user-created", target="dan")
    wait_for_entry(admin, action="user-created", target="eve")
    assert admin.api("PATCH", "/users/cat", json={"name": "cathy"}).status_code == 200
    renamed = wait_for_entry(admin, action="user-renamed", target="cat")
    assert renamed["details"] == {"new_name": "cathy"}
    assert admin.api("PATCH", "/users/dan", json={"admin": True}).status_code == 200
    assert wait_for_entry(admin, action="admin-changed", target="dan")["details"] == {"admin": True}
    assert admin.api("DELETE", "/users/eve").status_code == 204
    wait_for_entry(admin, action="user-deleted", target="eve", outcome="ok")


def test_a_passphrase_handed_out(admin):
    assert admin.api("POST", "/users/fay").status_code == 201
    answer = admin.api("POST", "/admin/credentials", json={"usernames": ["fay"]})
    assert answer.status_code == 200
    assert [c["username"] for c in answer.json()["credentials"]] == ["fay"]
    entry = wait_for_entry(admin, action="passphrase-issued", target="fay")
    assert (entry["actor"], entry["outcome"]) == ("admin", "ok")
    again = admin.api("POST", "/admin/credentials", json={"usernames": ["fay"]})
    assert again.json()["credentials"] == []  # handed out once: nothing more is recorded


def test_a_server_started_and_stopped_for_someone_else_but_not_ones_own(admin, bob):
    assert admin.api("POST", "/users/bob/server").status_code in {201, 202}
    started = wait_for_entry(admin, action="server-started", target="bob")
    assert (started["actor"], started["outcome"]) == ("admin", "ok")
    wait_for_server(admin, "bob", ready=True)
    assert admin.api("DELETE", "/users/bob/server").status_code in {202, 204}
    wait_for_entry(admin, action="server-stopped", target="bob", actor="admin")
    wait_for_server(admin, "bob", ready=False)
    assert bob.api("POST", "/users/bob/server").status_code in {201, 202}
    wait_for_server(admin, "bob", ready=True)
    assert bob.api("DELETE", "/users/bob/server").status_code in {202, 204}
    wait_for_server(admin, "bob", ready=False)
    assert entries(admin, user="bob", action="server-started")[0]["actor"] == "admin"


def test_a_group_and_its_policy_changed(admin, bob):
    assert admin.api("POST", "/groups/physics").status_code == 201
    assert wait_for_entry(admin, action="group-changed", subject="physics")["details"] == {
        "change": "created"
    }
    answer = admin.api("POST", "/groups/physics/users", json={"users": ["bob"]})
    assert answer.status_code == 200
    wait_for_entry(
        admin,
        action="group-changed",
        subject="physics",
        details={"change": "members added", "users": ["bob"]},
    )
    answer = admin.api("PUT", "/policies/physics", json={"idle_timeout_seconds": 5})
    assert answer.status_code == 400  # a bad value: refused, and recorded so
    policy = wait_for_entry(admin, action="policy-changed", subject="physics")
    assert (policy["actor"], policy["outcome"]) == ("admin", "refused")
    assert policy["detail"].startswith("idle_timeout_seconds:")
    answer = admin.api("PUT", "/policies/physics", json={"cpu_limit": 1})
    assert answer.status_code == 200, answer.text
    saved = wait_for_entry(admin, action="policy-changed", subject="physics", outcome="ok")
    assert saved["details"] == {"change": "saved"}


def test_a_broadcast_with_its_report(admin):
    answer = admin.api("POST", "/notifications/broadcast", json={"message": "audit me"})
    assert answer.status_code == 200, answer.text
    entry = wait_for_entry(admin, action="broadcast-sent")
    report = answer.json()
    assert entry["details"] == {
        "message": "audit me",
        "variant": "info",
        "total": report["total"],
        "successful": report["successful"],
        "failed": report["failed"],
        "skipped": report["skipped"],
    }
    history = admin.api("GET", "/notifications/history").json()["entries"]
    assert history[0]["id"] == entry["id"]
    assert {e["action"] for e in history} == {"broadcast-sent"}


def test_an_activity_reset(admin):
    assert admin.api("POST", "/activity/reset").status_code == 200
    entry = wait_for_entry(admin, action="activity-reset", outcome="ok")
    assert "deleted_samples" in entry["details"]


def test_a_volume_reset_and_a_restart_record_their_outcome_whatever_it_is(admin, bob):
    reset = admin.api("DELETE", "/users/bob/manage-volumes", json={"volumes": ["home"]})
    entry = wait_for_entry(admin, action="volume-reset", target="bob")
    assert entry["outcome"] == {2: "ok", 4: "refused", 5: "failed"}[reset.status_code // 100]
    assert entry["details"]["volumes"] == ["home"]
    restart = admin.api("POST", "/users/bob/restart-server")
    assert restart.status_code == 409  # the server is not running
    refused = wait_for_entry(admin, action="server-restarted", target="bob")
    assert refused["outcome"] == "refused"
    assert refused["detail"] == restart.json()["message"][:200]


def test_an_extension_refused_is_recorded_with_its_reason(admin, bob):
    answer = bob.api("POST", "/users/bob/extend-session", json={"hours": 1})
    assert answer.status_code == 409
    entry = wait_for_entry(admin, action="extension-granted", target="bob")
    assert (entry["actor"], entry["address"], entry["outcome"]) == ("bob", BOB_ADDRESS, "refused")


def test_a_refused_action_is_recorded_with_who_tried_and_from_where(admin, bob):
    assert bob.api("POST", "/activity/reset").status_code == 403
    entry = wait_for_entry(admin, action="activity-reset", actor="bob")
    assert (entry["outcome"], entry["address"]) == ("refused", BOB_ADDRESS)
    assert "custom:stellars:activity" in entry["detail"]
    assert bob.api("DELETE", "/users/cathy").status_code in {403, 404}
    refused = wait_for_entry(admin, action="user-deleted", actor="bob")
    assert refused["outcome"] == "refused"
    assert admin.api("GET", "/users/cathy").status_code == 200  # nothing happened


def test_nobody_signed_in_is_not_recorded(hub, admin):
    before = entries(admin, limit=1)[0]["id"]
    assert HubClient(hub.public_url).api("POST", "/activity/reset").status_code == 403
    time.sleep(1)
    assert entries(admin, limit=1)[0]["id"] == before


# --- reading the feed ----------------------------------------------------------------------

ROUTES = ["/audit", "/audit.csv"]


@pytest.mark.parametrize("path", ROUTES)
def test_the_feed_answers_admins_and_tokens_with_its_scope_only(hub, admin, bob, path):
    assert HubClient(hub.public_url).api("GET", path).status_code == 403  # anonymous
    refused = bob.api("GET", path)
    assert refused.status_code == 403
    assert "custom:stellars:audit" in refused.json()["message"]
    assert admin.api("GET", path).status_code == 200
    scoped = admin.new_token("admin", ["custom:stellars:audit"])
    assert HubClient(hub.public_url, scoped).api("GET", path).status_code == 200
    other = admin.new_token("admin", ["custom:stellars:activity"])
    assert HubClient(hub.public_url, other).api("GET", path).status_code == 403
    bobs = bob.new_token("bob")  # every scope bob has, which is not the feed's
    assert HubClient(hub.public_url, bobs).api("GET", path).status_code == 403


def test_the_broadcast_history_answers_the_broadcast_scope_only(hub, admin, bob):
    path = "/notifications/history"
    assert HubClient(hub.public_url).api("GET", path).status_code == 403
    assert bob.api("GET", path).status_code == 403
    assert admin.api("GET", path).status_code == 200
    scoped = admin.new_token("admin", ["custom:stellars:broadcast"])
    assert HubClient(hub.public_url, scoped).api("GET", path).status_code == 200
    other = admin.new_token("admin", ["custom:stellars:audit"])
    assert HubClient(hub.public_url, other).api("GET", path).status_code == 403
    assert admin.api("GET", path, params={"colour": "red"}).status_code == 400


def test_the_audit_page_opens_for_admins_only(hub, admin, bob):
    anonymous = HubClient(hub.public_url).page("/audit")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert bob.page("/audit").status_code == 403
    page = admin.page("/audit")
    assert page.status_code == 200
    assert 'id="stellars-audit"' in page.text
    assert 'href="/hub/audit"' in admin.page("/home").text
    assert 'href="/hub/audit"' not in bob.page("/home").text


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"action": "explode"}, "action"),
        ({"colour": "red"}, "colour"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-05-01T10:00"}, "until"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"before": "x"}, "before"),
        ({"before": "17"}, "before"),
        ({"format": "xml"}, "format"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(admin, params, field):
    answer = admin.api("GET", "/audit", params=params)
    assert answer.status_code == 400
    assert answer.json()["message"].startswith(f"{field}:")


def test_filters_and_paging(admin):
    by_user = entries(admin, user="bob", limit=500)
    assert by_user and all("bob" in (e["actor"], e["target"]) for e in by_user)
    refused = entries(admin, action="activity-reset")
    assert refused and {e["action"] for e in refused} == {"activity-reset"}
    assert entries(admin, since="2000-01-01", until="2000-01-02") == []
    assert entries(admin, since="2000-01-01")  # every entry is later
    newest_first = entries(admin, limit=500)
    everything = [e["id"] for e in newest_first]
    order = [
        (datetime.fromisoformat(e["at"].replace("Z", "+00:00")), e["id"]) for e in newest_first
    ]
    assert order == sorted(order, reverse=True)
    seen: list[int] = []
    before = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if before is not None:
            params["before"] = before
        page = admin.api("GET", "/audit", params=params).json()
        seen += [e["id"] for e in page["entries"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen[: len(everything)] == everything[: len(seen)]
    assert set(everything) <= set(seen)


def test_the_csv_download(admin):
    for path, params in (
        ("/audit.csv", {"user": "bob"}),
        ("/audit", {"user": "bob", "format": "csv"}),
    ):
        answer = admin.api("GET", path, params=params)
        assert answer.status_code == 200
        assert answer.headers["Content-Type"].startswith("text/csv")
        assert "attachment" in answer.headers["Content-Disposition"]
        assert answer.headers["X-Stellars-Audit-Complete"] == "true"
        rows = list(csv.reader(io.StringIO(answer.text, newline="")))
        assert rows[0][:4] == ["id", "at", "actor", "action"]
        assert len(rows) - 1 == len(entries(admin, user="bob", limit=500))
        assert all("bob" in (row[2], row[4]) for row in rows[1:])


def test_the_metrics_count_the_feed(admin):
    deadline = time.monotonic() + 60  # the stored counts are refreshed every 30 s
    while True:
        metrics = admin.session.get(admin.url("/metrics"), timeout=30).text
        stored = [
            line
            for line in metrics.splitlines()
            if line.startswith('stellars_audit_entries{action="activity-reset",outcome="refused"}')
        ]
        if stored and not stored[0].endswith(" 0.0"):
            break
        assert time.monotonic() < deadline, stored
        time.sleep(2)
    assert 'stellars_audit_records_total{outcome="stored"}' in metrics
    assert 'stellars_audit_records_total{outcome="failed"} 0.0' in metrics
