"""Who asked the hub: the requester of the request being handled, seen by the work it runs,
tasks it starts included, and by nothing outside it."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from stellars.adapters.jupyterhub.hub_objects import (
    Requester,
    acting_for,
    current_requester,
    requester_of,
)


def test_a_user_and_a_service():
    assert requester_of(SimpleNamespace(name="bob", kind="user")) == Requester("bob", False)
    assert requester_of(SimpleNamespace(name="cull", kind="service")) == Requester("cull", True)
    assert requester_of(SimpleNamespace(name="bob")) == Requester("bob", False)


def test_nobody_is_none():
    assert requester_of(None) is None
    assert requester_of(SimpleNamespace(name="", kind="user")) is None
    assert requester_of(SimpleNamespace(name=3, kind="user")) is None


async def test_the_work_of_a_request_and_its_tasks_see_it_and_nothing_after():
    assert current_requester() is None
    with acting_for(SimpleNamespace(name="bob", kind="user")) as who:
        assert who == Requester("bob") == current_requester()
        task = asyncio.ensure_future(asyncio.sleep(0, result=None))
        seen = asyncio.ensure_future(_seen())
        await task
    assert await seen == Requester("bob")
    assert current_requester() is None


async def test_nested_requests_restore_the_outer_one():
    with acting_for(SimpleNamespace(name="bob", kind="user")):
        with acting_for(SimpleNamespace(name="cull", kind="service")):
            assert current_requester() == Requester("cull", True)
        assert current_requester() == Requester("bob")


async def _seen() -> Requester | None:
    await asyncio.sleep(0)
    return current_requester()
