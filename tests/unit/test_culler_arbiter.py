"""The culler's arbiter (`SessionArbiter`, what jupyterhub-idle-culler calls for each ready
server) with the busy rule: a computing server is reported active (False: not culled), an idle
one is culled and counted, and a server the rule cannot judge is kept."""

from __future__ import annotations

import logging
from datetime import timedelta

from stellars.adapters.memory import (
    InMemoryBusyStore,
    InMemoryEventLog,
    InMemoryHubDirectory,
    InMemorySessionStore,
    ManualClock,
)
from stellars.domain.busy import BusyPolicy, BusyRecord, BusyWindow, LoadReading
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.services import BusyService, SessionService
from stellars.domain.sessions import SessionPolicy
from stellars.entrypoints.idle_culler import SessionArbiter
from tests.strategies import EPOCH

NOW = EPOCH + timedelta(days=5)
STARTED = NOW - timedelta(hours=2)
IDLE_SINCE = NOW - timedelta(hours=1)
BUSY = BusyPolicy(enabled=True, window_seconds=60)


def model(name: str) -> dict[str, object]:
    """A server entry as the hub API lists it to the culler."""
    return {
        "name": "",
        "full_name": f"{name}/",
        "ready": True,
        "pending": None,
        "started": STARTED.isoformat(),
        "last_activity": IDLE_SINCE.isoformat(),
        "url": f"/user/{name}/",
    }


async def arbiter(busy: BusyPolicy = BUSY) -> tuple[SessionArbiter, InMemoryEventLog]:
    clock = ManualClock(NOW)
    directory = InMemoryHubDirectory(
        [
            HubUser(
                name=name,
                servers={
                    "": ServerSnapshot(
                        username=name, ready=True, started=STARTED, last_activity=IDLE_SINCE
                    )
                },
            )
            for name in ("cruncher", "napper")
        ]
    )
    store = InMemoryBusyStore()
    window = BusyWindow(
        start=NOW - timedelta(seconds=70),
        end=NOW - timedelta(seconds=10),
        cpu_percent=99.0,
        gpu_percent=None,
        busy=True,
    )
    await store.put(
        [
            BusyRecord(
                username="cruncher",
                server_name="",
                started=STARTED,
                reading=LoadReading(
                    taken_at=window.end, cpu_total_ns=1, system_cpu_ns=1, online_cpus=1
                ),
                window=window,
                busy_until=window.end,
            )
        ]
    )
    sessions = SessionService(
        store=InMemorySessionStore(),
        directory=directory,
        clock=clock,
        policy=SessionPolicy(enabled=True, idle_timeout_seconds=600),
        busy=BusyService(store=store, clock=clock, policy=busy),
    )
    events = InMemoryEventLog()
    return SessionArbiter(sessions, events, clock), events


async def test_a_computing_server_is_reported_active_and_an_idle_one_is_culled(caplog):
    judge, events = await arbiter()
    caplog.set_level(logging.INFO, logger="stellars.idle_culler")
    kept = await judge(inactive=timedelta(hours=1), inactive_limit=600, server=model("cruncher"))
    culled = await judge(inactive=timedelta(hours=1), inactive_limit=600, server=model("napper"))
    assert kept is False
    assert culled is True
    assert [(e.kind, e.outcome) for e in await events.since(0, limit=10)] == [("cull", "idle")]
    assert "not culling cruncher/: kept alive: busy computing (CPU 99.0 % of one core" in (
        caplog.text
    )


async def test_with_the_rule_off_the_computing_server_is_culled_too():
    judge, events = await arbiter(BusyPolicy(enabled=False))
    assert await judge(inactive=timedelta(hours=1), inactive_limit=600, server=model("cruncher"))
    assert len(await events.since(0, limit=10)) == 1
