"""Tests for `stellars.domain.activity`: the decay score, its fast path, and levels."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.activity import (
    ActivityLevel,
    ActivityPolicy,
    ActivitySample,
    DecayedTally,
    RecordedSample,
    activity_level,
    classify,
    decay_weight,
    in_window,
    is_active,
    retention_cutoff,
    score_samples,
    tally_samples,
)
from stellars.domain.errors import InvalidValue
from tests.strategies import EPOCH, activity_policies, durations, histories

NOW = EPOCH + timedelta(days=100)
POLICY = ActivityPolicy()


def sample(age: timedelta, active: bool, user: str = "alice") -> RecordedSample:
    return RecordedSample(user, NOW - age, active)


@st.composite
def scenario(draw: st.DrawFn):
    policy = draw(activity_policies())
    history = draw(histories(now=NOW, window=policy.retention))
    return policy, history


class TestPolicy:
    def test_defaults_match_the_documented_ones(self):
        assert (
            POLICY.retention_days,
            POLICY.half_life_hours,
            POLICY.inactive_after_minutes,
            POLICY.sample_interval_seconds,
            POLICY.target_hours,
        ) == (7, 72, 60, 600, 8)

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("retention_days", 0),
            ("retention_days", 366),
            ("half_life_hours", 169),
            ("inactive_after_minutes", 0),
            ("inactive_after_minutes", 1441),
            ("sample_interval_seconds", 59),
            ("sample_interval_seconds", 86_401),
            ("target_hours", 25),
            ("target_hours", 0),
            ("half_life_hours", True),
            ("retention_days", 7.0),
        ],
    )
    def test_out_of_range_values_are_refused_naming_the_field(self, field, value):
        with pytest.raises(InvalidValue) as error:
            ActivityPolicy(**{field: value})
        assert error.value.field == field

    def test_samples_per_day_rounds_up(self):
        assert ActivityPolicy(sample_interval_seconds=600).samples_per_day == 144
        assert ActivityPolicy(sample_interval_seconds=7000).samples_per_day == 13


class TestActiveVerdict:
    def test_server_activity_within_the_threshold_is_active(self):
        s = ActivitySample("alice", NOW, NOW - timedelta(minutes=60))
        assert is_active(s, POLICY)
        assert classify(s, POLICY).active

    def test_server_activity_beyond_the_threshold_is_inactive(self):
        assert not is_active(ActivitySample("alice", NOW, NOW - timedelta(minutes=61)), POLICY)

    def test_no_server_activity_is_inactive(self):
        assert not is_active(ActivitySample("alice", NOW, None), POLICY)


class TestWindow:
    def test_window_is_open_at_the_cutoff_and_closed_at_now(self):
        cutoff = retention_cutoff(NOW, POLICY)
        assert cutoff == NOW - timedelta(days=7)
        assert not in_window(cutoff, now=NOW, policy=POLICY)
        assert in_window(cutoff + timedelta(microseconds=1), now=NOW, policy=POLICY)
        assert in_window(NOW, now=NOW, policy=POLICY)
        assert not in_window(NOW + timedelta(microseconds=1), now=NOW, policy=POLICY)


class TestScoreExamples:
    def test_no_samples_gives_none(self):
        assert score_samples([], now=NOW, policy=POLICY).value is None

    def test_a_sample_one_half_life_older_weighs_half(self):
        """active weighs 1/2, inactive 1: floor(100 * 0.5 / 1.5) = 33."""
        history = [sample(timedelta(hours=72 + 1), True), sample(timedelta(hours=1), False)]
        assert score_samples(history, now=NOW, policy=POLICY).value == 33

    def test_equal_weights_half_active_is_exactly_fifty(self):
        history = [sample(timedelta(hours=3), True), sample(timedelta(hours=3), False)]
        assert score_samples(history, now=NOW, policy=POLICY).value == 50
        assert tally_samples(history, POLICY.half_life).score(POLICY).value == 50

    def test_enough_data_needs_a_day_of_samples(self):
        day = [sample(timedelta(minutes=10 * i), True) for i in range(144)]
        assert score_samples(day[:-1], now=NOW, policy=POLICY).enough_data is False
        assert score_samples(day, now=NOW, policy=POLICY).enough_data is True
        assert score_samples(day, now=NOW, policy=POLICY).sample_count == 144


class TestScoreProperties:
    @given(scenario())
    def test_score_lies_in_0_to_100_and_is_none_only_without_samples(self, case):
        policy, history = case
        score = score_samples(history, now=NOW, policy=policy)
        in_window_count = sum(in_window(s.taken_at, now=NOW, policy=policy) for s in history)
        assert score.sample_count == in_window_count
        if in_window_count == 0:
            assert score.value is None
        else:
            assert 0 <= score.value <= 100

    @given(activity_policies(), st.data())
    def test_all_active_scores_100_and_none_active_scores_0(self, policy, data):
        ages = data.draw(st.lists(durations(timedelta(0), policy.retention * 0.99), min_size=1))
        everyone = [sample(age, True) for age in ages]
        nobody = [sample(age, False) for age in ages]
        assert score_samples(everyone, now=NOW, policy=policy).value == 100
        assert score_samples(nobody, now=NOW, policy=policy).value == 0

    @given(scenario(), st.data())
    def test_an_active_sample_never_lowers_and_an_inactive_one_never_raises(self, case, data):
        policy, history = case
        age = data.draw(durations(timedelta(0), policy.retention * 0.99))
        before = score_samples(history, now=NOW, policy=policy).value
        with_active = score_samples([*history, sample(age, True)], now=NOW, policy=policy).value
        with_idle = score_samples([*history, sample(age, False)], now=NOW, policy=policy).value
        if before is None:
            assert (with_active, with_idle) == (100, 0)
        else:
            assert with_active >= before
            assert with_idle <= before

    @given(scenario(), durations(-timedelta(days=3000), timedelta(days=3000)))
    def test_shifting_every_timestamp_and_now_changes_nothing(self, case, shift):
        policy, history = case
        moved = [RecordedSample(s.username, s.taken_at + shift, s.active) for s in history]
        assert score_samples(moved, now=NOW + shift, policy=policy) == score_samples(
            history, now=NOW, policy=policy
        )

    @given(scenario(), st.data())
    def test_samples_older_than_the_retention_window_have_no_effect(self, case, data):
        policy, history = case
        extra_ages = data.draw(
            st.lists(durations(policy.retention, policy.retention * 3), min_size=1)
        )
        stale = [sample(age, data.draw(st.booleans())) for age in extra_ages]
        assert score_samples([*history, *stale], now=NOW, policy=policy) == score_samples(
            history, now=NOW, policy=policy
        )

    @given(durations(timedelta(0), timedelta(days=30)), st.integers(1, 168))
    def test_one_half_life_older_weighs_half(self, age, half_life_hours):
        half_life = timedelta(hours=half_life_hours)
        older = decay_weight(age + half_life, half_life)
        assert math.isclose(older, decay_weight(age, half_life) / 2, rel_tol=1e-12)

    @given(st.integers(0, 60), st.integers(1, 168))
    def test_whole_half_lives_weigh_exact_powers_of_two(self, k, half_life_hours):
        half_life = timedelta(hours=half_life_hours)
        assert decay_weight(k * half_life, half_life) == 2.0**-k


class TestTallyEqualsDefinition:
    """The fast path: a tally maintained by adds and removes scores like the definition."""

    @given(scenario(), st.randoms(use_true_random=False))
    def test_tally_of_the_window_scores_like_the_definition(self, case, rnd):
        policy, history = case
        shuffled = list(history)
        rnd.shuffle(shuffled)  # stores see samples out of order too
        tally = DecayedTally()
        for s in shuffled:
            tally = tally.add(s.taken_at, s.active, policy.half_life)
        # prune what left the window, as a store does
        for s in shuffled:
            if not in_window(s.taken_at, now=NOW, policy=policy):
                tally = tally.remove(s.taken_at, s.active, policy.half_life)
        assert tally.score(policy) == score_samples(history, now=NOW, policy=policy)

    @given(scenario(), scenario())
    def test_merging_two_tallies_equals_tallying_both_histories(self, first, second):
        policy = first[0]
        a = [RecordedSample("alice", s.taken_at, s.active) for s in first[1]]
        b = [RecordedSample("alice", s.taken_at, s.active) for s in second[1]]
        inside = [s for s in a + b if in_window(s.taken_at, now=NOW, policy=policy)]
        merged = tally_samples([s for s in a if s in inside], policy.half_life).merge(
            tally_samples([s for s in b if s in inside], policy.half_life), policy.half_life
        )
        assert merged.score(policy) == score_samples(a + b, now=NOW, policy=policy)

    def test_removing_from_an_empty_tally_is_refused(self):
        with pytest.raises(InvalidValue):
            DecayedTally().remove(NOW, False, POLICY.half_life)

    def test_removing_every_sample_leaves_an_empty_tally(self):
        tally = tally_samples([sample(timedelta(hours=1), True)], POLICY.half_life)
        empty = tally.remove(NOW - timedelta(hours=1), True, POLICY.half_life)
        assert empty == DecayedTally()
        assert empty.score(POLICY).value is None


class TestLevels:
    @pytest.mark.parametrize(
        ("score", "level"),
        [
            (None, ActivityLevel.NONE),
            (0, ActivityLevel.NONE),
            (1, ActivityLevel.VERY_LOW),
            (19, ActivityLevel.VERY_LOW),
            (20, ActivityLevel.LOW),
            (39, ActivityLevel.LOW),
            (40, ActivityLevel.NORMAL),
            (59, ActivityLevel.NORMAL),
            (60, ActivityLevel.HIGH),
            (79, ActivityLevel.HIGH),
            (80, ActivityLevel.VERY_HIGH),
            (100, ActivityLevel.VERY_HIGH),
        ],
    )
    def test_bands(self, score, level):
        assert activity_level(score) is level
