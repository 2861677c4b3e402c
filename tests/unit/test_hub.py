"""Tests for `stellars.domain.hub` and `stellars.domain.routes`: plain values of the hub."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stellars.domain.errors import InvalidValue
from stellars.domain.hub import DEFAULT_SERVER, Actor, HubUser, ServerSnapshot, running_servers
from stellars.domain.routes import ProxyRoute, check_routespec
from tests.strategies import EPOCH

T = EPOCH + timedelta(days=1)


def snap(name: str = "", *, ready: bool = False, pending: str | None = None, last=None):
    return ServerSnapshot(
        username="alice", name=name, ready=ready, pending=pending, last_activity=last
    )


class TestServer:
    @pytest.mark.parametrize(
        ("ready", "pending", "running", "active"),
        [
            (True, None, True, True),
            (True, "stop", False, True),
            (False, "spawn", False, True),
            (False, None, False, False),
        ],
    )
    def test_running_and_active(self, ready, pending, running, active):
        server = snap(ready=ready, pending=pending)
        assert (server.running, server.active) == (running, active)

    def test_defaults(self):
        server = ServerSnapshot(username="alice")
        assert (server.name, server.ready, server.pending) == (DEFAULT_SERVER, False, None)
        assert (server.started, server.last_activity, server.url) == (None, None, None)
        assert DEFAULT_SERVER == ""


class TestUser:
    def test_the_default_server(self):
        default, named = snap(ready=True), snap("gpu", ready=True)
        assert HubUser(name="alice", servers={"gpu": named, "": default}).default_server is default
        assert HubUser(name="alice", servers={"gpu": named}).default_server is None

    def test_latest_activity_of_running_or_pending_servers(self):
        user = HubUser(
            name="alice",
            servers={
                "": snap(ready=True, last=T),
                "a": snap("a", pending="spawn", last=T + timedelta(hours=1)),
                "b": snap("b", last=T + timedelta(hours=5)),  # stopped: ignored
                "c": snap("c", ready=True, last=None),
            },
        )
        assert user.latest_server_activity() == T + timedelta(hours=1)

    def test_no_activity(self):
        assert HubUser(name="alice").latest_server_activity() is None
        stopped = HubUser(name="alice", servers={"": snap(last=T)})
        assert stopped.latest_server_activity() is None
        quiet = HubUser(name="alice", servers={"": snap(ready=True)})
        assert quiet.latest_server_activity() is None

    @pytest.mark.parametrize(
        ("servers", "running", "active"),
        [
            ({}, False, False),
            ({"": snap()}, False, False),
            ({"": snap(pending="spawn")}, False, True),
            ({"": snap(), "gpu": snap("gpu", ready=True)}, True, True),
            ({"": snap(ready=True, pending="stop")}, False, True),
        ],
    )
    def test_running_and_active_servers(self, servers, running, active):
        user = HubUser(name="alice", servers=servers)
        assert (user.has_running_server, user.has_active_server) == (running, active)

    def test_defaults(self):
        user = HubUser(name="alice")
        assert (user.admin, user.groups, dict(user.servers), user.last_activity) == (
            False,
            frozenset(),
            {},
            None,
        )


class TestActor:
    @pytest.mark.parametrize(
        ("actor", "username", "allowed"),
        [
            (Actor("alice"), "alice", True),
            (Actor("alice"), "bob", False),
            (Actor("alice"), "Alice", False),
            (Actor("root", admin=True), "bob", True),
            (Actor("root", admin=True), "root", True),
            (Actor("service-token", True), "anyone", True),
        ],
    )
    def test_admins_act_for_anyone_users_for_themselves(self, actor, username, allowed):
        assert actor.may_act_for(username) is allowed

    def test_not_an_admin_by_default(self):
        assert Actor("alice").admin is False


class TestRoutes:
    @pytest.mark.parametrize("spec", ["/", "/user/alice/favicon.ico/", "/hub/"])
    def test_a_path_between_slashes(self, spec):
        assert check_routespec(spec) == spec

    @pytest.mark.parametrize("spec", ["", "user/", "/user", "user", "x/"])
    def test_anything_else_is_refused(self, spec):
        with pytest.raises(InvalidValue) as error:
            check_routespec(spec)
        assert str(error.value) == f"routespec: must start and end with '/', got {spec!r}"

    def test_a_route_is_a_plain_value(self):
        route = ProxyRoute("/x/", "http://127.0.0.1:8081")
        assert route.data == {}
        assert route == ProxyRoute("/x/", "http://127.0.0.1:8081", {})


class TestRunningServers:
    def test_only_running_servers_in_user_order_then_by_server_name(self):
        bob = HubUser(
            name="bob",
            servers={
                "zeta": ServerSnapshot(username="bob", name="zeta", ready=True),
                "": ServerSnapshot(username="bob", ready=True),
                "gpu": ServerSnapshot(username="bob", name="gpu", ready=True, pending="stop"),
            },
        )
        ann = HubUser(
            name="ann", servers={"": ServerSnapshot(username="ann", ready=False, pending="spawn")}
        )
        cy = HubUser(name="cy", servers={"x": ServerSnapshot(username="cy", name="x", ready=True)})
        assert [(s.username, s.name) for s in running_servers([bob, ann, cy])] == [
            ("bob", ""),
            ("bob", "zeta"),
            ("cy", "x"),
        ]
        assert running_servers([]) == []


async def test_an_existing_user_or_not_found_naming_them():
    from stellars.adapters.memory import InMemoryHubDirectory
    from stellars.domain.errors import NotFound
    from stellars.domain.services import existing_user

    directory = InMemoryHubDirectory([HubUser(name="ann")])
    assert (await existing_user(directory, "ann")).name == "ann"
    with pytest.raises(NotFound) as missing:
        await existing_user(directory, "bob")
    assert str(missing.value) == "No user named 'bob'"
    with pytest.raises(NotFound) as missing:
        await existing_user(directory, "x" * 100_000)
    assert str(missing.value) == f"No user named '{'x' * 37}...'"
