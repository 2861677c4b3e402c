"""Tests for `stellars.domain.sessions`: remaining time, culling and bounded extensions."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from stellars.domain.errors import Conflict, InvalidValue, Refused
from stellars.domain.hub import ServerSnapshot
from stellars.domain.sessions import (
    HOUR,
    CullDecision,
    Extension,
    SessionDeadline,
    SessionPolicy,
    check_hours,
    cull_decision,
    effective_ceiling,
    extend,
    extension_hours_used,
    offer_hours,
    reference_time,
    remaining,
)
from tests.strategies import EPOCH, deadlines, durations, servers, session_policies

NOW = EPOCH + timedelta(days=60)
MINUTE = timedelta(minutes=1)
POLICY = SessionPolicy(enabled=True, idle_timeout_seconds=3600, max_extension_hours=24)


def server(
    *, idle: timedelta = timedelta(0), age: timedelta = HOUR, **kw: object
) -> ServerSnapshot:
    return ServerSnapshot(
        username=kw.pop("username", "alice"),
        name=kw.pop("name", ""),
        ready=kw.pop("ready", True),
        pending=kw.pop("pending", None),
        started=kw.pop("started", NOW - age),
        last_activity=kw.pop("last_activity", NOW - idle),
    )


def aged(max_age: timedelta, **kw: int) -> SessionPolicy:
    return SessionPolicy(
        enabled=True,
        idle_timeout_seconds=kw.get("idle", 3600),
        max_extension_hours=kw.get("extension", 24),
        max_age_seconds=int(max_age.total_seconds()),
    )


class TestPolicy:
    def test_defaults(self):
        policy = SessionPolicy()
        assert (policy.enabled, policy.idle_timeout_seconds, policy.cull_every_seconds) == (
            False,
            86_400,
            600,
        )
        assert (policy.max_extension_hours, policy.max_age_seconds) == (24, 0)

    def test_derived_durations(self):
        policy = SessionPolicy(idle_timeout_seconds=5400, max_extension_hours=3)
        assert policy.idle_timeout == timedelta(minutes=90)
        assert policy.ceiling == timedelta(hours=4, minutes=30)

    def test_max_age_zero_means_none(self):
        assert SessionPolicy().max_age is None
        assert SessionPolicy(max_age_seconds=1).max_age == timedelta(seconds=1)
        assert SessionPolicy(max_age_seconds=7200).max_age == timedelta(hours=2)

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"idle_timeout_seconds": 59}, "idle_timeout_seconds: must be between 60 and "
             "31536000, got 59"),
            ({"idle_timeout_seconds": 365 * 86_400 + 1}, "idle_timeout_seconds: must be "
             "between 60 and 31536000, got 31536001"),
            ({"max_extension_hours": -1}, "max_extension_hours: must be between 0 and 8760, "
             "got -1"),
            ({"max_extension_hours": 8761}, "max_extension_hours: must be between 0 and 8760, "
             "got 8761"),
            ({"max_age_seconds": -5}, "max_age_seconds: must be at least 0, got -5"),
            ({"cull_every_seconds": 9}, "cull_every_seconds: must be between 10 and 86400, "
             "got 9"),
            ({"cull_every_seconds": 86_401}, "cull_every_seconds: must be between 10 and "
             "86400, got 86401"),
            ({"enabled": 1}, "enabled: must be true or false, got 1"),
            ({"enabled": "yes"}, "enabled: must be true or false, got 'yes'"),
            ({"max_extension_hours": 2.0}, "max_extension_hours: must be a whole number, "
             "got 2.0"),
        ],
    )  # fmt: skip
    def test_policy_values_are_validated(self, kwargs, message):
        with pytest.raises(InvalidValue) as error:
            SessionPolicy(**kwargs)
        assert str(error.value) == message

    def test_the_range_ends_are_allowed(self):
        SessionPolicy(idle_timeout_seconds=60, cull_every_seconds=10, max_extension_hours=0)
        SessionPolicy(
            idle_timeout_seconds=365 * 86_400,
            cull_every_seconds=86_400,
            max_extension_hours=24 * 365,
            max_age_seconds=10**9,
        )


class TestReference:
    def test_last_activity_first_then_start_then_now(self):
        started, active = NOW - 3 * HOUR, NOW - HOUR
        assert reference_time(server(started=started, last_activity=active), NOW) == active
        assert reference_time(server(started=started, last_activity=None), NOW) == started
        assert reference_time(server(started=None, last_activity=None), NOW) == NOW
        assert reference_time(server(started=None, last_activity=active), NOW) == active


class TestRemaining:
    def test_fresh_activity_leaves_the_whole_timeout(self):
        assert remaining(server(), cull_at=None, now=NOW, policy=POLICY) == HOUR

    def test_idleness_counts_down_from_the_servers_last_activity(self):
        left = remaining(server(idle=45 * MINUTE), cull_at=None, now=NOW, policy=POLICY)
        assert left == 15 * MINUTE

    def test_without_activity_the_start_time_is_the_reference(self):
        s = server(age=20 * MINUTE, last_activity=None)
        assert remaining(s, cull_at=None, now=NOW, policy=POLICY) == 40 * MINUTE

    def test_without_a_start_time_or_activity_the_whole_timeout_is_left(self):
        s = server(started=None, last_activity=None)
        assert remaining(s, cull_at=None, now=NOW, policy=POLICY) == HOUR
        assert effective_ceiling(s, now=NOW, policy=aged(HOUR)) == 25 * HOUR

    def test_long_idleness_leaves_nothing(self):
        left = remaining(server(idle=3 * HOUR), cull_at=None, now=NOW, policy=POLICY)
        assert left == timedelta(0)

    def test_a_deadline_later_than_the_idle_limit_wins(self):
        left = remaining(server(), cull_at=NOW + 5 * HOUR, now=NOW, policy=POLICY)
        assert left == 5 * HOUR

    def test_a_deadline_earlier_than_the_idle_limit_does_not_shorten_it(self):
        left = remaining(server(), cull_at=NOW + 10 * MINUTE, now=NOW, policy=POLICY)
        assert left == HOUR

    def test_a_past_deadline_leaves_the_idle_time(self):
        s = server(idle=30 * MINUTE)
        assert remaining(s, cull_at=NOW - HOUR, now=NOW, policy=POLICY) == 30 * MINUTE

    def test_remaining_never_exceeds_the_ceiling(self):
        left = remaining(server(), cull_at=NOW + 99 * HOUR, now=NOW, policy=POLICY)
        assert left == POLICY.ceiling == 25 * HOUR

    def test_max_age_shrinks_the_countdown_to_the_real_stop(self):
        policy = aged(2 * HOUR)
        s = server(age=90 * MINUTE)
        assert effective_ceiling(s, now=NOW, policy=policy) == 30 * MINUTE
        assert remaining(s, cull_at=NOW + 5 * HOUR, now=NOW, policy=policy) == 30 * MINUTE
        assert remaining(s, cull_at=None, now=NOW, policy=policy) == 30 * MINUTE

    def test_max_age_further_than_the_ceiling_changes_nothing(self):
        policy = aged(timedelta(days=30))
        s = server(age=HOUR)
        assert effective_ceiling(s, now=NOW, policy=policy) == 25 * HOUR
        assert remaining(s, cull_at=NOW + 99 * HOUR, now=NOW, policy=policy) == 25 * HOUR

    def test_a_server_past_its_max_age_has_nothing_left(self):
        policy = aged(HOUR)
        s = server(age=2 * HOUR)
        assert effective_ceiling(s, now=NOW, policy=policy) == timedelta(0)
        assert remaining(s, cull_at=NOW + HOUR, now=NOW, policy=policy) == timedelta(0)


class TestCulling:
    @pytest.mark.parametrize(
        ("ready", "pending"), [(False, "spawn"), (True, "stop"), (False, None), (True, "spawn")]
    )
    def test_pending_or_not_ready_servers_are_never_culled(self, ready, pending):
        s = server(idle=timedelta(days=3), age=timedelta(days=9), ready=ready, pending=pending)
        decision = cull_decision(s, cull_at=None, now=NOW, policy=aged(HOUR))
        assert decision == CullDecision(False, "server is pending or not ready")

    def test_an_idle_ready_server_is_culled(self):
        decision = cull_decision(server(idle=2 * HOUR), cull_at=None, now=NOW, policy=POLICY)
        assert decision == CullDecision(True, "idle beyond 1:00:00 and past any extension")

    def test_a_server_is_culled_the_moment_nothing_is_left(self):
        exactly = cull_decision(server(idle=HOUR), cull_at=None, now=NOW, policy=POLICY)
        assert exactly.cull
        just_before = server(idle=HOUR - timedelta(microseconds=1))
        decision = cull_decision(just_before, cull_at=None, now=NOW, policy=POLICY)
        assert decision == CullDecision(False, "0:00:00.000001 left")

    def test_an_active_server_is_kept_saying_how_long_is_left(self):
        decision = cull_decision(server(idle=20 * MINUTE), cull_at=None, now=NOW, policy=POLICY)
        assert decision == CullDecision(False, "0:40:00 left")

    def test_an_extension_keeps_an_idle_server(self):
        s = server(idle=2 * HOUR)
        decision = cull_decision(s, cull_at=NOW + 2 * HOUR, now=NOW, policy=POLICY)
        assert decision == CullDecision(False, "2:00:00 left")

    def test_max_age_culls_whatever_the_activity(self):
        policy = aged(2 * HOUR)
        s = server(age=2 * HOUR)
        decision = cull_decision(s, cull_at=NOW + 5 * HOUR, now=NOW, policy=policy)
        assert decision == CullDecision(True, "server reached max age 2:00:00")

    def test_max_age_not_yet_reached(self):
        policy = aged(2 * HOUR)
        s = server(age=2 * HOUR - MINUTE)
        decision = cull_decision(s, cull_at=None, now=NOW, policy=policy)
        assert decision == CullDecision(False, "0:01:00 left")

    def test_max_age_needs_a_start_time(self):
        s = server(started=None)
        decision = cull_decision(s, cull_at=None, now=NOW, policy=aged(MINUTE))
        assert decision == CullDecision(False, "1:00:00 left")

    def test_the_max_age_example(self):
        policy = aged(2 * HOUR)
        s = server(age=90 * MINUTE)
        assert cull_decision(s, cull_at=None, now=NOW + 30 * MINUTE, policy=policy).cull


class TestOffer:
    def test_offer_is_the_whole_hours_under_the_ceiling(self):
        s = server(idle=30 * MINUTE)  # 30 min left, ceiling 25 h
        assert offer_hours(s, cull_at=None, now=NOW, policy=POLICY) == 24

    def test_a_partial_hour_is_not_offered(self):
        s = server(idle=10 * MINUTE)  # 50 min left: 24 h 10 min to the ceiling
        assert offer_hours(s, cull_at=None, now=NOW, policy=POLICY) == 24
        assert offer_hours(s, cull_at=NOW + 24 * HOUR, now=NOW, policy=POLICY) == 1
        assert offer_hours(s, cull_at=NOW + 24 * HOUR + MINUTE, now=NOW, policy=POLICY) == 0

    def test_the_offer_never_exceeds_what_one_request_may_ask(self):
        """Regression: after an hour of idleness floor((ceiling - remaining) / 1 h) exceeded the
        maximum extension, and the card offered hours that check_hours then refused."""
        s = server(idle=3 * HOUR, age=5 * HOUR)
        policy = SessionPolicy(enabled=True, idle_timeout_seconds=5 * 3600, max_extension_hours=2)
        assert offer_hours(s, cull_at=None, now=NOW, policy=policy) == 2
        result = extend(s, 2, cull_at=None, now=NOW, policy=policy)
        assert result.cull_at == NOW + 4 * HOUR
        assert offer_hours(s, cull_at=result.cull_at, now=NOW, policy=policy) == 2
        assert offer_hours(s, cull_at=NOW + 6 * HOUR, now=NOW, policy=policy) == 1

    def test_no_offer_when_extensions_are_switched_off(self):
        s = server(idle=3 * HOUR, age=5 * HOUR)
        policy = SessionPolicy(enabled=True, idle_timeout_seconds=5 * 3600, max_extension_hours=0)
        assert offer_hours(s, cull_at=None, now=NOW, policy=policy) == 0

    def test_max_age_limits_the_offer(self):
        s = server(age=HOUR, idle=timedelta(0))
        assert offer_hours(s, cull_at=None, now=NOW, policy=aged(4 * HOUR + 30 * MINUTE)) == 2


class TestCheckHours:
    @pytest.mark.parametrize("hours", [1, 2, 24])
    def test_whole_hours_up_to_the_maximum(self, hours):
        assert check_hours(hours, POLICY) == hours

    @pytest.mark.parametrize(
        ("hours", "message"),
        [
            (0, "hours: must be at least 1, got 0"),
            (-1, "hours: must be at least 1, got -1"),
            (25, "hours: must be at most 24 (the maximum extension), got 25"),
            (True, "hours: must be a whole number, got True"),
            (1.0, "hours: must be a whole number, got 1.0"),
            (0.5, "hours: must be a whole number, got 0.5"),
            ("2", "hours: must be a whole number, got '2'"),
            (None, "hours: must be a whole number, got None"),
        ],
    )
    def test_malformed_hours_are_refused_naming_the_field(self, hours, message):
        with pytest.raises(InvalidValue) as error:
            check_hours(hours, POLICY)
        assert (error.value.field, str(error.value)) == ("hours", message)

    def test_a_huge_number_of_hours_is_repeated_only_in_part(self):
        with pytest.raises(InvalidValue) as error:
            check_hours(10**4000, POLICY)
        assert str(error.value) == (
            f"hours: must be at most 24 (the maximum extension), got {'1' + '0' * 36}..."
        )

    def test_the_maximum_follows_the_policy(self):
        policy = SessionPolicy(enabled=True, max_extension_hours=3)
        assert check_hours(3, policy) == 3
        with pytest.raises(InvalidValue) as error:
            check_hours(4, policy)
        assert str(error.value) == "hours: must be at most 3 (the maximum extension), got 4"

    def test_nothing_to_extend_when_culling_is_off(self):
        with pytest.raises(Refused) as error:
            check_hours(1, SessionPolicy(enabled=False))
        assert error.value.reason == "Idle culling is not enabled, so there is nothing to extend."
        assert isinstance(error.value, Conflict)

    def test_extensions_switched_off(self):
        with pytest.raises(Refused) as error:
            check_hours(1, SessionPolicy(enabled=True, max_extension_hours=0))
        assert str(error.value) == "Session extensions are switched off on this hub."

    def test_a_malformed_request_is_reported_before_the_policy_refuses(self):
        with pytest.raises(InvalidValue):
            check_hours(0, SessionPolicy(enabled=False))


class TestExtend:
    def test_extension_is_truncated_to_the_offer_and_lands_on_the_ceiling(self):
        s = server(idle=30 * MINUTE)
        result = extend(s, 24, cull_at=None, now=NOW, policy=POLICY)
        assert result == Extension(
            requested_hours=24,
            granted_hours=24,
            truncated=False,
            cull_at=NOW + 25 * HOUR,
            remaining_before=30 * MINUTE,
            remaining_after=25 * HOUR,
        )
        assert result.message == "Added 24 hour(s) to the session"

    def test_asking_for_more_than_is_on_offer_is_truncated(self):
        s = server(idle=30 * MINUTE)
        first = extend(s, 20, cull_at=None, now=NOW, policy=POLICY)
        assert first.cull_at == NOW + 20 * HOUR + 30 * MINUTE
        second = extend(s, 10, cull_at=first.cull_at, now=NOW, policy=POLICY)
        assert second == Extension(
            requested_hours=10,
            granted_hours=4,
            truncated=True,
            cull_at=NOW + 25 * HOUR,
            remaining_before=20 * HOUR + 30 * MINUTE,
            remaining_after=25 * HOUR,
        )
        assert second.message == (
            "Added 4 hour(s) to the session (asked for 10, limited to the 4 still available)"
        )

    def test_partial_extension_adds_whole_hours(self):
        s = server(idle=30 * MINUTE)
        result = extend(s, 2, cull_at=None, now=NOW, policy=POLICY)
        assert result.cull_at == NOW + 2 * HOUR + 30 * MINUTE
        assert result.remaining_before == 30 * MINUTE
        assert result.remaining_after == 2 * HOUR + 30 * MINUTE
        assert (result.granted_hours, result.truncated) == (2, False)
        assert result.message == "Added 2 hour(s) to the session"

    def test_extending_twice_builds_on_the_stored_deadline(self):
        s = server(idle=50 * MINUTE)  # 10 min left
        first = extend(s, 3, cull_at=None, now=NOW, policy=POLICY)
        assert first.cull_at == NOW + 3 * HOUR + 10 * MINUTE
        later = NOW + HOUR
        idle_since = server(idle=50 * MINUTE + HOUR)
        second = extend(idle_since, 2, cull_at=first.cull_at, now=later, policy=POLICY)
        assert second.remaining_before == 2 * HOUR + 10 * MINUTE
        assert second.cull_at == first.cull_at + 2 * HOUR
        assert second.remaining_after == 4 * HOUR + 10 * MINUTE

    def test_a_named_server_is_extended_like_the_default_one(self):
        s = server(name="gpu", idle=30 * MINUTE)
        assert extend(s, 1, cull_at=None, now=NOW, policy=POLICY).cull_at == (
            NOW + HOUR + 30 * MINUTE
        )

    def test_a_server_without_a_start_time(self):
        s = server(started=None, last_activity=None)
        result = extend(s, 1, cull_at=None, now=NOW, policy=aged(HOUR))
        assert (result.remaining_before, result.remaining_after) == (HOUR, 2 * HOUR)

    def test_max_age_caps_the_extension(self):
        policy = aged(3 * HOUR + 30 * MINUTE)
        s = server(age=HOUR)  # 1 h left idle, 2 h 30 min left before max age
        result = extend(s, 5, cull_at=None, now=NOW, policy=policy)
        assert (result.granted_hours, result.truncated) == (1, True)
        assert result.cull_at == NOW + 2 * HOUR + 30 * MINUTE  # the whole offer: the ceiling

    def test_no_offer_refuses_with_a_reason(self):
        with pytest.raises(Refused) as error:
            extend(server(), 1, cull_at=NOW + POLICY.ceiling, now=NOW, policy=POLICY)
        assert str(error.value) == (
            "No extension is available: the session already runs to its limit of 25 h from now."
        )

    def test_less_than_an_hour_below_the_ceiling_is_no_offer(self):
        cull_at = NOW + POLICY.ceiling - 59 * MINUTE
        with pytest.raises(Refused, match="limit of 25 h from now"):
            extend(server(), 1, cull_at=cull_at, now=NOW, policy=POLICY)

    @pytest.mark.parametrize(
        ("max_age", "text"),
        [
            (HOUR + 30 * MINUTE, "0 h 30 min"),
            (2 * HOUR + 5 * MINUTE + 59 * timedelta(seconds=1), "1 h 05 min"),
            (2 * HOUR, "1 h"),
        ],
    )
    def test_the_limit_is_told_in_hours_and_minutes(self, max_age, text):
        policy = aged(max_age)
        s = server(age=HOUR)
        ceiling = effective_ceiling(s, now=NOW, policy=policy)
        with pytest.raises(Refused) as error:
            extend(s, 1, cull_at=NOW + ceiling, now=NOW, policy=policy)
        assert str(error.value) == (
            f"No extension is available: the session already runs to its limit of {text} from now."
        )

    def test_extension_is_refused_when_culling_is_off(self):
        with pytest.raises(Refused, match=r"^Idle culling is not enabled"):
            extend(server(), 1, cull_at=None, now=NOW, policy=SessionPolicy(enabled=False))

    @pytest.mark.parametrize(
        "stopped", [server(ready=False), server(ready=False, pending=None, started=None)]
    )
    def test_extension_is_refused_for_a_stopped_server(self, stopped):
        with pytest.raises(Refused) as error:
            extend(stopped, 1, cull_at=None, now=NOW, policy=POLICY)
        assert str(error.value) == "The server is not running."

    def test_a_starting_server_may_be_extended(self):
        starting = server(ready=False, pending="spawn", idle=30 * MINUTE)
        assert extend(starting, 1, cull_at=None, now=NOW, policy=POLICY).granted_hours == 1

    @pytest.mark.parametrize("hours", [0, -1, True, 1.0, 25])
    def test_malformed_hours_are_refused(self, hours):
        with pytest.raises(InvalidValue) as error:
            extend(server(), hours, cull_at=None, now=NOW, policy=POLICY)
        assert error.value.field == "hours"


class TestDeadline:
    def test_a_deadline_only_applies_to_the_server_instance_it_was_set_for(self):
        s = server()
        assert SessionDeadline("alice", "", s.started, NOW + HOUR).applies_to(s)
        assert not SessionDeadline("alice", "", s.started - HOUR, NOW + HOUR).applies_to(s)
        assert not SessionDeadline("bob", "", s.started, NOW + HOUR).applies_to(s)
        assert not SessionDeadline("alice", "gpu", s.started, NOW + HOUR).applies_to(s)

    def test_a_named_server_and_a_server_without_a_start_time(self):
        named = server(name="gpu", started=None)
        assert SessionDeadline("alice", "gpu", None, NOW).applies_to(named)
        assert not SessionDeadline("alice", "gpu", NOW, NOW).applies_to(named)

    def test_the_same_instant_in_another_zone_is_the_same_instance(self):
        s = server()
        elsewhere = s.started.astimezone(timezone(timedelta(hours=2)))
        assert SessionDeadline("alice", "", elsewhere, NOW).applies_to(s)


class TestProperties:
    @given(session_policies(), servers(now=NOW), deadlines(now=NOW))
    def test_remaining_is_always_within_zero_and_the_ceiling(self, policy, s, cull_at):
        left = remaining(s, cull_at=cull_at, now=NOW, policy=policy)
        assert timedelta(0) <= left <= effective_ceiling(s, now=NOW, policy=policy)
        assert effective_ceiling(s, now=NOW, policy=policy) <= policy.ceiling

    @given(session_policies(), servers(now=NOW, running=True), deadlines(now=NOW), st.data())
    def test_extending_never_shortens_and_never_grants_more_than_the_offer(
        self, policy, s, cull_at, data
    ):
        offer = offer_hours(s, cull_at=cull_at, now=NOW, policy=policy)
        assume(offer > 0)
        hours = data.draw(st.integers(1, policy.max_extension_hours))
        assert offer <= policy.max_extension_hours
        before = remaining(s, cull_at=cull_at, now=NOW, policy=policy)
        result = extend(s, hours, cull_at=cull_at, now=NOW, policy=policy)
        after = remaining(s, cull_at=result.cull_at, now=NOW, policy=policy)
        assert after >= before
        assert result.granted_hours == min(hours, offer)
        assert result.truncated == (hours > offer)
        assert after <= effective_ceiling(s, now=NOW, policy=policy)
        assert result.remaining_after == after
        assert after - before >= result.granted_hours * HOUR or after == effective_ceiling(
            s, now=NOW, policy=policy
        )

    @given(session_policies(), servers(now=NOW, running=True), deadlines(now=NOW))
    def test_the_whole_offer_is_always_granted(self, policy, s, cull_at):
        """Taking the whole offer reaches the ceiling, or adds the maximum extension when the
        ceiling lies further away than one request may reach."""
        offer = offer_hours(s, cull_at=cull_at, now=NOW, policy=policy)
        assert 0 <= offer <= policy.max_extension_hours
        assume(offer > 0)
        before = remaining(s, cull_at=cull_at, now=NOW, policy=policy)
        result = extend(s, offer, cull_at=cull_at, now=NOW, policy=policy)
        ceiling = effective_ceiling(s, now=NOW, policy=policy)
        assert (result.granted_hours, result.truncated) == (offer, False)
        if result.remaining_after != ceiling:
            assert offer == policy.max_extension_hours
            assert result.remaining_after == before + offer * HOUR
        else:
            assert offer_hours(s, cull_at=result.cull_at, now=NOW, policy=policy) == 0

    @given(session_policies(), servers(now=NOW), deadlines(now=NOW))
    def test_the_cull_decision_agrees_with_the_remaining_time(self, policy, s, cull_at):
        decision = cull_decision(s, cull_at=cull_at, now=NOW, policy=policy)
        left = remaining(s, cull_at=cull_at, now=NOW, policy=policy)
        eligible = s.ready and s.pending is None
        assert decision.cull == (eligible and left <= timedelta(0))

    @given(session_policies(), servers(now=NOW, running=True), durations(-HOUR, HOUR))
    def test_an_offer_of_zero_is_always_refused(self, policy, s, below):
        """Within an hour of the ceiling nothing is on offer, and asking is refused."""
        assume(policy.max_extension_hours > 0)
        ceiling = effective_ceiling(s, now=NOW, policy=policy)
        cull_at = NOW + ceiling - abs(below) + timedelta(microseconds=1)
        assert offer_hours(s, cull_at=cull_at, now=NOW, policy=policy) == 0
        with pytest.raises(Refused, match=r"^No extension is available"):
            extend(s, 1, cull_at=cull_at, now=NOW, policy=policy)


class TestExtensionHoursUsed:
    """The original's `extensions_used_hours`: whole hours (rounded up) the deadline reaches
    beyond the plain idle timeout."""

    def used(self, cull_at, *, idle: timedelta = 10 * MINUTE) -> int:
        return extension_hours_used(server(idle=idle), cull_at=cull_at, now=NOW, policy=POLICY)

    def test_no_deadline_uses_nothing(self):
        assert self.used(None) == 0

    def test_an_extension_uses_the_hours_it_granted(self):
        granted = extend(server(idle=10 * MINUTE), 2, cull_at=None, now=NOW, policy=POLICY)
        assert self.used(granted.cull_at) == 2
        plain = NOW - 10 * MINUTE + HOUR  # the last activity plus the idle timeout
        assert self.used(plain + HOUR) == 1
        assert self.used(plain + HOUR + MINUTE) == 2  # a started hour counts
        assert self.used(plain + timedelta(seconds=1)) == 1

    def test_a_deadline_the_timeout_reaches_past_uses_nothing(self):
        plain = NOW - 10 * MINUTE + HOUR
        assert self.used(plain) == 0
        assert self.used(plain - HOUR) == 0

    def test_activity_after_the_extension_takes_back_what_it_covers(self):
        deadline = NOW + 3 * HOUR  # granted while idle; now the user works again
        assert self.used(deadline, idle=timedelta(0)) == 2
        assert self.used(deadline, idle=2 * HOUR) == 4

    def test_a_server_with_neither_activity_nor_a_start_counts_from_now(self):
        # A server still on its way: idleness is measured from now, as the countdown does.
        starting = server(ready=False, pending="spawn", started=None, last_activity=None)
        granted = extend(starting, 2, cull_at=None, now=NOW, policy=POLICY)
        used = extension_hours_used(starting, cull_at=granted.cull_at, now=NOW, policy=POLICY)
        assert (granted.cull_at, used) == (NOW + 3 * HOUR, 2)


class TestWarningTime:
    """`SessionPolicy.warning`: None (never warn) only for 0 minutes; every other value,
    one minute included, is a warning time."""

    def test_zero_minutes_means_no_warning(self):
        assert SessionPolicy(warning_minutes=0).warning is None
        assert SessionPolicy().warning is None

    @pytest.mark.parametrize("minutes", [1, 2, 10, 1440])
    def test_any_other_number_of_minutes_is_a_warning_time(self, minutes):
        assert SessionPolicy(warning_minutes=minutes).warning == timedelta(minutes=minutes)
