"""The revisions of ActivityService and SessionService: a counter that moves on with every write
the service makes (samples recorded or wiped, deadlines stored), so that a view built from an
older revision (the dashboard's reused build) is known to be stale. It must move on at every
write, the second and later ones too, not only leave its initial 0."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stellars.adapters.memory import (
    InMemoryActivityStore,
    InMemoryHubDirectory,
    InMemorySessionStore,
    ManualClock,
)
from stellars.domain.activity import ActivityPolicy
from stellars.domain.errors import Refused
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.services.activity import ActivityService
from stellars.domain.services.sessions import SessionService
from stellars.domain.sessions import SessionPolicy
from tests.strategies import EPOCH

NOW = EPOCH + timedelta(days=2)
STARTED = NOW - timedelta(hours=2)


def directory() -> InMemoryHubDirectory:
    lab = ServerSnapshot(username="ann", ready=True, started=STARTED, last_activity=NOW)
    return InMemoryHubDirectory([HubUser(name="ann", servers={"": lab}), HubUser(name="bob")])


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def activity(clock) -> ActivityService:
    return ActivityService(
        store=InMemoryActivityStore(half_life=timedelta(hours=72)),
        directory=directory(),
        clock=clock,
        policy=ActivityPolicy(),
    )


@pytest.fixture
def sessions(clock) -> SessionService:
    return SessionService(
        store=InMemorySessionStore(),
        directory=directory(),
        clock=clock,
        policy=SessionPolicy(enabled=True, idle_timeout_seconds=3600, max_extension_hours=24),
    )


async def test_every_tick_moves_the_activity_revision_on(activity, clock):
    seen = [activity.revision]
    for _ in range(3):
        clock.advance(timedelta(seconds=1))  # within any reuse window of a view
        await activity.tick()
        seen.append(activity.revision)
    assert seen == [0, 1, 2, 3]


async def test_every_reset_moves_the_activity_revision_on(activity):
    await activity.tick()
    await activity.reset()
    await activity.reset()  # a reset of an empty store still says "look again"
    assert activity.revision == 3


async def test_a_tick_after_a_reset_moves_the_revision_on_again(activity):
    await activity.reset()
    await activity.tick()
    assert activity.revision == 2


async def test_every_extension_moves_the_session_revision_on(sessions, clock):
    seen = [sessions.revision]
    for _ in range(3):
        clock.advance(timedelta(seconds=1))
        await sessions.extend("ann", 1)
        seen.append(sessions.revision)
    assert seen == [0, 1, 2, 3]


async def test_a_refused_extension_leaves_the_session_revision(sessions):
    await sessions.extend("ann", 1)
    with pytest.raises(Refused, match="not running"):
        await sessions.extend("bob", 1)
    assert sessions.revision == 1
