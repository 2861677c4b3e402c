"""Tests for `stellars.domain.sessions`: remaining time, culling and bounded extensions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from stellars.domain.errors import InvalidValue, Refused
from stellars.domain.hub import ServerSnapshot
from stellars.domain.sessions import (
    HOUR,
    SessionDeadline,
    SessionPolicy,
    cull_decision,
    effective_ceiling,
    extend,
    offer_hours,
    remaining,
    validate_hours,
)
from tests.strategies import EPOCH, deadlines, servers, session_policies

NOW = EPOCH + timedelta(days=60)
POLICY = SessionPolicy(enabled=True, idle_timeout_seconds=3600, max_extension_hours=24)


def server(
    *, idle: timedelta = timedelta(0), age: timedelta = timedelta(hours=1), **kw
) -> ServerSnapshot:
    started = NOW - age
    return ServerSnapshot(
        username="alice",
        ready=kw.pop("ready", True),
        pending=kw.pop("pending", None),
        started=started,
        last_activity=kw.pop("last_activity", NOW - idle),
    )


class TestExamples:
    def test_fresh_activity_leaves_the_whole_timeout(self):
        assert remaining(server(), cull_at=None, now=NOW, policy=POLICY) == timedelta(hours=1)

    def test_idleness_counts_down_from_the_servers_last_activity(self):
        left = remaining(server(idle=timedelta(minutes=45)), cull_at=None, now=NOW, policy=POLICY)
        assert left == timedelta(minutes=15)

    def test_without_activity_the_start_time_is_the_reference(self):
        s = server(age=timedelta(minutes=20), last_activity=None)
        assert remaining(s, cull_at=None, now=NOW, policy=POLICY) == timedelta(minutes=40)

    def test_a_deadline_later_than_the_idle_limit_wins(self):
        left = remaining(server(), cull_at=NOW + timedelta(hours=5), now=NOW, policy=POLICY)
        assert left == timedelta(hours=5)

    def test_remaining_never_exceeds_the_ceiling(self):
        left = remaining(server(), cull_at=NOW + timedelta(hours=99), now=NOW, policy=POLICY)
        assert left == POLICY.ceiling == timedelta(hours=25)

    def test_max_age_shrinks_the_countdown_to_the_real_stop(self):
        policy = SessionPolicy(
            enabled=True, idle_timeout_seconds=3600, max_extension_hours=24, max_age_seconds=7200
        )
        s = server(age=timedelta(minutes=90))
        assert remaining(s, cull_at=NOW + timedelta(hours=5), now=NOW, policy=policy) == timedelta(
            minutes=30
        )
        assert cull_decision(s, cull_at=None, now=NOW + timedelta(minutes=30), policy=policy).cull

    def test_offer_is_the_whole_hours_under_the_ceiling(self):
        s = server(idle=timedelta(minutes=30))  # 30 min left, ceiling 25 h
        assert offer_hours(s, cull_at=None, now=NOW, policy=POLICY) == 24

    def test_extension_is_truncated_to_the_offer_and_lands_on_the_ceiling(self):
        s = server(idle=timedelta(minutes=30))
        result = extend(s, 30, cull_at=None, now=NOW, policy=POLICY)
        assert (result.granted_hours, result.truncated) == (24, True)
        assert result.cull_at == NOW + POLICY.ceiling
        assert "limited" in result.message

    def test_partial_extension_adds_whole_hours(self):
        s = server(idle=timedelta(minutes=30))
        result = extend(s, 2, cull_at=None, now=NOW, policy=POLICY)
        assert result.cull_at == NOW + timedelta(minutes=30) + 2 * HOUR
        assert result.remaining_after == timedelta(hours=2, minutes=30)
        assert not result.truncated

    def test_no_offer_refuses_with_a_reason(self):
        with pytest.raises(Refused, match="limit of 25 h"):
            extend(server(), 1, cull_at=NOW + POLICY.ceiling, now=NOW, policy=POLICY)

    def test_extension_is_refused_when_culling_is_off(self):
        with pytest.raises(Refused, match="not enabled"):
            extend(server(), 1, cull_at=None, now=NOW, policy=SessionPolicy(enabled=False))

    def test_extension_is_refused_for_a_stopped_server(self):
        with pytest.raises(Refused, match="not running"):
            extend(server(ready=False), 1, cull_at=None, now=NOW, policy=POLICY)

    @pytest.mark.parametrize("hours", [0, -1, 0.5, 1.5, True, "2", None, [1]])
    def test_malformed_hours_are_refused_naming_the_field(self, hours):
        with pytest.raises(InvalidValue) as error:
            validate_hours(hours)
        assert error.value.field == "hours"

    def test_whole_floats_are_accepted_as_hours(self):
        assert validate_hours(2.0) == 2

    def test_pending_servers_are_never_culled(self):
        s = server(idle=timedelta(days=3), pending="spawn", ready=False)
        assert not cull_decision(s, cull_at=None, now=NOW, policy=POLICY).cull

    def test_an_idle_ready_server_is_culled(self):
        s = server(idle=timedelta(hours=2))
        decision = cull_decision(s, cull_at=None, now=NOW, policy=POLICY)
        assert decision.cull
        assert "idle" in decision.reason

    def test_a_deadline_only_applies_to_the_server_instance_it_was_set_for(self):
        s = server()
        same = SessionDeadline("alice", "", s.started, NOW + HOUR)
        earlier = SessionDeadline("alice", "", s.started - HOUR, NOW + HOUR)
        assert same.applies_to(s)
        assert not earlier.applies_to(s)

    @pytest.mark.parametrize(
        ("field", "kwargs"),
        [
            ("idle_timeout_seconds", {"idle_timeout_seconds": 10}),
            ("max_extension_hours", {"max_extension_hours": -1}),
            ("max_age_seconds", {"max_age_seconds": -5}),
            ("cull_every_seconds", {"cull_every_seconds": 0}),
            ("enabled", {"enabled": 1}),
        ],
    )
    def test_policy_values_are_validated(self, field, kwargs):
        with pytest.raises(InvalidValue) as error:
            SessionPolicy(**kwargs)
        assert error.value.field == field


class TestProperties:
    @given(session_policies(), servers(now=NOW), deadlines(now=NOW))
    def test_remaining_is_always_within_zero_and_the_ceiling(self, policy, s, cull_at):
        left = remaining(s, cull_at=cull_at, now=NOW, policy=policy)
        assert timedelta(0) <= left <= policy.ceiling

    @given(session_policies(), servers(now=NOW, running=True), deadlines(now=NOW), st.data())
    def test_extending_never_shortens_and_never_grants_more_than_the_offer(
        self, policy, s, cull_at, data
    ):
        offer = offer_hours(s, cull_at=cull_at, now=NOW, policy=policy)
        assume(offer > 0)
        hours = data.draw(st.integers(1, 200))
        before = remaining(s, cull_at=cull_at, now=NOW, policy=policy)
        result = extend(s, hours, cull_at=cull_at, now=NOW, policy=policy)
        after = remaining(s, cull_at=result.cull_at, now=NOW, policy=policy)
        assert after >= before
        assert result.granted_hours <= offer
        assert result.granted_hours == min(hours, offer)
        assert after <= effective_ceiling(s, now=NOW, policy=policy)
        assert result.remaining_after == after

    @given(session_policies(), servers(now=NOW, running=True), deadlines(now=NOW))
    def test_taking_the_whole_offer_lands_on_the_ceiling(self, policy, s, cull_at):
        offer = offer_hours(s, cull_at=cull_at, now=NOW, policy=policy)
        assume(offer > 0)
        result = extend(s, offer, cull_at=cull_at, now=NOW, policy=policy)
        ceiling = effective_ceiling(s, now=NOW, policy=policy)
        assert remaining(s, cull_at=result.cull_at, now=NOW, policy=policy) == ceiling
        assert offer_hours(s, cull_at=result.cull_at, now=NOW, policy=policy) == 0

    @given(session_policies(), servers(now=NOW), deadlines(now=NOW))
    def test_the_cull_decision_agrees_with_the_remaining_time(self, policy, s, cull_at):
        decision = cull_decision(s, cull_at=cull_at, now=NOW, policy=policy)
        left = remaining(s, cull_at=cull_at, now=NOW, policy=policy)
        eligible = s.ready and s.pending is None
        assert decision.cull == (eligible and left <= timedelta(0))

    @given(session_policies(), servers(now=NOW, running=True), deadlines(now=NOW))
    def test_an_offer_of_zero_is_always_refused(self, policy, s, cull_at):
        assume(offer_hours(s, cull_at=cull_at, now=NOW, policy=policy) == 0)
        with pytest.raises(Refused):
            extend(s, 1, cull_at=cull_at, now=NOW, policy=policy)
