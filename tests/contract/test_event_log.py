"""Contract of the EventLog port."""

from __future__ import annotations

import asyncio
from datetime import timedelta, timezone

import pytest

from stellars.adapters.memory import InMemoryEventLog
from stellars.adapters.sql import SqlEventLog
from stellars.domain.errors import InvalidValue
from stellars.domain.events import PlatformEvent
from tests.contract.sql import SQL_KINDS, sql_database
from tests.strategies import EPOCH


@pytest.fixture(params=["memory", *SQL_KINDS])
def log(request, tmp_path):
    """A fresh, empty event log, one per implementation."""
    if request.param == "memory":
        yield InMemoryEventLog()
        return
    with sql_database(request, request.param, tmp_path) as database:
        yield SqlEventLog(database)


def tick(minutes: float, outcome: str = "ok", seconds: float = 0.25) -> PlatformEvent:
    return PlatformEvent("sampler-tick", EPOCH + timedelta(minutes=minutes), outcome, seconds)


async def test_an_empty_log_has_no_events(log):
    assert await log.since(0) == []
    assert await log.prune(older_than=EPOCH + timedelta(days=1)) == 0


async def test_recorded_events_get_growing_ids_and_come_back_unchanged(log):
    first = await log.record(tick(0))
    second = await log.record(PlatformEvent("cull", EPOCH + timedelta(minutes=1), "max-age"))
    assert 0 < first.id < second.id
    assert first == PlatformEvent("sampler-tick", EPOCH, "ok", 0.25, id=first.id)
    assert await log.since(0) == [first, second]


async def test_since_resumes_after_an_id_in_id_order_up_to_a_limit(log):
    events = [await log.record(tick(minute)) for minute in range(5)]
    assert await log.since(events[1].id) == events[2:]
    assert await log.since(events[0].id, limit=2) == events[1:3]
    assert await log.since(events[-1].id) == []
    assert await log.since(0, limit=1) == events[:1]


async def test_a_limit_below_one_is_refused(log):
    with pytest.raises(InvalidValue, match="limit"):
        await log.since(0, limit=0)


async def test_the_id_of_an_event_to_record_is_ignored(log):
    recorded = await log.record(PlatformEvent("cull", EPOCH, "idle", id=999))
    again = await log.record(PlatformEvent("cull", EPOCH, "idle", id=1))
    assert again.id > recorded.id
    assert [event.id for event in await log.since(0)] == [recorded.id, again.id]


async def test_times_and_durations_keep_their_precision_and_come_back_in_utc(log):
    two_hours_east = timezone(timedelta(hours=2))
    at = (EPOCH + timedelta(microseconds=123_457)).astimezone(two_hours_east)
    recorded = await log.record(PlatformEvent("sampler-tick", at, "failed", 1.0 / 3.0))
    (got,) = await log.since(0)
    assert got == recorded
    assert got.at == EPOCH + timedelta(microseconds=123_457)
    assert got.at.utcoffset() == timedelta(0)
    assert got.seconds == 1.0 / 3.0


async def test_prune_deletes_events_at_or_before_the_cutoff(log):
    events = [await log.record(tick(minute)) for minute in range(6)]
    assert await log.prune(older_than=EPOCH + timedelta(minutes=2)) == 3
    assert await log.since(0) == events[3:]
    assert await log.prune(older_than=EPOCH + timedelta(minutes=2)) == 0


async def test_ids_are_never_reused_not_even_after_pruning_everything(log):
    events = [await log.record(tick(minute)) for minute in range(3)]
    assert await log.prune(older_than=EPOCH + timedelta(days=1)) == 3
    later = await log.record(tick(10))
    assert later.id > events[-1].id
    assert await log.since(events[-1].id) == [later]


async def test_long_labels_up_to_their_limits_are_kept(log):
    event = PlatformEvent("k" * 32, EPOCH, "o" * 64, 12.5)
    recorded = await log.record(event)
    assert await log.since(0) == [recorded]


async def test_events_recorded_at_once_all_get_their_own_id(log):
    recorded = await asyncio.gather(*(log.record(tick(minute)) for minute in range(8)))
    ids = [event.id for event in recorded]
    assert len(set(ids)) == 8
    assert [event.id for event in await log.since(0)] == sorted(ids)
