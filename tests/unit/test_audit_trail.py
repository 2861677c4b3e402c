"""The audit trail service: noting never waits nor fails, a store failure is counted, the
feed reads back as pages, CSV and broadcast history, and the prune keeps the retention."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from datetime import datetime, timedelta, timezone

import pytest

from stellars.adapters.memory import InMemoryAuditLog, ManualClock
from stellars.domain.audit import AuditAction, AuditCursor, AuditOutcome, AuditQuery
from stellars.domain.errors import InvalidValue
from stellars.domain.services import AuditTrail
from stellars.domain.services import audit as audit_module

NOW = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)


@pytest.fixture
def clock():
    return ManualClock(NOW)


@pytest.fixture
def store():
    return InMemoryAuditLog()


@pytest.fixture
def trail(store, clock):
    return AuditTrail(log=store, clock=clock, retention_days=30)


async def test_a_noted_action_is_stored_in_the_background_at_the_clocks_time(trail, store):
    trail.note(
        actor="admin",
        action=AuditAction.VOLUME_RESET,
        target="alice",
        subject="home",
        address="10.0.0.7",
        outcome=AuditOutcome.REFUSED,
        detail="server running",
        details={"volumes": ["home"]},
    )
    assert store.entries == []  # not yet: noting returned at once
    await trail.settle()
    [entry] = store.entries
    assert (entry.actor, entry.action, entry.target, entry.subject) == (
        "admin",
        AuditAction.VOLUME_RESET,
        "alice",
        "home",
    )
    assert (entry.at, entry.address, entry.outcome, entry.detail) == (
        NOW,
        "10.0.0.7",
        AuditOutcome.REFUSED,
        "server running",
    )
    assert entry.details == {"volumes": ["home"]}
    assert (trail.recorded, trail.failed) == (1, 0)


async def test_a_store_failure_is_counted_never_raised(trail, store):
    store.unavailable = True
    trail.note(actor="admin", action=AuditAction.USER_DELETED, target="bob")
    await trail.settle()
    assert (trail.recorded, trail.failed) == (0, 1)
    store.unavailable = False
    trail.note(actor="admin", action=AuditAction.USER_DELETED, target="bob")
    await trail.settle()
    assert (trail.recorded, trail.failed) == (1, 1)


async def test_an_entry_that_cannot_be_built_is_counted_never_raised(trail, store):
    trail.note(actor="", action=AuditAction.USER_DELETED)
    trail.note(actor="admin", action=AuditAction.USER_DELETED, address="not an address")
    await trail.settle()
    assert (trail.recorded, trail.failed, store.entries) == (0, 2, [])


def test_noting_without_a_running_loop_is_counted_never_raised(store, clock):
    trail = AuditTrail(log=store, clock=clock, retention_days=30)
    trail.note(actor="admin", action=AuditAction.USER_DELETED)
    assert trail.failed == 1


def test_a_bad_retention_is_refused_at_start(store, clock):
    with pytest.raises(InvalidValue):
        AuditTrail(log=store, clock=clock, retention_days=0)


async def test_the_prune_keeps_exactly_the_retention(trail, store, clock):
    for age in (31, 30, 29):
        clock.set(NOW - timedelta(days=age))
        trail.note(actor="admin", action=AuditAction.POLICY_CHANGED, detail=str(age))
    await trail.settle()
    clock.set(NOW)
    assert await trail.prune() == 2  # 31 days old, and exactly 30
    assert [entry.detail for entry in store.entries] == ["29"]
    assert await trail.prune() == 0


async def test_counts_and_pages_read_the_store(trail):
    for outcome in (AuditOutcome.OK, AuditOutcome.OK, AuditOutcome.FAILED):
        trail.note(actor="admin", action=AuditAction.SERVER_RESTARTED, outcome=outcome)
    await trail.settle()
    assert await trail.counts() == {
        (AuditAction.SERVER_RESTARTED, AuditOutcome.OK): 2,
        (AuditAction.SERVER_RESTARTED, AuditOutcome.FAILED): 1,
    }
    page = await trail.page(AuditQuery(limit=2))
    assert [entry.id for entry in page.entries] == [3, 2]
    assert page.next_before == AuditCursor(NOW, 2)


async def test_broadcast_history_lists_only_broadcasts_newest_first(trail):
    trail.note(actor="admin", action=AuditAction.BROADCAST_SENT, details={"total": 2})
    trail.note(actor="admin", action=AuditAction.USER_DELETED)
    trail.note(actor="admin", action=AuditAction.BROADCAST_SENT, details={"total": 5})
    await trail.settle()
    page = await trail.broadcasts(limit=1)
    assert [entry.details for entry in page.entries] == [{"total": 5}]
    rest = await trail.broadcasts(before=page.next_before)
    assert [entry.details for entry in rest.entries] == [{"total": 2}]
    assert rest.next_before is None


async def test_the_csv_holds_every_match_across_pages_and_says_when_it_was_cut(trail, monkeypatch):
    for n in range(7):
        trail.note(actor=f"user{n % 2}", action=AuditAction.USER_CREATED)
    await trail.settle()
    text, complete = await trail.csv(AuditQuery(user="user0", limit=1))
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert complete is True
    assert [row[0] for row in rows[1:]] == ["7", "5", "3", "1"]  # the page size does not cut
    monkeypatch.setattr(audit_module, "PAGE_LIMIT", 2)
    monkeypatch.setattr(audit_module, "CSV_LIMIT", 3)
    text, complete = await trail.csv(AuditQuery())
    assert complete is False
    assert [row[0] for row in csv.reader(io.StringIO(text, newline=""))][1:] == ["7", "6", "5"]
    monkeypatch.setattr(audit_module, "CSV_LIMIT", 7)
    text, complete = await trail.csv(AuditQuery())
    assert complete is True
    assert len(list(csv.reader(io.StringIO(text, newline="")))) == 8


LOGGER = "stellars.domain.services.audit"


def logged(caplog) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == LOGGER]


async def test_a_noted_action_without_its_optional_parts_leaves_them_empty(trail, store):
    trail.note(actor="admin", action=AuditAction.POLICY_CHANGED)
    await trail.settle()
    [entry] = store.entries
    assert (entry.target, entry.subject, entry.address, entry.detail) == ("", "", "", "")
    assert (entry.outcome, entry.details) == (AuditOutcome.OK, {})


async def test_every_stored_and_every_failed_entry_is_counted(trail, store):
    for _ in range(3):
        trail.note(actor="admin", action=AuditAction.USER_CREATED, target="bob")
    await trail.settle()
    assert (trail.recorded, trail.failed) == (3, 0)
    store.unavailable = True
    for _ in range(2):
        trail.note(actor="admin", action=AuditAction.USER_CREATED, target="bob")
    await trail.settle()
    assert (trail.recorded, trail.failed) == (3, 2)


async def test_an_entry_that_cannot_be_built_is_logged_with_the_reason(trail, caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        trail.note(actor="admin", action=AuditAction.USER_DELETED, address="nowhere")
        await trail.settle()
    assert logged(caplog) == [
        (
            "WARNING",
            f"audit: {AuditAction.USER_DELETED!s} by 'admin' not recorded: "
            "address: must be an IP address, got 'nowhere'",
        )
    ]


async def test_a_store_failure_is_logged_with_the_action_its_users_and_the_error(
    trail, store, caplog
):
    store.unavailable = True
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        trail.note(actor="admin", action=AuditAction.USER_DELETED, target="bob")
        await trail.settle()
    assert logged(caplog) == [
        ("WARNING", "audit: user-deleted by 'admin' on 'bob' not stored: audit log unavailable")
    ]


class CancelledLog(InMemoryAuditLog):
    """A store whose write is cancelled under it (the hub shutting down mid-write)."""

    async def record(self, entry):
        raise asyncio.CancelledError


async def test_settling_returns_when_a_write_was_cancelled(clock):
    trail = AuditTrail(log=CancelledLog(), clock=clock, retention_days=30)
    trail.note(actor="admin", action=AuditAction.USER_DELETED)
    try:
        await trail.settle()
    except asyncio.CancelledError:
        pytest.fail("settle passed a cancelled write's cancellation on to its caller")


async def test_the_prune_logs_how_many_it_deleted_and_nothing_when_none(trail, clock, caplog):
    for age in (40, 31):
        clock.set(NOW - timedelta(days=age))
        trail.note(actor="admin", action=AuditAction.POLICY_CHANGED)
    await trail.settle()
    clock.set(NOW)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert await trail.prune() == 2
        assert await trail.prune() == 0
    assert logged(caplog) == [("INFO", "audit: 2 entries older than 30 days pruned")]


async def test_the_csv_keeps_every_filter_and_the_cursor_of_its_query(trail, clock):
    notes = [  # id: minutes before NOW, action
        (40, AuditAction.USER_CREATED),  # 1: before since
        (30, AuditAction.USER_CREATED),  # 2
        (20, AuditAction.USER_DELETED),  # 3: another action
        (10, AuditAction.USER_CREATED),  # 4
        (5, AuditAction.USER_CREATED),  # 5: at until, which is exclusive
        (0, AuditAction.USER_CREATED),  # 6: after until
    ]
    for minutes, action in notes:
        clock.set(NOW - timedelta(minutes=minutes))
        trail.note(actor="admin", action=action)
    await trail.settle()

    def ids(text: str) -> list[str]:
        return [row[0] for row in csv.reader(io.StringIO(text, newline=""))][1:]

    filtered = AuditQuery(
        action=AuditAction.USER_CREATED,
        since=NOW - timedelta(minutes=30),
        until=NOW - timedelta(minutes=5),
        limit=1,
    )
    text, complete = await trail.csv(filtered)
    assert (ids(text), complete) == (["4", "2"], True)
    after_cursor = AuditQuery(before=AuditCursor(NOW - timedelta(minutes=10), 4), limit=1)
    text, complete = await trail.csv(after_cursor)
    assert (ids(text), complete) == (["3", "2", "1"], True)


async def test_broadcast_history_pages_twenty_at_a_time_by_default(trail):
    for n in range(21):
        trail.note(actor="admin", action=AuditAction.BROADCAST_SENT, details={"n": n})
    await trail.settle()
    page = await trail.broadcasts()
    assert [entry.details["n"] for entry in page.entries] == list(range(20, 0, -1))
    assert page.next_before == AuditCursor(NOW, 2)
