"""Usage history: daily activity counts turned into active hours, and the ranges one may ask for."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.activity import (
    ActivityPolicy,
    DailyActivity,
    DailyHours,
    active_hours,
    daily_hours,
    first_history_day,
    history_range,
)
from stellars.domain.errors import InvalidValue

POLICY = ActivityPolicy()  # 10-minute samples, 7 days kept
TODAY = date(2026, 3, 10)


def test_each_active_sample_stands_for_one_sample_interval():
    assert active_hours(0, POLICY) == 0.0
    assert active_hours(6, POLICY) == 1.0
    assert active_hours(1, POLICY) == 0.17  # 1/6 h
    assert active_hours(144, POLICY) == 24.0
    assert active_hours(1, ActivityPolicy(sample_interval_seconds=3600)) == 1.0


def test_hours_are_rounded_half_up_to_two_decimals():
    # 90 s = 0.025 h exactly: half up, whatever binary floats would make of it
    assert active_hours(1, ActivityPolicy(sample_interval_seconds=90)) == 0.03
    assert active_hours(3, ActivityPolicy(sample_interval_seconds=90)) == 0.08  # 0.075
    assert active_hours(1, ActivityPolicy(sample_interval_seconds=60)) == 0.02  # 0.01666


@given(
    active=st.integers(0, 10_000),
    interval=st.integers(60, 86_400),
)
def test_hours_are_the_nearest_hundredth(active, interval):
    hours = active_hours(active, ActivityPolicy(sample_interval_seconds=interval))
    exact = active * interval / 3600
    assert abs(hours - exact) <= 0.005 + 1e-9
    assert hours == round(hours, 2)


def test_daily_hours_keep_user_day_and_order():
    days = [
        DailyActivity("bob", date(2026, 3, 9), active_samples=48, samples=144),
        DailyActivity("alice", date(2026, 3, 8), active_samples=1, samples=2),
    ]
    assert daily_hours(days, POLICY) == [
        DailyHours("bob", date(2026, 3, 9), 8.0),
        DailyHours("alice", date(2026, 3, 8), 0.17),
    ]
    assert daily_hours([], POLICY) == []


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("samples", {"active_samples": 0, "samples": 0}),
        ("active_samples", {"active_samples": 3, "samples": 2}),
        ("active_samples", {"active_samples": -1, "samples": 2}),
        ("day", {"day": datetime(2026, 3, 9, tzinfo=timezone.utc)}),
    ],
)
def test_daily_activity_refuses_impossible_counts(field, values):
    arguments = {"username": "alice", "day": TODAY, "active_samples": 1, "samples": 1}
    with pytest.raises(InvalidValue) as raised:
        DailyActivity(**(arguments | values))
    assert raised.value.field == field


def test_the_first_history_day_is_the_oldest_day_inside_the_retention_window():
    assert first_history_day(TODAY, POLICY) == date(2026, 3, 4)
    assert first_history_day(TODAY, ActivityPolicy(retention_days=1)) == TODAY


def test_a_range_inside_the_window_is_returned_as_is():
    assert history_range(date(2026, 3, 4), TODAY, today=TODAY, policy=POLICY) == (
        date(2026, 3, 4),
        TODAY,
    )
    assert history_range(TODAY, TODAY, today=TODAY, policy=POLICY) == (TODAY, TODAY)


@pytest.mark.parametrize(
    ("start", "end", "field", "words"),
    [
        (date(2026, 3, 9), date(2026, 3, 8), "start", "after end"),
        (date(2026, 3, 9), date(2026, 3, 11), "end", "after today"),
        (date(2026, 3, 3), date(2026, 3, 8), "start", "2026-03-04 or later"),
        (datetime(2026, 3, 9, tzinfo=timezone.utc), TODAY, "start", "must be a date"),
        (TODAY, "2026-03-10", "end", "must be a date"),
    ],
)
def test_a_range_outside_the_rules_is_refused_naming_the_field(start, end, field, words):
    with pytest.raises(InvalidValue, match=words) as raised:
        history_range(start, end, today=TODAY, policy=POLICY)
    assert raised.value.field == field


@given(
    start=st.dates(date(2026, 2, 1), date(2026, 4, 1)),
    end=st.dates(date(2026, 2, 1), date(2026, 4, 1)),
    retention=st.integers(1, 365),
)
def test_a_range_is_accepted_exactly_when_it_lies_in_the_window(start, end, retention):
    policy = ActivityPolicy(retention_days=retention)
    inside = first_history_day(TODAY, policy) <= start <= end <= TODAY
    try:
        assert history_range(start, end, today=TODAY, policy=policy) == (start, end)
        accepted = True
    except InvalidValue:
        accepted = False
    assert accepted == inside
