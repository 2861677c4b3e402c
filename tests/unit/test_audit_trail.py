"""The audit trail service: noting never waits nor fails, a store failure is counted, the
feed reads back as pages, CSV and broadcast history, and the prune keeps the retention."""

from __future__ import annotations

import csv
import io
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
