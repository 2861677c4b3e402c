"""Turns for JupyterHub's own routes: which rules of the hub's Tornado application get a
turn-taking handler, and when such a handler takes its turn. The real hub is in
tests/integration/test_web_hardening.py (turns counted on JupyterHub's routes)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from jupyterhub import apihandlers, handlers
from jupyterhub.apihandlers.users import UserAPIHandler
from jupyterhub.handlers.base import BaseHandler
from tornado import web

from stellars.adapters.jupyterhub.web.base import StellarsAPIHandler
from stellars.adapters.jupyterhub.web.hub_routes import (
    TurnOnceSignedIn,
    signed_in,
    take_turns_on_hub_routes,
    taking_turns,
)
from stellars.adapters.jupyterhub.web.turns import Turns


class CountingTurns(Turns):
    def __init__(self) -> None:
        super().__init__()
        self.taken = 0

    async def take(self) -> None:
        self.taken += 1
        await super().take()


def hub_application(*extra: tuple[Any, ...]) -> web.Application:
    """A Tornado application over JupyterHub's own handler lists, as the hub builds it."""
    routes = [*extra, *handlers.default_handlers, *apihandlers.default_handlers]
    return web.Application([(f"/hub{route[0]}", *route[1:]) for route in routes])


def targets(application: web.Application) -> list[Any]:
    return [rule.target for rule in application.wildcard_router.rules]


class TestTheRulesThatChange:
    def test_every_jupyterhub_handler_route_gets_a_turn_taking_subclass(self):
        application = hub_application()
        before = targets(application)
        changed = take_turns_on_hub_routes(application, Turns())
        after = targets(application)
        assert changed == len(before) > 20
        for old, new in zip(before, after, strict=True):
            assert issubclass(new, old)
            assert issubclass(new, TurnOnceSignedIn)

    def test_the_subclass_keeps_its_parents_name_and_module_for_the_hubs_metrics(self):
        application = hub_application()
        take_turns_on_hub_routes(application, Turns())
        users = next(t for t in targets(application) if issubclass(t, UserAPIHandler))
        assert users is not UserAPIHandler
        assert (users.__module__, users.__name__, users.__qualname__) == (
            UserAPIHandler.__module__,
            "UserAPIHandler",
            "UserAPIHandler",
        )

    def test_one_subclass_per_handler_class_shared_by_its_routes(self):
        application = hub_application(("/first", UserAPIHandler), ("/second", UserAPIHandler))
        take_turns_on_hub_routes(application, Turns())
        first, second = targets(application)[:2]
        assert first is second

    def test_the_platforms_own_handlers_and_other_handlers_are_left_alone(self):
        application = hub_application(
            ("/api/activity", StellarsAPIHandler),
            ("/static/(.*)", web.StaticFileHandler, {"path": "/nowhere"}),
        )
        take_turns_on_hub_routes(application, Turns())
        assert targets(application)[:2] == [StellarsAPIHandler, web.StaticFileHandler]

    def test_applying_it_again_changes_nothing(self):
        application = hub_application()
        take_turns_on_hub_routes(application, Turns())
        once = targets(application)
        assert take_turns_on_hub_routes(application, Turns()) == 0
        assert targets(application) == once

    def test_routes_added_later_for_a_host_are_found_in_their_nested_router(self):
        application = web.Application([])
        application.add_handlers(r"hub\.example$", [("/hub/api/users/(.*)", UserAPIHandler)])
        assert take_turns_on_hub_routes(application, Turns()) == 1

    def test_jupyterhub_itself_is_not_changed(self):
        take_turns_on_hub_routes(hub_application(), Turns())
        listed = [route[1] for route in (*handlers.default_handlers, *apihandlers.default_handlers)]
        assert UserAPIHandler in listed
        assert not any(issubclass(handler, TurnOnceSignedIn) for handler in listed)


# --- when a handler takes its turn -------------------------------------------------------------


class FakeHubHandler:
    """Stands in for a JupyterHub handler: its `prepare` learns who calls, or refuses."""

    def __init__(self, user: str | None, *, finish: bool = False, method: str = "POST") -> None:
        self.request = SimpleNamespace(method=method)
        self.user = user
        self.finish_in_prepare = finish
        self.prepared = False
        self._finished = False

    async def prepare(self) -> None:
        self.prepared = True
        self._finished = self.finish_in_prepare

    @property
    def current_user(self) -> str | None:
        if not self.prepared:
            raise RuntimeError("Must call async get_current_user first!")
        return self.user


class SyncPrepareHandler(FakeHubHandler):
    def prepare(self) -> None:  # type: ignore[override]
        self.prepared = True


class NeverAsksHandler(FakeHubHandler):
    async def prepare(self) -> None:
        """Like a redirect handler: answers without asking who calls."""


def prepared(handler_class: type, *args: Any, **kwargs: Any) -> tuple[Any, int]:
    turns = CountingTurns()
    handler = taking_turns(handler_class, turns)(*args, **kwargs)
    asyncio.run(handler.prepare())
    return handler, turns.taken


@pytest.mark.parametrize(
    ("handler_class", "user", "finish", "method", "turns"),
    [
        (FakeHubHandler, "alice", False, "POST", 1),
        (FakeHubHandler, "alice", False, "DELETE", 1),
        (FakeHubHandler, "alice", False, "PATCH", 1),
        (FakeHubHandler, None, False, "POST", 0),
        (FakeHubHandler, "alice", True, "POST", 0),
        (FakeHubHandler, "alice", False, "GET", 0),
        (FakeHubHandler, "alice", False, "HEAD", 0),
        (FakeHubHandler, "alice", False, "OPTIONS", 0),
        (SyncPrepareHandler, "alice", False, "POST", 1),
        (NeverAsksHandler, "alice", False, "POST", 0),
    ],
    ids=[
        "signed-in POST: one turn",
        "signed-in DELETE: one turn",
        "signed-in PATCH: one turn",
        "anonymous: none",
        "answered in prepare: none",
        "a read (GET): none",
        "a read (HEAD): none",
        "a read (OPTIONS): none",
        "a parent prepare that is not a coroutine",
        "a handler that never asks who calls: none",
    ],
)
def test_a_turn_only_when_someone_signed_in_asks_for_a_change(
    handler_class, user, finish, method, turns
):
    handler, taken = prepared(handler_class, user, finish=finish, method=method)
    assert taken == turns
    assert handler.prepared is (handler_class is not NeverAsksHandler)


def test_the_turn_comes_after_authentication_not_before():
    order: list[str] = []

    class Recording(FakeHubHandler):
        async def prepare(self) -> None:
            order.append("prepare")
            await super().prepare()

    class RecordingTurns(Turns):
        async def take(self) -> None:
            order.append("turn")
            await super().take()

    handler = taking_turns(Recording, RecordingTurns())("alice")
    asyncio.run(handler.prepare())
    assert order == ["prepare", "turn"]


def test_signed_in_reads_a_real_jupyterhub_handler_that_never_prepared_as_no_one():
    handler = BaseHandler.__new__(BaseHandler)  # no request: only the property is read
    assert signed_in(handler) is False
