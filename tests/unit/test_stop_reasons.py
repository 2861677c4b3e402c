"""Every reason a server stops for (issue 21 §2): who asked (the user, an admin, a service, the
idle culler for idleness or age), what the poll found (an exit with its log's tail, the
container gone), a restart; the words each one reads; and the rule of which stop is kept when
several are seen (a requested stop is not hidden by the exit its own stop leaves)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.adapters.memory import InMemoryHubDirectory, InMemoryServerStopStore, ManualClock
from stellars.domain.errors import InvalidValue
from stellars.domain.services import ServerStopService
from stellars.domain.stops import (
    ACTOR_LIMIT,
    FOLLOW_UP,
    FOUND,
    LOG_LINE_LIMIT,
    LOG_TAIL_LINES,
    REQUESTED,
    ContainerExit,
    ServerStop,
    StopReason,
    culled_stop,
    log_tail,
    lost_stop,
    prevails,
    requested_stop,
    restarted_stop,
    stop_of,
)
from tests.strategies import EPOCH

AT = EPOCH + timedelta(hours=3)


@pytest.fixture
def far_local_zone(monkeypatch):
    """The process's local time zone set to UTC+05:30 (a POSIX rule, no zone database needed),
    and put back after the test."""
    monkeypatch.setenv("TZ", "STL-05:30")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


IDLE = datetime(2026, 5, 1, 12, 0, 59, tzinfo=timezone.utc)


def stop(reason: StopReason, at: datetime = AT, **fields: object) -> ServerStop:
    values: dict[str, object] = {"username": "ada", "server": "", "at": at, "reason": reason}
    if reason in {
        StopReason.STOPPED_BY_USER,
        StopReason.STOPPED_BY_ADMIN,
        StopReason.STOPPED_BY_SERVICE,
        StopReason.RESTARTED,
    }:
        values["actor"] = "someone"
    return ServerStop(**{**values, **fields})  # type: ignore[arg-type]


class TestKinds:
    def test_requested_and_found_split_the_reasons_but_the_restart(self):
        assert {
            StopReason.CULLED,
            StopReason.MAX_AGE,
            StopReason.STOPPED_BY_USER,
            StopReason.STOPPED_BY_ADMIN,
            StopReason.STOPPED_BY_SERVICE,
        } == REQUESTED
        assert {
            StopReason.OUT_OF_MEMORY,
            StopReason.EXITED,
            StopReason.ENGINE_LOST,
            StopReason.NODE_UNAVAILABLE,
        } == FOUND
        assert set(StopReason) - REQUESTED - FOUND == {StopReason.RESTARTED}

    @pytest.mark.parametrize("reason", list(StopReason))
    def test_requested_says_whether_somebody_asked(self, reason):
        assert stop(reason).requested is (reason in REQUESTED)


class TestWhoAsked:
    def test_the_owner_is_the_user(self):
        got = requested_stop("ada", "gpu", by="ada", by_service=False, at=AT)
        assert got == ServerStop(
            username="ada", server="gpu", at=AT, reason=StopReason.STOPPED_BY_USER, actor="ada"
        )
        assert got.message == "stopped: stopped by its user ada"

    def test_another_user_is_an_admin_named(self):
        got = requested_stop("ada", "", by="bob", by_service=False, at=AT)
        assert (got.reason, got.actor) == (StopReason.STOPPED_BY_ADMIN, "bob")
        assert got.explanation == "stopped by the admin bob"

    @pytest.mark.parametrize("name", ["idle-culler", "ada"])
    def test_a_service_is_a_service_whatever_its_name(self, name):
        got = requested_stop("ada", "", by=name, by_service=True, at=AT)
        assert (got.reason, got.actor) == (StopReason.STOPPED_BY_SERVICE, name)
        assert got.explanation == f"stopped by the service {name}"

    def test_a_restart_names_who_asked(self):
        got = restarted_stop("ada", "", by="bob", at=AT)
        assert (got.reason, got.actor, got.at) == (StopReason.RESTARTED, "bob", AT)
        assert got.message == "stopped: restarted by bob"

    @pytest.mark.parametrize(
        "reason",
        [
            StopReason.STOPPED_BY_USER,
            StopReason.STOPPED_BY_ADMIN,
            StopReason.STOPPED_BY_SERVICE,
            StopReason.RESTARTED,
        ],
    )
    def test_a_stop_somebody_asked_for_must_name_them(self, reason):
        with pytest.raises(InvalidValue) as refused:
            stop(reason, actor="")
        assert refused.value.field == "actor"
        assert refused.value.message == f"must name who asked for a {reason.value} stop"

    @pytest.mark.parametrize(
        "reason", [StopReason.CULLED, StopReason.MAX_AGE, StopReason.EXITED, StopReason.ENGINE_LOST]
    )
    def test_other_stops_need_no_name(self, reason):
        assert stop(reason).actor == ""

    def test_a_name_is_cut_to_its_limit(self):
        assert ACTOR_LIMIT == 255
        assert stop(StopReason.STOPPED_BY_ADMIN, actor="b" * 255).actor == "b" * 255
        long = stop(StopReason.STOPPED_BY_ADMIN, actor="b" * 256).actor
        assert len(long) == 255 and long.endswith("...")


class TestTheCuller:
    def test_idle_says_since_when_in_utc_to_the_minute(self):
        got = culled_stop("ada", "", max_age=False, idle_since=IDLE, at=AT)
        assert (got.reason, got.idle_since, got.at) == (StopReason.CULLED, IDLE, AT)
        assert got.message == "stopped: culled for idleness (idle since 2026-05-01 12:00 UTC)"

    def test_idle_since_another_zone_is_told_in_utc(self):
        paris = IDLE.astimezone(timezone(timedelta(hours=2)))
        got = culled_stop("ada", "", max_age=False, idle_since=paris, at=AT)
        assert got.explanation == "culled for idleness (idle since 2026-05-01 12:00 UTC)"

    def test_idle_since_is_told_in_utc_whatever_the_machine_zone(self, far_local_zone):
        got = culled_stop("ada", "", max_age=False, idle_since=IDLE, at=AT)
        assert got.explanation == "culled for idleness (idle since 2026-05-01 12:00 UTC)"

    def test_idle_without_any_activity_says_only_that(self):
        got = culled_stop("ada", "", max_age=False, idle_since=None, at=AT)
        assert got.explanation == "culled for idleness"

    def test_max_age_is_its_own_reason(self):
        got = culled_stop("ada", "", max_age=True, idle_since=IDLE, at=AT)
        assert (got.reason, got.idle_since) == (StopReason.MAX_AGE, None)
        assert got.message == "stopped: reached its maximum age"

    def test_a_naive_idle_since_is_refused(self):
        with pytest.raises(InvalidValue) as refused:
            stop(StopReason.CULLED, idle_since=datetime(2026, 1, 1))
        assert (refused.value.field, refused.value.message) == (
            "idle_since",
            "must be timezone-aware",
        )


class TestWhatThePollFound:
    def test_an_exit_keeps_the_tail_of_its_log(self):
        ended = ContainerExit(exit_code=3, oom_killed=False, log="one\ntwo\n")
        got = stop_of("ada", "", ended, seen_at=AT)
        assert (got.reason, got.exit_code, got.log_tail) == (StopReason.EXITED, 3, "one\ntwo")
        assert got.message == "stopped: exited with code 3"

    def test_a_vanished_container_is_lost_by_the_engine(self):
        got = lost_stop("ada", "gpu", detail="its container is gone", seen_at=AT)
        assert got == ServerStop(
            username="ada",
            server="gpu",
            at=AT,
            reason=StopReason.ENGINE_LOST,
            detail="its container is gone",
        )
        assert got.message == "stopped: lost by the engine (its container is gone)"

    def test_lost_without_words_says_only_that(self):
        assert stop(StopReason.ENGINE_LOST).explanation == "lost by the engine"


class TestTheLogTail:
    def test_the_limits(self):
        assert (LOG_TAIL_LINES, LOG_LINE_LIMIT) == (50, 300)

    def test_the_last_fifty_lines_are_kept(self):
        text = "\n".join(f"line {n}" for n in range(80))
        assert log_tail(text).split("\n") == [f"line {n}" for n in range(30, 80)]

    def test_fifty_lines_are_kept_whole_and_fifty_one_lose_the_first(self):
        fifty = "\n".join(str(n) for n in range(50))
        assert log_tail(fifty) == fifty
        assert log_tail("x\n" + fifty) == fifty

    def test_each_line_is_cut_to_its_limit(self):
        exact, long = "a" * LOG_LINE_LIMIT, "b" * (LOG_LINE_LIMIT + 1)
        kept = log_tail(f"{exact}\n{long}").split("\n")
        assert kept[0] == exact
        assert len(kept[1]) == LOG_LINE_LIMIT and kept[1].endswith("...")

    def test_carriage_returns_and_trailing_blank_lines_go(self):
        assert log_tail("a\r\nb\rc\n\n\n") == "a\nb\nc"
        assert log_tail("") == "" and log_tail("\n\n") == ""

    def test_only_line_ends_go_from_the_end_the_text_stays_as_written(self):
        assert log_tail("done. \t\n") == "done. \t"
        assert log_tail("XXXX") == "XXXX"
        assert log_tail("aX\nX\n") == "aX\nX"

    def test_blank_lines_inside_stay(self):
        assert log_tail("a\n\nb") == "a\n\nb"

    def test_the_value_keeps_only_the_tail(self):
        got = stop(StopReason.EXITED, exit_code=1, log_tail="\n".join("x" * 51))
        assert got.log_tail == "\n".join("x" * 50)

    @given(st.lists(st.text(alphabet="ab \t<>&", max_size=400), max_size=120))
    def test_never_more_than_the_limits(self, lines):
        kept = log_tail("\n".join(lines))
        assert kept.count("\n") < LOG_TAIL_LINES
        assert all(len(line) <= LOG_LINE_LIMIT for line in kept.split("\n"))


LATER = AT + timedelta(seconds=5)


class TestWhichStopIsKept:
    def test_anything_replaces_nothing(self):
        assert prevails(stop(StopReason.EXITED, exit_code=0), None) is True

    @pytest.mark.parametrize("found", sorted(FOUND))
    @pytest.mark.parametrize("asked", sorted(REQUESTED))
    def test_a_request_is_not_hidden_by_the_end_it_causes(self, asked, found):
        # An admin's stop leaves exit code 137 or 0; the poll may find it afterwards.
        assert prevails(stop(found, LATER, exit_code=137), stop(asked)) is False

    def test_the_cullers_stop_is_not_hidden_by_its_own_request_as_a_service(self):
        culled = stop(StopReason.CULLED, idle_since=IDLE)
        assert prevails(stop(StopReason.STOPPED_BY_SERVICE, LATER), culled) is False

    @pytest.mark.parametrize("first", sorted(REQUESTED))
    @pytest.mark.parametrize("second", sorted(REQUESTED))
    def test_the_first_request_is_the_reason(self, first, second):
        assert prevails(stop(second, LATER), stop(first)) is False

    @pytest.mark.parametrize("asked", sorted(REQUESTED))
    def test_a_request_after_an_end_does_not_hide_it(self, asked):
        assert prevails(stop(asked, LATER), stop(StopReason.OUT_OF_MEMORY)) is False

    def test_an_end_found_before_the_request_was_its_real_cause(self):
        crashed = stop(StopReason.EXITED, AT - timedelta(microseconds=1), exit_code=1)
        assert prevails(crashed, stop(StopReason.CULLED)) is True

    def test_the_follow_up_window_is_ten_minutes_inclusive(self):
        assert timedelta(minutes=10) == FOLLOW_UP
        asked = stop(StopReason.STOPPED_BY_ADMIN)
        at_edge = stop(StopReason.EXITED, AT + FOLLOW_UP, exit_code=137)
        past_edge = stop(StopReason.EXITED, AT + FOLLOW_UP + timedelta(microseconds=1))
        assert prevails(stop(StopReason.EXITED, AT, exit_code=0), asked) is False
        assert prevails(at_edge, asked) is False
        assert prevails(past_edge, asked) is True  # the request was stale: this is news

    def test_a_later_reading_of_an_end_replaces_the_earlier(self):
        assert prevails(stop(StopReason.EXITED, LATER), stop(StopReason.OUT_OF_MEMORY)) is True
        assert prevails(stop(StopReason.OUT_OF_MEMORY, LATER), stop(StopReason.EXITED)) is True

    @pytest.mark.parametrize("found", [StopReason.EXITED, StopReason.OUT_OF_MEMORY])
    def test_gone_does_not_replace_the_exit_of_the_removed_container(self, found):
        assert prevails(stop(StopReason.ENGINE_LOST, LATER), stop(found)) is False
        assert prevails(stop(found, LATER), stop(StopReason.ENGINE_LOST)) is True

    def test_gone_twice_keeps_the_first(self):
        assert prevails(stop(StopReason.ENGINE_LOST, LATER), stop(StopReason.ENGINE_LOST)) is False

    @pytest.mark.parametrize("other", sorted(set(StopReason) - {StopReason.RESTARTED}))
    def test_a_restart_replaces_anything_and_anything_replaces_a_restart(self, other):
        assert prevails(stop(StopReason.RESTARTED, LATER), stop(other)) is True
        assert prevails(stop(other, LATER), stop(StopReason.RESTARTED)) is True
        assert prevails(stop(other, AT - timedelta(hours=1)), stop(StopReason.RESTARTED)) is True

    @given(
        new=st.sampled_from(list(StopReason)),
        kept=st.sampled_from(list(StopReason)),
        offset=st.integers(-3600, 3600),
    )
    def test_outside_the_window_the_newer_news_always_wins(self, new, kept, offset):
        moment = AT + timedelta(seconds=offset)
        outside = moment < AT or moment > AT + FOLLOW_UP
        if outside:
            assert prevails(stop(new, moment), stop(kept)) is True


class World:
    def __init__(self) -> None:
        self.clock = ManualClock(AT)
        self.store = InMemoryServerStopStore()
        self.service = ServerStopService(
            store=self.store, directory=InMemoryHubDirectory(), clock=self.clock
        )


@pytest.fixture
def world() -> World:
    return World()


class TestTheServiceRecordsEachReason:
    async def test_the_user(self, world):
        got = await world.service.requested("ada", "", by="ada")
        assert (got.reason, got.actor, got.at) == (StopReason.STOPPED_BY_USER, "ada", AT)
        assert await world.store.last("ada") == got

    async def test_an_admin(self, world):
        got = await world.service.requested("ada", "gpu", by="bob")
        assert (got.reason, got.actor) == (StopReason.STOPPED_BY_ADMIN, "bob")
        assert await world.store.last("ada", "gpu") == got

    async def test_a_request_is_dated_when_its_stop_began(self, world):
        began = AT - timedelta(seconds=12)
        got = await world.service.requested("ada", "", by="bob", at=began)
        assert got.at == began and (await world.store.last("ada")).at == began

    async def test_a_service(self, world):
        got = await world.service.requested("ada", "", by="cron", by_service=True)
        assert (got.reason, got.actor) == (StopReason.STOPPED_BY_SERVICE, "cron")

    async def test_the_culler_for_idleness_and_for_age(self, world):
        got = await world.service.culled("ada", "", max_age=False, idle_since=IDLE)
        assert (got.reason, got.idle_since, got.at) == (StopReason.CULLED, IDLE, AT)
        aged = await world.service.culled("bob", "", max_age=True, idle_since=IDLE)
        assert aged.reason is StopReason.MAX_AGE
        assert await world.store.last("bob") == aged

    async def test_a_restart(self, world):
        got = await world.service.restarted("ada", "", by="bob")
        assert (got.reason, got.actor) == (StopReason.RESTARTED, "bob")
        assert await world.store.last("ada") == got

    async def test_the_engine_lost(self, world):
        got = await world.service.lost("ada", "", "gone")
        assert (got.reason, got.detail, got.at) == (StopReason.ENGINE_LOST, "gone", AT)
        assert await world.store.last("ada") == got

    async def test_an_exit_with_its_log(self, world):
        ended = ContainerExit(exit_code=2, oom_killed=False, log="boom\n")
        got = await world.service.exited("ada", "", ended)
        assert (got.exit_code, got.log_tail) == (2, "boom")
        assert await world.store.last("ada") == got


class TestEveryUsersLastStop:
    async def test_by_username_for_one_server_name(self, world):
        await world.service.requested("carol", "", by="carol")
        bob = await world.service.requested("bob", "", by="admin")
        await world.service.lost("bob", "gpu", "gone")
        stops = await world.service.last_stops()
        assert [(stop.username, stop.reason) for stop in stops] == [
            ("bob", StopReason.STOPPED_BY_ADMIN),
            ("carol", StopReason.STOPPED_BY_USER),
        ]
        assert stops[0] == bob
        assert [stop.username for stop in await world.service.last_stops("gpu")] == ["bob"]


class TestTheServiceKeepsTheReason:
    async def test_an_admins_stop_is_not_overwritten_by_the_exit_found_after(self, world):
        asked = await world.service.requested("ada", "", by="bob")
        world.clock.advance(timedelta(seconds=3))
        got = await world.service.exited("ada", "", ContainerExit(exit_code=137, oom_killed=False))
        assert got == asked and await world.store.last("ada") == asked

    async def test_the_cull_is_not_overwritten_by_the_cullers_request(self, world):
        culled = await world.service.culled("ada", "", max_age=False, idle_since=IDLE)
        world.clock.advance(timedelta(seconds=1))
        got = await world.service.requested("ada", "", by="idle-culler", by_service=True)
        assert got == culled and await world.store.last("ada") == culled

    async def test_a_stale_request_gives_way_to_news(self, world):
        await world.service.requested("ada", "", by="bob")
        world.clock.advance(FOLLOW_UP + timedelta(seconds=1))
        got = await world.service.lost("ada", "", "gone")
        assert got.reason is StopReason.ENGINE_LOST
        assert await world.store.last("ada") == got

    async def test_a_crash_before_the_cull_is_the_reason(self, world):
        await world.service.culled("ada", "", max_age=True, idle_since=None)
        crashed = ContainerExit(exit_code=1, oom_killed=False, finished_at=AT - timedelta(1))
        got = await world.service.exited("ada", "", crashed)
        assert got.reason is StopReason.EXITED
        assert (await world.store.last("ada")).reason is StopReason.EXITED
