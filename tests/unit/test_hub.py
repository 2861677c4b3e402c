"""Tests for `stellars.domain.hub` and `stellars.domain.routes`: plain values of the hub."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stellars.domain.errors import InvalidValue
from stellars.domain.hub import DEFAULT_SERVER, Actor, HubUser, ServerSnapshot
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
