"""Platform events: what a valid event is."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from stellars.domain.errors import InvalidValue
from stellars.domain.events import CULL, SAMPLER_TICK, PlatformEvent

AT = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)


def test_an_event_with_defaults():
    event = PlatformEvent(SAMPLER_TICK, AT, "ok")
    assert (event.kind, event.at, event.outcome, event.seconds, event.id) == (
        "sampler-tick",
        AT,
        "ok",
        0.0,
        0,
    )
    assert PlatformEvent(CULL, AT, "max-age", 1.5, id=7).id == 7


def test_the_time_is_kept_in_utc():
    local = AT.astimezone(timezone(timedelta(hours=-5)))
    event = PlatformEvent("cull", local, "idle")
    assert event.at == AT
    assert event.at.utcoffset() == timedelta(0)


def test_a_whole_number_of_seconds_becomes_a_float():
    event = PlatformEvent("sampler-tick", AT, "ok", 2)
    assert isinstance(event.seconds, float)
    assert event.seconds == 2.0


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("kind", {"kind": ""}),
        ("kind", {"kind": "   "}),
        ("kind", {"kind": "k" * 33}),
        ("kind", {"kind": None}),
        ("outcome", {"outcome": ""}),
        ("outcome", {"outcome": "o" * 65}),
        ("at", {"at": AT.replace(tzinfo=None)}),
        ("seconds", {"seconds": -0.001}),
        ("seconds", {"seconds": math.nan}),
        ("seconds", {"seconds": math.inf}),
        ("seconds", {"seconds": True}),
        ("seconds", {"seconds": "1"}),
        ("id", {"id": -1}),
        ("id", {"id": 1.0}),
    ],
)
def test_invalid_events_are_refused_naming_the_field(field, values):
    arguments = {"kind": "cull", "at": AT, "outcome": "idle", "seconds": 0.0, "id": 0}
    with pytest.raises(InvalidValue) as raised:
        PlatformEvent(**(arguments | values))
    assert raised.value.field == field


def test_labels_at_their_limits_are_fine():
    event = PlatformEvent("k" * 32, AT, "o" * 64)
    assert (len(event.kind), len(event.outcome)) == (32, 64)


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"kind": "k" * 33}, "kind", "must be at most 32 characters, got 33"),
        ({"outcome": "o" * 65}, "outcome", "must be at most 64 characters, got 65"),
        ({"seconds": True}, "seconds", "must be a number, got True"),
        ({"seconds": "1"}, "seconds", "must be a number, got '1'"),
        ({"seconds": -0.5}, "seconds", "must be a finite number >= 0, got -0.5"),
        ({"seconds": math.inf}, "seconds", "must be a finite number >= 0, got inf"),
    ],
)
def test_the_refusals_say_what_was_wrong(values, field, message):
    arguments = {"kind": "cull", "at": AT, "outcome": "idle", "seconds": 0.0, "id": 0}
    with pytest.raises(InvalidValue) as raised:
        PlatformEvent(**(arguments | values))
    assert (raised.value.field, raised.value.message) == (field, message)
