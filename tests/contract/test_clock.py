"""Contract of the Clock port."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest

from stellars.adapters.memory import ManualClock
from stellars.adapters.system import SystemClock
from tests.strategies import EPOCH


@pytest.fixture(params=["memory", "system"])
def clock(request):
    return {"memory": lambda: ManualClock(EPOCH), "system": SystemClock}[request.param]()


def test_now_is_timezone_aware_utc(clock):
    now = clock.now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert now.astimezone(timezone.utc) == now


def test_time_never_runs_backwards(clock):
    first = clock.now()
    assert clock.now() >= first
