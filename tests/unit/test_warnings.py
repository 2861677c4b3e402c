"""Warnings before the idle culler stops a server (CullWarner on the fakes): who is warned, at
which time left, with which text, once per deadline, again once the deadline moves, and what a
failed delivery does."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest

from stellars.adapters.memory import (
    InMemoryHubDirectory,
    InMemorySessionStore,
    ManualClock,
    RecordingTransport,
)
from stellars.domain.errors import BackendUnavailable
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.notifications import Broadcast, Variant
from stellars.domain.services import CullWarner, CullWarning, SessionService
from stellars.domain.services.warnings import warning_message
from stellars.domain.sessions import SessionDeadline, SessionPolicy
from tests.strategies import EPOCH

NOW = EPOCH + timedelta(hours=12)  # 2026-01-01 12:00 UTC
STARTED = NOW - timedelta(hours=3)
URL = "https://hub.example/hub/home"
POLICY = SessionPolicy(enabled=True, idle_timeout_seconds=3600, warning_minutes=10)
TEXT_AT_1210 = "Idle session: this server stops at 12:10 UTC unless you use it."


def server(
    user: str,
    *,
    idle: timedelta,
    name: str = "",
    ready: bool = True,
    pending: str | None = None,
    started: datetime | None = STARTED,
) -> ServerSnapshot:
    return ServerSnapshot(
        username=user,
        name=name,
        ready=ready,
        pending=pending,
        started=started,
        last_activity=NOW - idle,
    )


class TickingClock(ManualClock):
    """A clock that moves on by a microsecond after every reading, as a real one does."""

    def now(self) -> datetime:
        current = self.current
        self.current += timedelta(microseconds=1)
        return current


class World:
    def __init__(self, policy: SessionPolicy = POLICY, *, clock: ManualClock | None = None) -> None:
        self.clock = clock or ManualClock(NOW)
        self.directory = InMemoryHubDirectory()
        self.store = InMemorySessionStore()
        self.sessions = SessionService(
            store=self.store, directory=self.directory, clock=self.clock, policy=policy
        )
        self.transport = RecordingTransport()
        self.warner = CullWarner(
            directory=self.directory,
            sessions=self.sessions,
            transport=self.transport,
            clock=self.clock,
            extend_url=URL,
        )

    def put(self, name: str, *servers: ServerSnapshot) -> None:
        self.directory.put(HubUser(name=name, servers={s.name: s for s in servers}))

    def recipients(self) -> list[tuple[str, str]]:
        return [(s.username, s.name) for s, _ in self.transport.delivered]


class TestTheMessage:
    def test_it_says_when_the_server_stops_in_utc_and_where_to_extend(self):
        stops_at = datetime.fromisoformat("2026-03-04T05:06:59.999999+00:00")
        assert warning_message(stops_at, "https://h/x") == (
            "Idle session: this server stops at 05:06 UTC unless you use it. "
            "Extend it at https://h/x"
        )

    def test_the_link_is_kept_up_to_the_notifications_length_limit_of_140(self):
        stops_at = NOW + timedelta(minutes=10)
        fits = "https://hub.example/" + "x" * 43  # 63 + 14 + 63 = 140 characters in all
        assert warning_message(stops_at, fits) == f"{TEXT_AT_1210} Extend it at {fits}"
        assert warning_message(stops_at, fits + "y") == TEXT_AT_1210


class TestWhoIsWarned:
    async def test_a_server_with_the_warning_time_left_is_warned_once(self, caplog):
        world = World()
        world.put("ann", server("ann", idle=timedelta(minutes=50)))  # 10 minutes left
        with caplog.at_level(logging.INFO, logger="stellars.domain.services.warnings"):
            warnings = await world.warner.check()
        stops_at = datetime.fromisoformat("2026-01-01T12:10:00+00:00")
        assert warnings == (CullWarning("ann", "", stops_at, True, None),)
        [(target, broadcast)] = world.transport.delivered
        assert target.username == "ann"
        assert broadcast == Broadcast(
            message=f"{TEXT_AT_1210} Extend it at {URL}",
            variant=Variant.WARNING,
            auto_close_ms=None,
            recipients=("ann",),
        )
        assert (world.warner.sent, world.warner.failed) == (1, 0)
        assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
            (
                "stellars.domain.services.warnings",
                "INFO",
                "warned ann/: stops at 2026-01-01 12:10:00+00:00",
            )
        ]
        world.clock.advance(timedelta(minutes=1))
        assert await world.warner.check() == ()  # the same deadline: not again
        assert len(world.transport.delivered) == 1

    @pytest.mark.parametrize(
        ("idle", "warned"),
        [
            (timedelta(minutes=50), True),  # exactly the warning time left
            (timedelta(minutes=50) - timedelta(microseconds=1), False),  # a hair more
            (timedelta(hours=1) - timedelta(microseconds=1), True),  # a microsecond left
            (timedelta(hours=1), False),  # nothing left: the culler stops it anyway
            (timedelta(hours=2), False),
        ],
    )
    async def test_only_a_time_left_within_the_warning_and_above_zero_warns(self, idle, warned):
        world = World()
        world.put("ann", server("ann", idle=idle))
        warnings = await world.warner.check()
        assert len(warnings) == (1 if warned else 0)
        assert world.recipients() == ([("ann", "")] if warned else [])

    async def test_the_deadline_is_the_stop_itself(self):
        world = World()
        world.put("ann", server("ann", idle=timedelta(hours=1) - timedelta(microseconds=1)))
        [warning] = await world.warner.check()
        assert warning.stops_at == datetime.fromisoformat("2026-01-01T12:00:00.000001+00:00")

    async def test_the_deadline_is_exact_while_the_clock_moves_on(self):
        # The time left is asked for at the very instant the deadline is computed from.
        world = World(clock=TickingClock(NOW))
        world.put("ann", server("ann", idle=timedelta(minutes=55)))
        [first] = await world.warner.check()
        assert first.stops_at == datetime.fromisoformat("2026-01-01T12:05:00+00:00")
        assert await world.warner.check() == ()

    async def test_only_running_servers_are_warned_and_each_by_its_own_time(self):
        world = World()
        world.put(
            "ann",
            server("ann", idle=timedelta(minutes=52)),
            server("ann", idle=timedelta(minutes=55), name="gpu"),
        )
        world.put("bob", server("bob", idle=timedelta(minutes=55), pending="stop"))
        world.put("cy", server("cy", idle=timedelta(minutes=55), ready=False, pending="spawn"))
        world.put("dee")
        warnings = await world.warner.check()
        assert [(w.username, w.server_name, w.stops_at) for w in warnings] == [
            ("ann", "", datetime.fromisoformat("2026-01-01T12:08:00+00:00")),
            ("ann", "gpu", datetime.fromisoformat("2026-01-01T12:05:00+00:00")),
        ]
        assert world.recipients() == [("ann", ""), ("ann", "gpu")]
        assert (world.warner.sent, world.warner.failed) == (2, 0)

    async def test_a_server_passed_over_does_not_end_the_pass(self):
        world = World()
        world.put("ann", server("ann", idle=timedelta(minutes=1)))  # 59 minutes left
        world.put("bob", server("bob", idle=timedelta(hours=2)))  # nothing left
        world.put("cy", server("cy", idle=timedelta(minutes=55)))
        warnings = await world.warner.check()
        assert [w.username for w in warnings] == ["cy"]

    async def test_a_server_already_warned_does_not_end_the_pass(self):
        world = World()
        world.put("ann", server("ann", idle=timedelta(minutes=52)))  # 8 minutes left
        world.put("bob", server("bob", idle=timedelta(minutes=45)))  # 15 minutes left
        assert [w.username for w in await world.warner.check()] == ["ann"]
        world.clock.advance(timedelta(minutes=5))
        assert [w.username for w in await world.warner.check()] == ["bob"]
        assert world.recipients() == [("ann", ""), ("bob", "")]

    @pytest.mark.parametrize(
        "policy",
        [
            SessionPolicy(enabled=False, idle_timeout_seconds=3600, warning_minutes=10),
            SessionPolicy(enabled=True, idle_timeout_seconds=3600, warning_minutes=0),
        ],
    )
    async def test_nothing_is_sent_while_culling_or_warnings_are_off(self, policy):
        world = World(policy)
        world.put("ann", server("ann", idle=timedelta(minutes=55)))
        assert await world.warner.check() == ()
        assert world.transport.delivered == []


class TestOncePerDeadline:
    async def test_use_of_the_server_moves_the_deadline_and_rearms_the_warning(self):
        world = World()
        world.put("ann", server("ann", idle=timedelta(minutes=55)))
        await world.warner.check()
        world.clock.advance(timedelta(minutes=2))
        world.put("ann", server("ann", idle=timedelta(minutes=1)))  # used at 11:59
        assert await world.warner.check() == ()  # 57 minutes left: not yet
        world.clock.advance(timedelta(minutes=51))
        [again] = await world.warner.check()
        assert again.stops_at == datetime.fromisoformat("2026-01-01T12:59:00+00:00")
        assert len(world.transport.delivered) == 2

    async def test_an_extension_moves_the_deadline_and_rearms_the_warning(self):
        world = World()
        world.put("ann", server("ann", idle=timedelta(minutes=55)))
        await world.warner.check()
        cull_at = NOW + timedelta(minutes=8)
        await world.store.put(SessionDeadline("ann", "", STARTED, cull_at))
        [again] = await world.warner.check()
        assert again.stops_at == cull_at

    async def test_a_restarted_server_is_a_new_instance_and_warned_anew(self):
        world = World()
        world.put("ann", server("ann", idle=timedelta(minutes=55)))
        await world.warner.check()
        restarted = server("ann", idle=timedelta(minutes=55), started=STARTED + timedelta(hours=1))
        world.put("ann", restarted)
        [again] = await world.warner.check()
        assert again.stops_at == datetime.fromisoformat("2026-01-01T12:05:00+00:00")

    async def test_a_server_out_of_sight_for_a_pass_is_forgotten(self):
        world = World()
        world.put("ann", server("ann", idle=timedelta(minutes=55)))
        await world.warner.check()
        world.put("ann", server("ann", idle=timedelta(minutes=55), pending="stop"))
        assert await world.warner.check() == ()
        world.put("ann", server("ann", idle=timedelta(minutes=55)))
        assert len(await world.warner.check()) == 1
        assert len(world.transport.delivered) == 2

    async def test_a_server_that_stays_is_not_forgotten_while_another_goes(self):
        world = World()
        world.put("ann", server("ann", idle=timedelta(minutes=55)))
        world.put("bob", server("bob", idle=timedelta(minutes=55)))
        assert len(await world.warner.check()) == 2
        world.put("bob")
        assert await world.warner.check() == ()
        assert world.recipients() == [("ann", ""), ("bob", "")]


class TestFailedDeliveries:
    async def test_a_refused_delivery_is_reported_and_tried_again_next_pass(self, caplog):
        world = World()
        world.put("ann", server("ann", idle=timedelta(minutes=55)))
        world.transport.failures["ann"] = "lab did not answer"
        with caplog.at_level(logging.INFO, logger="stellars.domain.services.warnings"):
            [failed] = await world.warner.check()
        stops_at = datetime.fromisoformat("2026-01-01T12:05:00+00:00")
        assert failed == CullWarning("ann", "", stops_at, False, "lab did not answer")
        assert (world.warner.sent, world.warner.failed) == (0, 1)
        assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
            ("WARNING", "could not warn ann/: lab did not answer")
        ]
        del world.transport.failures["ann"]
        [delivered] = await world.warner.check()
        assert delivered == CullWarning("ann", "", stops_at, True, None)
        assert (world.warner.sent, world.warner.failed) == (1, 1)

    async def test_a_transport_that_raises_does_not_end_the_pass(self, caplog):
        world = World()
        world.put("ann", server("ann", idle=timedelta(minutes=55)))
        world.put("bob", server("bob", idle=timedelta(minutes=55)))
        world.put("cy", server("cy", idle=timedelta(minutes=55)))
        world.transport.crashes["ann"] = RuntimeError("socket closed")
        world.transport.crashes["bob"] = RuntimeError("socket reset")
        with caplog.at_level(logging.WARNING, logger="stellars.domain.services.warnings"):
            warnings = await world.warner.check()
        assert [(w.username, w.delivered, w.error) for w in warnings] == [
            ("ann", False, "delivery failed: socket closed"),
            ("bob", False, "delivery failed: socket reset"),
            ("cy", True, None),
        ]
        assert (world.warner.sent, world.warner.failed) == (1, 2)
        assert [r.getMessage() for r in caplog.records] == [
            "could not warn ann/: delivery failed: socket closed",
            "could not warn bob/: delivery failed: socket reset",
        ]
        assert world.recipients() == [("cy", "")]


class TestTheWarningTimeAtItsSmallest:
    async def test_a_one_minute_warning_is_sent(self):
        world = World(SessionPolicy(enabled=True, idle_timeout_seconds=3600, warning_minutes=1))
        world.put("ann", server("ann", idle=timedelta(minutes=59, seconds=30)))
        world.put("bob", server("bob", idle=timedelta(minutes=58, seconds=59)))
        warnings = await world.warner.check()
        assert [(w.username, w.stops_at) for w in warnings] == [
            ("ann", NOW + timedelta(seconds=30))
        ]
        assert world.recipients() == [("ann", "")]

    async def test_with_warnings_off_the_hub_is_not_even_asked(self):
        """A pass with warnings off returns at once: it neither lists users (the hub may be
        down) nor reads deadlines."""

        class DownDirectory(InMemoryHubDirectory):
            async def list_users(self):
                raise BackendUnavailable("hub down")

        world = World(SessionPolicy(enabled=True, idle_timeout_seconds=3600, warning_minutes=0))
        world.directory = DownDirectory()
        world.warner = CullWarner(
            directory=world.directory,
            sessions=world.sessions,
            transport=world.transport,
            clock=world.clock,
            extend_url=URL,
        )
        assert await world.warner.check() == ()
        assert world.transport.delivered == []
