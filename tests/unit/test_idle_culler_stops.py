"""The idle culler records why it stops a server (issue 21 §2) before it asks the hub: idle
since the server's last activity, or its maximum age; a store that fails never keeps it from
culling, and a server it keeps records nothing."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from stellars.adapters.memory import (
    InMemoryEventLog,
    InMemoryHubDirectory,
    InMemoryServerStopStore,
    InMemorySessionStore,
    ManualClock,
)
from stellars.domain.errors import BackendUnavailable
from stellars.domain.services import ServerStopService, SessionService
from stellars.domain.sessions import SessionPolicy
from stellars.domain.stops import ServerStop, StopReason
from stellars.entrypoints.idle_culler import SessionArbiter

NOW = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
LAST_ACTIVE = NOW - timedelta(hours=3)


def model(*, name: str = "", started: datetime, last_activity: datetime) -> dict[str, object]:
    """A server model as the culler hands it to its arbiter."""
    return {
        "name": name,
        "full_name": f"ada/{name}",
        "ready": True,
        "pending": None,
        "started": started.isoformat().replace("+00:00", "Z"),
        "last_activity": last_activity.isoformat().replace("+00:00", "Z"),
    }


class Culler:
    def __init__(self, policy: SessionPolicy, *, with_stops: bool = True) -> None:
        self.clock = ManualClock(NOW)
        directory = InMemoryHubDirectory()
        self.sessions = SessionService(
            store=InMemorySessionStore(), directory=directory, clock=self.clock, policy=policy
        )
        self.store = InMemoryServerStopStore()
        self.stops = ServerStopService(store=self.store, directory=directory, clock=self.clock)
        self.arbiter = SessionArbiter(
            self.sessions, InMemoryEventLog(), self.clock, self.stops if with_stops else None
        )

    async def decide(self, server: dict[str, object]) -> bool:
        return await self.arbiter(inactive=None, inactive_limit=None, server=server)


IDLE_HOUR = SessionPolicy(enabled=True, idle_timeout_seconds=3600, max_extension_hours=0)


async def test_an_idle_server_is_culled_with_since_when():
    culler = Culler(IDLE_HOUR)
    server = model(name="gpu", started=NOW - timedelta(hours=4), last_activity=LAST_ACTIVE)
    assert await culler.decide(server) is True
    assert await culler.store.last("ada", "gpu") == ServerStop(
        username="ada", server="gpu", at=NOW, reason=StopReason.CULLED, idle_since=LAST_ACTIVE
    )


async def test_a_server_past_its_maximum_age_is_culled_for_its_age():
    culler = Culler(SessionPolicy(enabled=True, idle_timeout_seconds=86_400, max_age_seconds=3600))
    server = model(started=NOW - timedelta(hours=2), last_activity=NOW)
    assert await culler.decide(server) is True
    stop = await culler.store.last("ada")
    assert (stop.reason, stop.idle_since, stop.message) == (
        StopReason.MAX_AGE,
        None,
        "stopped: reached its maximum age",
    )


async def test_a_server_kept_records_nothing():
    culler = Culler(IDLE_HOUR)
    assert await culler.decide(model(started=NOW, last_activity=NOW)) is False
    assert culler.store.stops == {}


async def test_a_store_that_fails_never_keeps_the_culler_from_culling(monkeypatch, caplog):
    culler = Culler(IDLE_HOUR)

    async def fail(stop):
        raise BackendUnavailable("database is locked")

    monkeypatch.setattr(culler.store, "record", fail)
    with caplog.at_level(logging.WARNING):
        assert await culler.decide(model(started=LAST_ACTIVE, last_activity=LAST_ACTIVE))
    assert "could not record why ada was culled: database is locked" in caplog.text


async def test_without_a_stop_service_the_culler_still_culls():
    culler = Culler(IDLE_HOUR, with_stops=False)
    assert await culler.decide(model(started=LAST_ACTIVE, last_activity=LAST_ACTIVE)) is True
    assert culler.store.stops == {}
