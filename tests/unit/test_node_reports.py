"""The node reports' rules: slots counted from the epoch, when a sampler reports next, a
report's age and when a node is stale."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.node_reports import (
    STALE_AFTER_SLOTS,
    NodeReport,
    is_stale,
    next_report_at,
    report_age,
    report_slot,
)
from tests.strategies import EPOCH, durations, instants

UNIX = datetime(1970, 1, 1, tzinfo=timezone.utc)
TEN = timedelta(seconds=10)
intervals = durations(timedelta(microseconds=1), timedelta(days=2))


def report(taken_at: datetime) -> NodeReport:
    return NodeReport(node="node-a", slot=report_slot(taken_at, TEN), taken_at=taken_at)


# --- report_slot -------------------------------------------------------------------------


@given(instants(), intervals)
def test_a_time_falls_in_its_slot(taken_at, interval):
    slot = report_slot(taken_at, interval)
    assert slot <= taken_at < slot + interval
    assert (slot - UNIX) % interval == timedelta(0)  # slots are counted from the Unix epoch
    assert slot.tzinfo is timezone.utc


@given(instants(), intervals)
def test_every_time_of_a_slot_has_that_slot(taken_at, interval):
    slot = report_slot(taken_at, interval)
    assert report_slot(slot, interval) == slot
    assert report_slot(slot + interval - timedelta(microseconds=1), interval) == slot
    assert report_slot(slot + interval, interval) == slot + interval
    assert report_slot(slot - timedelta(microseconds=1), interval) == slot - interval


@given(instants(), intervals, st.sampled_from([-5, 2, 9, -12]))
def test_a_times_offset_does_not_change_its_slot(taken_at, interval, hours):
    shifted = taken_at.astimezone(timezone(timedelta(hours=hours)))
    assert report_slot(shifted, interval) == report_slot(taken_at, interval)


def test_slots_by_example():
    at = datetime(2026, 12, 6, 17, 5, 39, 250_000, tzinfo=timezone.utc)
    assert report_slot(at, TEN) == datetime(2026, 12, 6, 17, 5, 30, tzinfo=timezone.utc)
    assert report_slot(at, timedelta(hours=1)) == datetime(2026, 12, 6, 17, tzinfo=timezone.utc)
    # Slots of 7 s from the epoch: 1_796_576_739 s is 256_653_819 slots and 6 s.
    assert report_slot(at, timedelta(seconds=7)) == UNIX + timedelta(seconds=1_796_576_733)
    assert report_slot(UNIX, TEN) == UNIX
    assert report_slot(UNIX - timedelta(microseconds=1), TEN) == UNIX - TEN


@pytest.mark.parametrize("interval", [timedelta(0), -TEN, timedelta(microseconds=-1)])
def test_an_interval_that_is_not_positive_is_refused(interval):
    with pytest.raises(ValueError, match=r"^the sampling interval must be positive$"):
        report_slot(EPOCH, interval)


def test_the_smallest_interval_is_allowed():
    assert report_slot(EPOCH, timedelta(microseconds=1)) == EPOCH


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match=r"^a report's time must be timezone-aware$"):
        report_slot(EPOCH.replace(tzinfo=None), TEN)


# --- next_report_at ----------------------------------------------------------------------


@given(instants(), durations(timedelta(microseconds=2), timedelta(days=2)))
def test_the_next_report_is_in_the_middle_of_the_next_slot(now, interval):
    at = next_report_at(now, interval)
    slot = report_slot(now, interval)
    assert report_slot(at, interval) == slot + interval
    assert at - (slot + interval) == interval / 2
    assert now < at


def test_the_next_report_by_example():
    at = EPOCH + timedelta(seconds=3)
    assert next_report_at(at, TEN) == EPOCH + timedelta(seconds=15)
    assert next_report_at(EPOCH, TEN) == EPOCH + timedelta(seconds=15)
    assert next_report_at(EPOCH + timedelta(seconds=15), TEN) == EPOCH + timedelta(seconds=15 + 10)


# --- age and staleness -------------------------------------------------------------------


def test_the_age_is_the_time_since_the_report_was_taken():
    taken = EPOCH + timedelta(seconds=3)
    assert report_age(report(taken), taken + timedelta(seconds=42)) == timedelta(seconds=42)
    assert report_age(report(taken), taken) == timedelta(0)


def test_a_report_from_the_future_is_just_now():
    taken = EPOCH + timedelta(seconds=3)
    assert report_age(report(taken), taken - timedelta(seconds=5)) == timedelta(0)


def test_a_report_is_stale_only_past_the_slots_allowed():
    taken = EPOCH + timedelta(seconds=3)
    limit = taken + STALE_AFTER_SLOTS * TEN
    assert STALE_AFTER_SLOTS == 3
    assert not is_stale(report(taken), taken, TEN)
    assert not is_stale(report(taken), limit, TEN)
    assert is_stale(report(taken), limit + timedelta(microseconds=1), TEN)
    assert not is_stale(report(taken), taken - timedelta(days=1), TEN)


@given(instants(), durations(timedelta(0), timedelta(days=1)), intervals)
def test_staleness_is_age_against_the_slots_allowed(taken, age, interval):
    assert is_stale(report(taken), taken + age, interval) == (age > STALE_AFTER_SLOTS * interval)
