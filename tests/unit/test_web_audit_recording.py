"""Where the audit feed is recorded: which of JupyterHub's requests are actions, and how a
finished request becomes entries (actor, address, outcome, detail)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from stellars.adapters.jupyterhub.web.recording import (
    NAMES_SHOWN,
    AuditNote,
    actor_of,
    audited,
    hub_route,
    jupyterhub_notes,
    record_request,
    some_names,
)
from stellars.adapters.memory import InMemoryAuditLog, ManualClock
from stellars.domain.audit import AuditAction, AuditOutcome
from stellars.domain.services import AuditTrail

NOW = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
A = AuditAction


def notes(method: str, route: str, body: object = None, actor: str = "admin"):
    raw = b"" if body is None else json.dumps(body).encode()
    return [
        (n.action, n.target, n.subject, n.details)
        for n in jupyterhub_notes(method, route, raw, actor)
    ]


@pytest.mark.parametrize(
    ("method", "route", "body", "expected"),
    [
        ("POST", "api/users/ann", None, [(A.USER_CREATED, "ann", "", {})]),
        ("POST", "api/users/ann", {"admin": True}, [(A.USER_CREATED, "ann", "", {"admin": True})]),
        (
            "POST",
            "api/users",
            {"usernames": ["a", "b", 3]},
            [(A.USER_CREATED, "a", "", {}), (A.USER_CREATED, "b", "", {})],
        ),
        ("DELETE", "api/users/ann", None, [(A.USER_DELETED, "ann", "", {})]),
        ("DELETE", "api/users/a%20b", None, [(A.USER_DELETED, "a b", "", {})]),
        (
            "PATCH",
            "api/users/ann",
            {"name": "anna", "admin": False},
            [
                (A.USER_RENAMED, "ann", "", {"new_name": "anna"}),
                (A.ADMIN_CHANGED, "ann", "", {"admin": False}),
            ],
        ),
        ("PATCH", "api/users/ann", {"name": "ann"}, []),  # not a rename
        ("PATCH", "api/users/ann", {"admin": "yes"}, []),  # JupyterHub refuses it
        ("POST", "api/users/ann/server", None, [(A.SERVER_STARTED, "ann", "", {})]),
        ("DELETE", "api/users/ann/server", None, [(A.SERVER_STOPPED, "ann", "", {})]),
        ("POST", "api/users/ann/servers/gpu", None, [(A.SERVER_STARTED, "ann", "gpu", {})]),
        ("DELETE", "api/users/ann/servers/gpu", None, [(A.SERVER_STOPPED, "ann", "gpu", {})]),
        ("POST", "api/users/admin/server", None, []),  # one's own server
        ("POST", "spawn/ann", None, [(A.SERVER_STARTED, "ann", "", {})]),
        ("POST", "spawn/ann/gpu", None, [(A.SERVER_STARTED, "ann", "gpu", {})]),
        ("POST", "spawn/admin", None, []),
        ("GET", "spawn/ann", None, []),
        ("POST", "api/users/ann/tokens", None, []),
        ("POST", "api/groups/g1", None, [(A.GROUP_CHANGED, "", "g1", {"change": "created"})]),
        ("DELETE", "api/groups/g1", None, [(A.GROUP_CHANGED, "", "g1", {"change": "deleted"})]),
        (
            "POST",
            "api/groups/g1/users",
            {"users": ["ann"]},
            [(A.GROUP_CHANGED, "", "g1", {"change": "members added", "users": ["ann"]})],
        ),
        (
            "DELETE",
            "api/groups/g1/users",
            {"users": ["ann"]},
            [(A.GROUP_CHANGED, "", "g1", {"change": "members removed", "users": ["ann"]})],
        ),
        (
            "PUT",
            "api/groups/g1/properties",
            {"x": 1},
            [(A.GROUP_CHANGED, "", "g1", {"change": "properties"})],
        ),
        (
            "POST",
            "api/groups",
            {"groups": ["g1", "g2"]},
            [
                (A.GROUP_CHANGED, "", "g1", {"change": "created"}),
                (A.GROUP_CHANGED, "", "g2", {"change": "created"}),
            ],
        ),
        ("GET", "authorize/ann", None, [(A.SIGNUP_AUTHORISED, "ann", "", {})]),
        ("GET", "discard/ann", None, [(A.SIGNUP_DISCARDED, "ann", "", {})]),
        ("POST", "change-password/ann", None, [(A.PASSWORD_CHANGED, "ann", "", {})]),
        ("POST", "change-password", None, []),  # one's own password
        ("GET", "api/users/ann", None, []),
        ("GET", "authorize", None, []),
        ("OPTIONS", "api/users/ann", None, []),
        ("POST", "api/users/ann/server/progress", None, []),
        ("POST", "login", None, []),
    ],
)
def test_jupyterhubs_routes_as_actions(method, route, body, expected):
    assert notes(method, route, body) == expected


def test_a_body_that_is_not_a_json_object_is_read_as_empty():
    assert jupyterhub_notes("POST", "api/users", b"not json", "admin") == []
    assert jupyterhub_notes("POST", "api/users", b"[1]", "admin") == []
    assert jupyterhub_notes("POST", "api/users", b"\xff", "admin") == []


def test_some_names_shows_a_few_and_counts_the_rest():
    assert some_names("v", ["a", "b"]) == {"v": ["a", "b"]}
    many = [str(n) for n in range(NAMES_SHOWN + 1)]
    assert some_names("v", many) == {"v": many[:NAMES_SHOWN], "v_count": NAMES_SHOWN + 1}
    assert some_names("v", many[:NAMES_SHOWN]) == {"v": many[:NAMES_SHOWN]}


class FakeRequest(SimpleNamespace):
    pass


def handler(
    *,
    method="DELETE",
    path="/hub/api/users/ann",
    user="admin",
    kind="user",
    status=204,
    ip="10.0.0.9",
    body=b"",
    declared=None,
    error="",
):
    who = None if user is None else SimpleNamespace(name=user, kind=kind)
    made = SimpleNamespace(
        request=FakeRequest(method=method, path=path, remote_ip=ip, body=body),
        settings={"hub": SimpleNamespace(base_url="/hub/")},
        current_user=who,
        get_status=lambda: status,
        audit_error=error,
    )
    if declared is not None:
        made.audit_notes = declared
    return made


@pytest.fixture
def store():
    return InMemoryAuditLog()


@pytest.fixture
def trail(store):
    return AuditTrail(log=store, clock=ManualClock(NOW), retention_days=30)


async def test_a_jupyterhub_request_is_recorded_with_its_actor_address_and_outcome(trail, store):
    assert record_request(handler(), trail) == 1
    await trail.settle()
    [entry] = store.entries
    assert (entry.actor, entry.action, entry.target, entry.address) == (
        "admin",
        A.USER_DELETED,
        "ann",
        "10.0.0.9",
    )
    assert (entry.outcome, entry.detail, entry.at) == (AuditOutcome.OK, "", NOW)


@pytest.mark.parametrize(
    ("status", "outcome", "detail"),
    [
        (403, AuditOutcome.REFUSED, "403 Forbidden"),
        (409, AuditOutcome.REFUSED, "409 Conflict"),
        (500, AuditOutcome.FAILED, "500 Internal Server Error"),
    ],
)
async def test_a_refused_or_failed_request_is_recorded_too(trail, store, status, outcome, detail):
    record_request(handler(status=status), trail)
    await trail.settle()
    assert (store.entries[0].outcome, store.entries[0].detail) == (outcome, detail)


async def test_the_platforms_message_is_the_detail_of_a_refusal(trail, store):
    record_request(handler(status=409, error="the server is running"), trail)
    await trail.settle()
    assert store.entries[0].detail == "the server is running"


async def test_a_declared_note_is_recorded_and_jupyterhubs_routes_are_not_read(trail, store):
    note = AuditNote(A.VOLUME_RESET, "ann", "", {"volumes": ["home"]})
    declared = handler(method="DELETE", path="/hub/api/users/zed", declared=[note])
    assert record_request(declared, trail) == 1
    await trail.settle()
    [entry] = store.entries
    assert (entry.action, entry.target, entry.details) == (
        A.VOLUME_RESET,
        "ann",
        {"volumes": ["home"]},
    )
    assert record_request(handler(declared=[]), trail) == 0  # a platform route that did nothing


async def test_nobody_signed_in_is_not_recorded(trail, store):
    assert record_request(handler(user=None), trail) == 0
    await trail.settle()
    assert store.entries == []


async def test_a_service_acts_under_its_own_name(trail, store):
    record_request(handler(user="culler", kind="service"), trail)
    await trail.settle()
    assert store.entries[0].actor == "service:culler"


def test_the_actor_of_a_request_that_never_learnt_who_sent_it_is_nobody():
    class Unprepared:
        @property
        def current_user(self):
            raise RuntimeError("Must call async get_current_user first!")

    assert actor_of(Unprepared()) == ""
    assert actor_of(SimpleNamespace(current_user=SimpleNamespace(name=""))) == ""


def test_a_route_is_relative_to_the_hubs_prefix():
    made = handler(path="/prefix/hub/api/users/ann")
    made.settings = {"hub": SimpleNamespace(base_url="/prefix/hub/")}
    assert hub_route(made) == "api/users/ann"
    assert hub_route(handler(path="/user/ann/lab")) == ""


async def test_requests_outside_the_hub_or_not_actions_are_not_recorded(trail, store):
    assert record_request(handler(path="/user/ann/api/contents"), trail) == 0
    assert record_request(handler(method="HEAD"), trail) == 0
    assert record_request(handler(method="GET"), trail) == 0
    await trail.settle()
    assert store.entries == []


async def test_the_wrapped_log_function_logs_first_and_never_raises(trail, store):
    logged = []
    wrapped = audited(logged.append, trail)
    assert wrapped.audit_trail is trail
    broken = handler()
    broken.get_status = None  # recording it raises
    wrapped(broken)
    assert logged == [broken]
    assert trail.failed == 1
    wrapped(handler())
    await trail.settle()
    assert len(store.entries) == 1


async def test_a_store_failure_never_reaches_the_request(trail, store):
    store.unavailable = True
    audited(lambda _: None, trail)(handler())
    await trail.settle()
    assert (trail.recorded, trail.failed) == (0, 1)
