"""Contract of the SessionStore port."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stellars.adapters.memory import InMemorySessionStore
from stellars.adapters.sql import SqlSessionStore
from stellars.domain.sessions import SessionDeadline
from tests.contract.sql import SQL_KINDS, sql_database
from tests.strategies import EPOCH

STARTED = EPOCH + timedelta(days=1)


@pytest.fixture(params=["memory", *SQL_KINDS])
def store(request, tmp_path):
    """A fresh, empty store, one per implementation."""
    if request.param == "memory":
        yield InMemorySessionStore()
        return
    with sql_database(request, request.param, tmp_path) as database:
        yield SqlSessionStore(database)


def deadline(user="alice", server="", hours=2, started=STARTED) -> SessionDeadline:
    return SessionDeadline(user, server, started, STARTED + timedelta(hours=hours))


async def test_unknown_deadlines_are_none(store):
    assert await store.get("alice") is None
    assert await store.all_deadlines() == []


async def test_put_then_get_round_trips_exactly(store):
    await store.put(deadline(hours=3))
    assert await store.get("alice") == deadline(hours=3)


async def test_put_replaces_the_deadline_of_the_same_server(store):
    await store.put(deadline(hours=3))
    await store.put(deadline(hours=5, started=STARTED + timedelta(minutes=1)))
    assert await store.get("alice") == deadline(hours=5, started=STARTED + timedelta(minutes=1))
    assert len(await store.all_deadlines()) == 1


async def test_servers_are_kept_apart(store):
    await store.put(deadline(server=""))
    await store.put(deadline(server="gpu", hours=4))
    assert (await store.get("alice", "gpu")).cull_at == STARTED + timedelta(hours=4)
    assert [(d.username, d.server_name) for d in await store.all_deadlines()] == [
        ("alice", ""),
        ("alice", "gpu"),
    ]


async def test_a_deadline_without_a_start_time_round_trips(store):
    await store.put(deadline(started=None))
    assert (await store.get("alice")).started is None


async def test_delete_reports_whether_there_was_one(store):
    await store.put(deadline())
    assert await store.delete("alice") is True
    assert await store.delete("alice") is False


async def test_rename_moves_every_server_and_replaces_the_targets(store):
    await store.put(deadline(user="old", server=""))
    await store.put(deadline(user="old", server="gpu"))
    await store.put(deadline(user="new", server="", hours=9))
    assert await store.rename_user("old", "new") == 2
    assert await store.get("old") is None
    assert (await store.get("new")).cull_at == STARTED + timedelta(hours=2)
    assert await store.get("new", "gpu") is not None


async def test_delete_user_removes_all_of_their_deadlines(store):
    await store.put(deadline(server=""))
    await store.put(deadline(server="gpu"))
    await store.put(deadline(user="bob"))
    assert await store.delete_user("alice") == 2
    assert [d.username for d in await store.all_deadlines()] == ["bob"]


async def test_renaming_a_user_onto_itself_keeps_the_deadlines(store):
    await store.put(deadline(server=""))
    await store.put(deadline(server="gpu"))
    assert await store.rename_user("alice", "alice") == 2
    assert len(await store.all_deadlines()) == 2
