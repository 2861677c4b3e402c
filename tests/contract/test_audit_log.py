"""Contract of the AuditLog port: the fake, SQLite and PostgreSQL keep entries exactly, give
growing ids, page newest first by a stable cursor with every filter, count by action and
outcome, and prune by age."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stellars.adapters.memory import InMemoryAuditLog
from stellars.adapters.sql import SqlAuditLog
from stellars.domain.audit import (
    DETAIL_LIMIT,
    PAGE_LIMIT,
    AuditAction,
    AuditCursor,
    AuditEntry,
    AuditOutcome,
    AuditQuery,
)
from stellars.domain.errors import InvalidValue
from tests.contract.sql import SQL_KINDS, sql_database
from tests.strategies import EPOCH

AT = EPOCH + timedelta(days=3, microseconds=123_456)


@pytest.fixture(params=["memory", *SQL_KINDS])
def log(request, tmp_path):
    """A fresh, empty log, one per implementation."""
    if request.param == "memory":
        yield InMemoryAuditLog()
        return
    with sql_database(request, request.param, tmp_path) as database:
        yield SqlAuditLog(database)


def entry(actor: str = "admin", action: AuditAction = AuditAction.VOLUME_RESET, **fields):
    values: dict[str, object] = {"at": AT, "target": "alice", "address": "10.0.0.7", **fields}
    return AuditEntry(actor=actor, action=action, **values)  # type: ignore[arg-type]


async def test_an_empty_log_has_an_empty_last_page(log):
    page = await log.page(AuditQuery())
    assert (page.entries, page.next_before) == ((), None)
    assert await log.counts() == {}


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"target": "", "subject": "", "address": "", "details": {}},
        {"subject": "gpu", "outcome": AuditOutcome.REFUSED, "detail": "é" * DETAIL_LIMIT},
        {"address": "2001:db8::1", "outcome": AuditOutcome.FAILED, "detail": "engine away"},
        {"details": {"total": 3, "failed": 1, "ratio": 0.5, "names": ["a", "b"], "x": None}},
        {"actor": "a" * 255, "target": "t" * 255, "subject": "s" * 255},
    ],
)
async def test_an_entry_round_trips_exactly(log, fields):
    recorded = await log.record(entry(**fields))
    assert recorded.id >= 1
    page = await log.page(AuditQuery())
    assert page.entries == (entry(**fields, id=recorded.id),)


async def test_ids_grow_and_a_page_is_newest_first(log):
    ids = [(await log.record(entry(subject=str(n)))).id for n in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5
    page = await log.page(AuditQuery())
    assert [e.id for e in page.entries] == ids[::-1]
    assert [e.subject for e in page.entries] == ["4", "3", "2", "1", "0"]


async def test_paging_by_cursor_visits_every_entry_once_even_while_recording(log):
    ids = [(await log.record(entry(subject=str(n)))).id for n in range(7)]
    first = await log.page(AuditQuery(limit=3))
    assert [e.id for e in first.entries] == ids[6:3:-1]
    assert first.next_before == AuditCursor(AT, ids[4])
    await log.record(entry(subject="late"))  # a new entry does not shift the next pages
    second = await log.page(AuditQuery(limit=3, before=first.next_before))
    assert [e.id for e in second.entries] == ids[3:0:-1]
    third = await log.page(AuditQuery(limit=3, before=second.next_before))
    assert [e.id for e in third.entries] == [ids[0]]
    assert third.next_before is None


async def test_a_full_last_page_says_it_is_the_last(log):
    ids = [(await log.record(entry())).id for _ in range(4)]
    first = await log.page(AuditQuery(limit=2))
    assert first.next_before == AuditCursor(AT, ids[2])
    last = await log.page(AuditQuery(limit=2, before=first.next_before))
    assert [e.id for e in last.entries] == [ids[1], ids[0]]
    assert last.next_before is None


async def test_a_user_filter_matches_the_actor_or_the_target(log):
    a = await log.record(entry("alice", target=""))  # alice acting on the platform
    b = await log.record(entry("admin", target="alice"))  # on alice
    await log.record(entry("admin", target="bob"))
    c = await log.record(entry("alice", target="alice"))  # on herself: listed once
    await log.record(entry("alicia", target="alic"))  # no prefix match
    page = await log.page(AuditQuery(user="alice"))
    assert [e.id for e in page.entries] == [c.id, b.id, a.id]
    assert page.next_before is None
    paged = await log.page(AuditQuery(user="alice", limit=2))
    assert [e.id for e in paged.entries] == [c.id, b.id]
    assert paged.next_before == AuditCursor(AT, b.id)
    rest = await log.page(AuditQuery(user="alice", limit=2, before=paged.next_before))
    assert ([e.id for e in rest.entries], rest.next_before) == ([a.id], None)


async def test_pages_are_newest_first_by_time_then_id_whatever_order_they_came_in(log):
    late = timedelta(microseconds=1)
    first = await log.record(entry(at=AT))  # written first, but a moment after the next one
    early = await log.record(entry(at=AT - late))
    same = await log.record(entry(at=AT))
    newer = await log.record(entry(at=AT + late))
    page = await log.page(AuditQuery(limit=2))
    assert [e.id for e in page.entries] == [newer.id, same.id]
    assert page.next_before == AuditCursor(AT, same.id)
    rest = await log.page(AuditQuery(limit=2, before=page.next_before))
    assert [e.id for e in rest.entries] == [first.id, early.id]
    assert rest.next_before is None
    tail = await log.page(AuditQuery(before=AuditCursor(AT, first.id)))
    assert [e.id for e in tail.entries] == [early.id]


async def test_an_action_filter(log):
    reset = await log.record(entry(action=AuditAction.VOLUME_RESET))
    await log.record(entry(action=AuditAction.USER_DELETED))
    page = await log.page(AuditQuery(action=AuditAction.VOLUME_RESET))
    assert [e.id for e in page.entries] == [reset.id]


async def test_a_time_range_includes_since_and_excludes_until(log):
    times = [AT + timedelta(microseconds=n) for n in range(4)]
    ids = [(await log.record(entry(at=t))).id for t in times]
    page = await log.page(AuditQuery(since=times[1], until=times[3]))
    assert [e.id for e in page.entries] == [ids[2], ids[1]]
    assert [e.id for e in (await log.page(AuditQuery(since=times[3]))).entries] == [ids[3]]
    assert [e.id for e in (await log.page(AuditQuery(until=times[1]))).entries] == [ids[0]]


async def test_filters_combine(log):
    await log.record(entry("admin", AuditAction.USER_DELETED, target="alice"))
    wanted = await log.record(entry("admin", AuditAction.VOLUME_RESET, target="alice"))
    await log.record(entry("admin", AuditAction.VOLUME_RESET, target="bob"))
    await log.record(entry("admin", AuditAction.VOLUME_RESET, target="alice", at=AT - timedelta(1)))
    query = AuditQuery(user="alice", action=AuditAction.VOLUME_RESET, since=AT)
    assert [e.id for e in (await log.page(query)).entries] == [wanted.id]


async def test_a_page_holds_at_most_the_largest_limit(log):
    for _ in range(PAGE_LIMIT + 1):
        await log.record(entry())
    page = await log.page(AuditQuery(limit=PAGE_LIMIT))
    assert len(page.entries) == PAGE_LIMIT
    assert page.next_before == AuditCursor.of(page.entries[-1])


async def test_counts_by_action_and_outcome(log):
    await log.record(entry(action=AuditAction.VOLUME_RESET))
    await log.record(entry(action=AuditAction.VOLUME_RESET))
    await log.record(entry(action=AuditAction.VOLUME_RESET, outcome=AuditOutcome.REFUSED))
    await log.record(entry(action=AuditAction.BROADCAST_SENT, outcome=AuditOutcome.FAILED))
    assert await log.counts() == {
        (AuditAction.VOLUME_RESET, AuditOutcome.OK): 2,
        (AuditAction.VOLUME_RESET, AuditOutcome.REFUSED): 1,
        (AuditAction.BROADCAST_SENT, AuditOutcome.FAILED): 1,
    }


async def test_prune_deletes_at_or_before_the_cutoff_and_ids_are_not_reused(log):
    old = await log.record(entry(at=AT - timedelta(microseconds=1)))
    edge = await log.record(entry(at=AT))
    kept = await log.record(entry(at=AT + timedelta(microseconds=1)))
    assert await log.prune(older_than=AT) == 2
    assert await log.prune(older_than=AT) == 0
    assert [e.id for e in (await log.page(AuditQuery())).entries] == [kept.id]
    assert old.id < edge.id < kept.id
    after = await log.record(entry())
    assert after.id > kept.id
    assert await log.counts() == {(AuditAction.VOLUME_RESET, AuditOutcome.OK): 2}


async def test_a_naive_cutoff_is_refused(log):
    with pytest.raises(InvalidValue) as raised:
        await log.prune(older_than=AT.replace(tzinfo=None))
    assert raised.value.field == "older_than"


_users = st.sampled_from(["alice", "bob", "carol"])
_actions = st.sampled_from([AuditAction.VOLUME_RESET, AuditAction.USER_DELETED])
_entries = st.lists(
    st.tuples(_users, _users | st.just(""), _actions, st.integers(0, 5)), max_size=12
)


@settings(
    max_examples=15,
    deadline=None,  # a fresh SQLite database per example
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rows=_entries,
    user=_users | st.just(""),
    action=st.none() | _actions,
    since=st.none() | st.integers(0, 5),
    limit=st.integers(1, 4),
)
async def test_paging_through_any_filter_lists_exactly_the_matching_entries(
    tmp_path_factory, rows, user, action, since, limit
):
    """Against the domain's own rule (AuditQuery.matches), on SQLite and the fake alike."""
    from stellars.adapters.sql import SqlDatabase, create_store_engine

    path = tmp_path_factory.mktemp("audit") / "stellars.sqlite"
    database = SqlDatabase(create_store_engine(f"sqlite:///{path}"))
    try:
        for log in (InMemoryAuditLog(), SqlAuditLog(database)):
            recorded = [
                await log.record(entry(a, act, target=t, at=AT + timedelta(hours=h)))
                for a, t, act, h in rows
            ]
            start = None if since is None else AT + timedelta(hours=since)
            query = AuditQuery(user=user, action=action, since=start, limit=limit)
            newest_first = sorted(recorded, key=lambda e: (e.at, e.id), reverse=True)
            expected = [e.id for e in newest_first if query.matches(e)]
            seen: list[int] = []
            page = await log.page(query)
            seen += [e.id for e in page.entries]
            while page.next_before is not None:
                page = await log.page(
                    AuditQuery(
                        user=user,
                        action=action,
                        since=start,
                        limit=limit,
                        before=page.next_before,
                    )
                )
                seen += [e.id for e in page.entries]
            assert seen == expected
    finally:
        database.close()
