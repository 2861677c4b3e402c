"""Contract of the ServerStopStore port: the fake, SQLite and PostgreSQL keep the last stop of
each server exactly, replace it, forget it, and follow renamed and deleted users."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stellars.adapters.memory import InMemoryServerStopStore
from stellars.adapters.sql import SqlServerStopStore
from stellars.domain.errors import InvalidValue
from stellars.domain.stops import (
    ACTOR_LIMIT,
    DETAIL_LIMIT,
    LOG_LINE_LIMIT,
    LOG_TAIL_LINES,
    ServerStop,
    StopReason,
)
from tests.contract.sql import SQL_KINDS, sql_database
from tests.strategies import EPOCH

AT = EPOCH + timedelta(days=3, microseconds=123_456)
#: The longest log tail a stop keeps: every line at its limit, as many as it keeps.
FULL_LOG = "\n".join(chr(ord("a") + n % 26) * LOG_LINE_LIMIT for n in range(LOG_TAIL_LINES))


@pytest.fixture(params=["memory", *SQL_KINDS])
def store(request, tmp_path):
    """A fresh, empty store, one per implementation."""
    if request.param == "memory":
        yield InMemoryServerStopStore()
        return
    with sql_database(request, request.param, tmp_path) as database:
        yield SqlServerStopStore(database)


def stop(user: str = "alice", server: str = "", **fields: object) -> ServerStop:
    values: dict[str, object] = {
        "at": AT,
        "reason": StopReason.OUT_OF_MEMORY,
        "exit_code": 137,
        "memory_limit": 4 * 2**30,
        "detail": "",
        **fields,
    }
    return ServerStop(username=user, server=server, **values)  # type: ignore[arg-type]


async def test_an_unknown_server_has_no_stop(store):
    assert await store.last("alice") is None
    assert await store.last("alice", "gpu") is None


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"reason": StopReason.EXITED, "exit_code": 0, "memory_limit": None},
        {"reason": StopReason.EXITED, "exit_code": -1, "detail": "é" * DETAIL_LIMIT},
        {"exit_code": None, "memory_limit": 2**50},  # a limit past 32 bits
        {"exit_code": 2**31 - 1, "memory_limit": 1},
        # 0008: who asked, since when idle, the log's tail
        {"reason": StopReason.STOPPED_BY_ADMIN, "exit_code": None, "actor": "b" * ACTOR_LIMIT},
        {"reason": StopReason.STOPPED_BY_USER, "actor": "alice", "memory_limit": None},
        {"reason": StopReason.STOPPED_BY_SERVICE, "actor": "idle-culler"},
        {"reason": StopReason.RESTARTED, "actor": "ré"},
        {"reason": StopReason.CULLED, "idle_since": AT - timedelta(days=1, microseconds=7)},
        {"reason": StopReason.CULLED, "idle_since": None},
        {"reason": StopReason.MAX_AGE, "exit_code": None, "memory_limit": None},
        {"reason": StopReason.ENGINE_LOST, "exit_code": None, "detail": "gone"},
        {"reason": StopReason.EXITED, "exit_code": 1, "log_tail": FULL_LOG},
        {"reason": StopReason.EXITED, "exit_code": 1, "log_tail": "<b>&\n\n'x'\t\u00e9"},
    ],
)
async def test_a_stop_round_trips_exactly(store, fields):
    await store.record(stop(**fields))
    assert await store.last("alice") == stop(**fields)


async def test_the_longest_log_tail_is_kept_whole(store):
    await store.record(stop(reason=StopReason.EXITED, log_tail=FULL_LOG))
    kept = await store.last("alice")
    assert kept.log_tail == FULL_LOG and len(kept.log_tail) == 50 * 301 - 1


async def test_a_replacing_stop_leaves_nothing_of_the_last(store):
    await store.record(
        stop(reason=StopReason.CULLED, idle_since=AT - timedelta(hours=2), detail="d")
    )
    await store.record(stop(reason=StopReason.STOPPED_BY_ADMIN, actor="bob"))
    assert await store.last("alice") == stop(reason=StopReason.STOPPED_BY_ADMIN, actor="bob")
    await store.record(stop(reason=StopReason.EXITED, log_tail="x"))
    assert await store.last("alice") == stop(reason=StopReason.EXITED, log_tail="x")


async def test_the_next_stop_replaces_the_last(store):
    await store.record(stop())
    later = stop(at=AT + timedelta(hours=1), reason=StopReason.EXITED, exit_code=1, detail="x")
    await store.record(later)
    assert await store.last("alice") == later


async def test_servers_and_users_are_kept_apart(store):
    await store.record(stop("alice", ""))
    await store.record(stop("alice", "gpu", exit_code=1))
    await store.record(stop("bob", "", exit_code=2))
    assert (await store.last("alice")).exit_code == 137
    assert (await store.last("alice", "gpu")).exit_code == 1
    assert (await store.last("bob")).exit_code == 2


async def test_every_last_stop_of_one_server_name_by_username(store):
    assert await store.every_last() == []
    await store.record(stop("carol", "", exit_code=3))
    await store.record(stop("alice", "", reason=StopReason.STOPPED_BY_USER, actor="alice"))
    await store.record(stop("alice", "gpu", exit_code=1))
    await store.record(stop("bob", "gpu"))
    assert await store.every_last() == [
        stop("alice", "", reason=StopReason.STOPPED_BY_USER, actor="alice"),
        stop("carol", "", exit_code=3),
    ]
    assert await store.every_last("gpu") == [stop("alice", "gpu", exit_code=1), stop("bob", "gpu")]
    assert await store.every_last("other") == []


async def test_forget_says_whether_there_was_one(store):
    await store.record(stop("alice", "gpu"))
    assert await store.forget("alice", "gpu") is True
    assert await store.forget("alice", "gpu") is False
    assert await store.last("alice", "gpu") is None


async def test_forgetting_one_server_keeps_the_others(store):
    await store.record(stop("alice", ""))
    await store.record(stop("alice", "gpu"))
    assert await store.forget("alice") is True
    assert await store.last("alice", "gpu") == stop("alice", "gpu")


async def test_a_rename_moves_every_server_and_replaces_the_targets(store):
    await store.record(stop("old", ""))
    await store.record(stop("old", "gpu", exit_code=1))
    await store.record(stop("new", "", exit_code=9))
    await store.record(stop("new", "other"))
    assert await store.rename_user("old", "new") == 2
    assert await store.last("old") is None
    assert await store.last("new") == stop("new", "")
    assert await store.last("new", "gpu") == stop("new", "gpu", exit_code=1)
    assert await store.last("new", "other") is None  # the new name's own stops went


async def test_a_rename_to_the_same_name_changes_nothing(store):
    await store.record(stop("alice", ""))
    await store.record(stop("alice", "gpu"))
    assert await store.rename_user("alice", "alice") == 2
    assert await store.last("alice") == stop("alice", "")


async def test_deleting_a_user_forgets_all_of_their_stops(store):
    await store.record(stop("alice", ""))
    await store.record(stop("alice", "gpu"))
    await store.record(stop("bob", ""))
    assert await store.delete_user("alice") == 2
    assert await store.delete_user("alice") == 0
    assert await store.last("alice", "gpu") is None
    assert await store.last("bob") == stop("bob", "")


async def test_a_naive_time_never_reaches_a_store():
    with pytest.raises(InvalidValue):
        stop(at=AT.replace(tzinfo=None))
