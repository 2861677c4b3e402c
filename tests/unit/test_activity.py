"""Tests for `stellars.domain.activity`: the decay score, its fast path, and levels.

Expected numbers are worked out by hand from the definition: with half-lives of whole hours and
samples whole half-lives apart every weight is an exact power of two.
"""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stellars.domain.activity import (
    ActivityLevel,
    ActivityPolicy,
    ActivitySample,
    ActivityScore,
    ActivityStoreSummary,
    DailyActivity,
    DecayedTally,
    RecordedSample,
    activity_level,
    classify,
    decay_weight,
    history_range,
    in_window,
    is_active,
    percent_from_weights,
    retention_cutoff,
    score_samples,
    tally_samples,
)
from stellars.domain.errors import InvalidValue
from tests.strategies import EPOCH, activity_policies, durations, histories

NOW = EPOCH + timedelta(days=400)
POLICY = ActivityPolicy()
HOUR = timedelta(hours=1)
H1 = ActivityPolicy(half_life_hours=1)  # weights halve every hour


def sample(age: timedelta, active: bool, user: str = "alice") -> RecordedSample:
    return RecordedSample(user, NOW - age, active)


def tally(*samples: tuple[timedelta, bool], half_life: timedelta = HOUR) -> DecayedTally:
    """A tally built by adding (age, active) samples in the order given."""
    result = DecayedTally()
    for age, active in samples:
        result = result.add(NOW - age, active, half_life)
    return result


@st.composite
def scenario(draw: st.DrawFn):
    policy = draw(activity_policies())
    history = draw(histories(now=NOW, window=policy.retention))
    return policy, history


@st.composite
def vanishing_scenario(draw: st.DrawFn):
    """A policy whose window spans at least 60 half-lives, and a history of recent samples
    (within 4 half-lives) plus far ones, 30 half-lives old or more: next to the recent samples
    the far ones weigh 2^-30 or less, down to nothing at all in a float sum (2^-53 of it).
    Often the far samples are all idle and the recent ones all active, or the other way round:
    the histories whose score ends (99 and 0) only the counts can tell."""
    half_life_hours = draw(st.integers(1, 48))
    retention_days = draw(st.integers(math.ceil(60 * half_life_hours / 24), 365))
    policy = ActivityPolicy(
        retention_days=retention_days,
        half_life_hours=half_life_hours,
        sample_interval_seconds=draw(st.integers(60, 86_400)),
    )
    recent = draw(st.lists(durations(timedelta(0), 4 * policy.half_life), min_size=1, max_size=8))
    far = draw(
        st.lists(durations(30 * policy.half_life, policy.retention * 1.1), min_size=1, max_size=4)
    )
    pattern = draw(st.sampled_from(["active recent", "idle recent", "mixed"]))

    def activity(is_recent: bool) -> bool:
        if pattern == "mixed":
            return draw(st.booleans())
        return is_recent == (pattern == "active recent")

    history = [sample(age, activity(True)) for age in recent]
    history += [sample(age, activity(False)) for age in far]
    return policy, history


#: Histories of any shape, and histories where some weights vanish next to others.
any_scenario = st.one_of(scenario(), vanishing_scenario())


class TestPolicy:
    def test_defaults_match_the_documented_ones(self):
        assert (
            POLICY.retention_days,
            POLICY.half_life_hours,
            POLICY.inactive_after_minutes,
            POLICY.sample_interval_seconds,
            POLICY.target_hours,
        ) == (7, 72, 60, 600, 8)

    def test_the_limits_are_the_documented_ranges(self):
        assert dict(ActivityPolicy.LIMITS) == {
            "retention_days": (1, 365),
            "half_life_hours": (1, 168),
            "inactive_after_minutes": (1, 1440),
            "sample_interval_seconds": (60, 86_400),
            "target_hours": (1, 24),
        }

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("retention_days", 0, "must be between 1 and 365, got 0"),
            ("retention_days", 366, "must be between 1 and 365, got 366"),
            ("half_life_hours", 0, "must be between 1 and 168, got 0"),
            ("half_life_hours", 169, "must be between 1 and 168, got 169"),
            ("inactive_after_minutes", 0, "must be between 1 and 1440, got 0"),
            ("inactive_after_minutes", 1441, "must be between 1 and 1440, got 1441"),
            ("sample_interval_seconds", 59, "must be between 60 and 86400, got 59"),
            ("sample_interval_seconds", 86_401, "must be between 60 and 86400, got 86401"),
            ("target_hours", 25, "must be between 1 and 24, got 25"),
            ("target_hours", 0, "must be between 1 and 24, got 0"),
            ("half_life_hours", True, "must be a whole number, got True"),
            ("retention_days", 7.0, "must be a whole number, got 7.0"),
        ],
    )
    def test_out_of_range_values_are_refused_naming_the_field(self, field, value, message):
        with pytest.raises(InvalidValue) as error:
            ActivityPolicy(**{field: value})
        assert (error.value.field, error.value.message) == (field, message)

    def test_the_range_ends_are_allowed(self):
        low = ActivityPolicy(
            retention_days=1,
            half_life_hours=1,
            inactive_after_minutes=1,
            sample_interval_seconds=60,
            target_hours=1,
        )
        high = ActivityPolicy(
            retention_days=365,
            half_life_hours=168,
            inactive_after_minutes=1440,
            sample_interval_seconds=86_400,
            target_hours=24,
        )
        assert (low.retention_days, high.retention_days) == (1, 365)

    def test_durations_in_their_units(self):
        policy = ActivityPolicy(
            retention_days=3,
            half_life_hours=5,
            inactive_after_minutes=7,
            sample_interval_seconds=90,
        )
        assert policy.retention == timedelta(days=3)
        assert policy.half_life == timedelta(hours=5)
        assert policy.inactive_after == timedelta(minutes=7)
        assert policy.sample_interval == timedelta(seconds=90)

    @pytest.mark.parametrize(
        ("interval", "per_day"), [(600, 144), (7000, 13), (86_400, 1), (60, 1440), (86_399, 2)]
    )
    def test_samples_per_day_rounds_up(self, interval, per_day):
        assert ActivityPolicy(sample_interval_seconds=interval).samples_per_day == per_day


class TestActiveVerdict:
    def test_server_activity_within_the_threshold_is_active(self):
        s = ActivitySample("alice", NOW, NOW - timedelta(minutes=60))
        assert is_active(s, POLICY) is True
        assert classify(s, POLICY) == RecordedSample(
            "alice", NOW, True, NOW - timedelta(minutes=60)
        )

    def test_server_activity_beyond_the_threshold_is_inactive(self):
        s = ActivitySample("bob", NOW, NOW - timedelta(minutes=60, microseconds=1))
        assert is_active(s, POLICY) is False
        assert classify(s, POLICY) == RecordedSample(
            "bob", NOW, False, NOW - timedelta(minutes=60, microseconds=1)
        )

    def test_activity_after_the_sample_time_is_active(self):
        # the hub may report activity a moment newer than the sampler's clock
        assert is_active(ActivitySample("alice", NOW, NOW + timedelta(minutes=90)), POLICY)

    def test_no_server_activity_is_inactive(self):
        assert is_active(ActivitySample("alice", NOW, None), POLICY) is False
        assert classify(ActivitySample("alice", NOW, None), POLICY) == RecordedSample(
            "alice", NOW, False, None
        )


class TestWindow:
    def test_window_is_open_at_the_cutoff_and_closed_at_now(self):
        cutoff = retention_cutoff(NOW, POLICY)
        assert cutoff == NOW - timedelta(days=7)
        assert not in_window(cutoff, now=NOW, policy=POLICY)
        assert in_window(cutoff + timedelta(microseconds=1), now=NOW, policy=POLICY)
        assert in_window(NOW, now=NOW, policy=POLICY)
        assert not in_window(NOW + timedelta(microseconds=1), now=NOW, policy=POLICY)

    def test_the_cutoff_follows_the_retention(self):
        policy = ActivityPolicy(retention_days=365)
        assert retention_cutoff(NOW, policy) == NOW - timedelta(days=365)


class TestWeights:
    @pytest.mark.parametrize(
        ("age", "half_life", "weight"),
        [
            (timedelta(0), HOUR, 1.0),
            (HOUR, HOUR, 0.5),
            (2 * HOUR, HOUR, 0.25),
            (timedelta(hours=72), timedelta(hours=72), 0.5),
            (timedelta(minutes=30), HOUR, 2**-0.5),
            (-HOUR, HOUR, 2.0),
        ],
    )
    def test_examples(self, age, half_life, weight):
        assert decay_weight(age, half_life) == weight

    @given(durations(timedelta(0), timedelta(days=30)), st.integers(1, 168))
    def test_one_half_life_older_weighs_half(self, age, half_life_hours):
        half_life = timedelta(hours=half_life_hours)
        older = decay_weight(age + half_life, half_life)
        assert math.isclose(older, decay_weight(age, half_life) / 2, rel_tol=1e-12)

    @given(st.integers(0, 60), st.integers(1, 168))
    def test_whole_half_lives_weigh_exact_powers_of_two(self, k, half_life_hours):
        half_life = timedelta(hours=half_life_hours)
        assert decay_weight(k * half_life, half_life) == 2.0**-k


class TestPercent:
    @pytest.mark.parametrize(
        ("active", "total", "percent"),
        [
            (0.0, 0.0, 0),  # nothing weighed
            (1.0, 0.0, 0),
            (1.0, -1.0, 0),
            (0.0, 1.0, 0),
            (0.5, 1.0, 50),  # exact: no tolerance needed
            (1.0, 3.0, 33),
            (2.0, 3.0, 66),
            (0.999, 1.0, 99),
            (1.0, 1.0, 100),
            (2.0, 1.0, 100),  # clamped
            (-1.0, 1.0, 0),  # clamped
            (0.1 + 0.2, 0.6, 50),  # 100 * 0.30000000000000004 / 0.6 lands a hair above 50
            (0.7, 1.0, 70),  # 100 * 0.7 is 70.00000000000001
            (0.29, 1.0, 29),  # 100 * 0.29 is 28.999999999999996: the tolerance makes it 29
        ],
    )
    def test_floor_of_the_active_share(self, active, total, percent):
        assert percent_from_weights(active, total) == percent

    def test_a_result_a_hair_below_an_integer_counts_as_that_integer(self):
        # 1 - 2**-40 of the weight is active: 99.99999999990905 %, within the tolerance of 100
        almost = 1.0 - 2.0**-40
        assert percent_from_weights(almost, 1.0) == 100
        # but a visibly smaller share is floored as usual
        assert percent_from_weights(1.0 - 2.0**-20, 1.0) == 99


class TestScoreExamples:
    def test_no_samples_gives_none(self):
        assert score_samples([], now=NOW, policy=POLICY) == ActivityScore(None, 0, False)

    def test_only_samples_outside_the_window_gives_none(self):
        stale = [sample(POLICY.retention, True), sample(-HOUR, True)]
        assert score_samples(stale, now=NOW, policy=POLICY) == ActivityScore(None, 0, False)

    def test_a_sample_one_half_life_older_weighs_half(self):
        """active weighs 1/2, inactive 1: floor(100 * 0.5 / 1.5) = 33."""
        history = [sample(timedelta(hours=72 + 1), True), sample(HOUR, False)]
        assert score_samples(history, now=NOW, policy=POLICY) == ActivityScore(33, 2, False)

    def test_the_newer_active_sample_weighs_double(self):
        """active weighs 1, inactive 1/2: floor(100 * 1 / 1.5) = 66."""
        history = [sample(timedelta(hours=73), False), sample(HOUR, True)]
        assert score_samples(history, now=NOW, policy=POLICY).value == 66

    def test_equal_weights_half_active_is_exactly_fifty(self):
        history = [sample(timedelta(hours=3), True), sample(timedelta(hours=3), False)]
        assert score_samples(history, now=NOW, policy=POLICY).value == 50
        assert tally_samples(history, POLICY.half_life).score(POLICY).value == 50

    def test_two_of_three_equal_weight_active_samples_is_66(self):
        history = [sample(HOUR, True), sample(HOUR, True), sample(HOUR, False)]
        expected = ActivityScore(66, 3, False)
        assert score_samples(history, now=NOW, policy=POLICY) == expected
        assert tally_samples(history, POLICY.half_life).score(POLICY) == expected

    def test_one_active_sample_in_two_hundred_scores_zero(self):
        history = [sample(HOUR, index == 0) for index in range(200)]
        expected = ActivityScore(0, 200, True)
        assert score_samples(history, now=NOW, policy=POLICY) == expected
        assert tally_samples(history, POLICY.half_life).score(POLICY) == expected
        assert activity_level(expected.value) is ActivityLevel.NONE

    def test_three_whole_half_lives(self):
        """weights 1, 1/2, 1/4, 1/8 relative to the newest sample; active 1/2 and 1/8:
        0.625 / 1.875 = 33.3 % -> 33, and the other way round 1.25 / 1.875 = 66.6 % -> 66."""
        history = [
            sample(timedelta(hours=1), False),
            sample(timedelta(hours=2), True),
            sample(timedelta(hours=3), False),
            sample(timedelta(hours=4), True),
        ]
        assert score_samples(history, now=NOW, policy=H1) == ActivityScore(33, 4, False)
        flipped = [RecordedSample(s.username, s.taken_at, not s.active) for s in history]
        assert score_samples(flipped, now=NOW, policy=H1) == ActivityScore(66, 4, False)

    def test_all_active_is_100_and_none_active_is_0_even_when_weights_vanish(self):
        ancient = [sample(timedelta(days=300) + index * HOUR, True) for index in range(3)]
        policy = ActivityPolicy(retention_days=365, half_life_hours=1)
        assert score_samples(ancient, now=NOW, policy=policy).value == 100
        idle = [RecordedSample(s.username, s.taken_at, False) for s in ancient]
        assert score_samples(idle, now=NOW, policy=policy).value == 0

    def test_a_year_of_retention_with_a_one_hour_half_life_does_not_underflow(self):
        """Regression: weights relative to now were 2^-7200 (0.0) for month-old samples, so the
        definition said 0 while the tally said 66. Relative to the newest sample they are 1."""
        policy = ActivityPolicy(retention_days=365, half_life_hours=1)
        month_old = [
            sample(timedelta(days=30), True),
            sample(timedelta(days=30), True),
            sample(timedelta(days=30), False),
        ]
        assert score_samples(month_old, now=NOW, policy=policy) == ActivityScore(66, 3, False)
        assert tally_samples(month_old, policy.half_life).score(policy).value == 66
        # and with a spread: 1 active of weight 1, 1 inactive of weight 1/2 -> 66
        spread = [sample(timedelta(days=200), True), sample(timedelta(days=200) + HOUR, False)]
        assert score_samples(spread, now=NOW, policy=policy).value == 66
        # a sample 99 half-lives older than the newest weighs 2^-99, far below the floor's
        # tolerance: 99 active of 100 + 2^-99 stays 99 %
        far = [
            *(sample(timedelta(days=100), True) for _ in range(99)),
            sample(timedelta(days=100), False),
            sample(timedelta(days=100) + 99 * HOUR, False),
        ]
        assert score_samples(far, now=NOW, policy=policy).value == 99
        assert tally_samples(far, policy.half_life).score(policy).value == 99

    def test_enough_data_needs_a_day_of_samples(self):
        day = [sample(timedelta(minutes=10 * i), True) for i in range(144)]
        assert score_samples(day[:-1], now=NOW, policy=POLICY) == ActivityScore(100, 143, False)
        assert score_samples(day, now=NOW, policy=POLICY) == ActivityScore(100, 144, True)

    def test_samples_in_the_future_are_ignored(self):
        history = [sample(HOUR, False), sample(-HOUR, True)]
        assert score_samples(history, now=NOW, policy=POLICY) == ActivityScore(0, 1, False)


YEAR = ActivityPolicy(retention_days=365)  # the default half-life of 72 h
H1_WEEK = ActivityPolicy(half_life_hours=1)  # the default retention of 7 days


def both_paths(history: list[RecordedSample], policy: ActivityPolicy) -> list[ActivityScore]:
    """The score by the definition, and by tallies of the window fed newest first and oldest
    first, and of the whole history plus an idle sample from outside the window, pruned to
    the window again as a store does."""
    window = [s for s in history if in_window(s.taken_at, now=NOW, policy=policy)]
    newest_first = sorted(window, key=lambda s: s.taken_at, reverse=True)
    pruned = tally_samples([sample(policy.retention + HOUR, False), *history], policy.half_life)
    for outside in [sample(policy.retention + HOUR, False), *history]:
        if not in_window(outside.taken_at, now=NOW, policy=policy):
            pruned = pruned.remove(outside.taken_at, outside.active, policy.half_life)
    return [
        score_samples(history, now=NOW, policy=policy),
        tally_samples(newest_first, policy.half_life).score(policy),
        tally_samples(newest_first[::-1], policy.half_life).score(policy),
        pruned.score(policy),
    ]


class TestScoreEnds:
    """100 only when every sample in the window is active; 0 whenever the active share is
    under 1 %, even with active samples in it (see the module docstring)."""

    def test_an_idle_sample_364_days_old_caps_an_active_history_at_99(self):
        """Reported: its weight, 2^-121 of the newest, vanished from the float sum -> 100."""
        history = [sample(hours * HOUR, True) for hours in range(6)]
        history.append(sample(timedelta(days=364), False))
        assert decay_weight(timedelta(days=364), YEAR.half_life) < 2.0**-53
        assert both_paths(history, YEAR) == [ActivityScore(99, 7, False)] * 4

    def test_an_idle_sample_40_half_lives_old_caps_an_active_history_at_99(self):
        """Reported: a share of 1 - 2^-40 is 99.9999999999 %, which the tolerance lifted to 100."""
        history = [sample(hours * HOUR, True) for hours in range(6)]
        history.append(sample(40 * HOUR, False))
        assert percent_from_weights(1.0, 1.0 + 2.0**-40) == 100  # the floats alone
        assert both_paths(history, H1_WEEK) == [ActivityScore(99, 7, False)] * 4

    def test_one_idle_sample_among_many_active_ones_of_equal_weight_is_99(self):
        history = [sample(HOUR, index > 0) for index in range(1000)]
        assert both_paths(history, POLICY) == [ActivityScore(99, 1000, True)] * 4

    @pytest.mark.parametrize(("policy", "age"), [(YEAR, timedelta(days=364)), (H1_WEEK, 40 * HOUR)])
    def test_an_active_sample_whose_weight_vanishes_scores_0(self, policy, age):
        """The symmetric case is decided the other way: the definition's floor gives 0 for a
        share under 1 %, and no count lifts it (level "none")."""
        history = [sample(hours * HOUR, False) for hours in range(6)]
        history.append(sample(age, True))
        assert both_paths(history, policy) == [ActivityScore(0, 7, False)] * 4
        assert activity_level(0) is ActivityLevel.NONE

    def test_a_share_just_under_1_percent_is_0_and_just_over_99_is_99(self):
        low = [sample(HOUR, index == 0) for index in range(101)]  # 0.99 %
        high = [sample(HOUR, index > 0) for index in range(101)]  # 99.0099 %
        assert [s.value for s in both_paths(low, POLICY)] == [0] * 4
        assert [s.value for s in both_paths(high, POLICY)] == [99] * 4

    @given(vanishing_scenario())
    def test_with_vanishing_weights_only_an_all_active_window_scores_100(self, case):
        policy, history = case
        window = [s for s in history if in_window(s.taken_at, now=NOW, policy=policy)]
        assume(window)
        scores = both_paths(history, policy)
        assert len(set(scores)) == 1
        value = scores[0].value
        if all(s.active for s in window):
            assert value == 100
        elif not any(s.active for s in window):
            assert value == 0
        else:
            assert 0 <= value <= 99


class TestScoreProperties:
    @settings(max_examples=50)
    @given(scenario())
    def test_score_lies_in_0_to_100_and_is_none_only_without_samples(self, case):
        policy, history = case
        score = score_samples(history, now=NOW, policy=policy)
        in_window_count = sum(in_window(s.taken_at, now=NOW, policy=policy) for s in history)
        assert score.sample_count == in_window_count
        assert score.enough_data == (in_window_count >= policy.samples_per_day)
        if in_window_count == 0:
            assert score.value is None
        else:
            assert 0 <= score.value <= 100

    @settings(max_examples=50)
    @given(activity_policies(), st.data())
    def test_all_active_scores_100_and_none_active_scores_0(self, policy, data):
        ages = data.draw(st.lists(durations(timedelta(0), policy.retention * 0.99), min_size=1))
        everyone = [sample(age, True) for age in ages]
        nobody = [sample(age, False) for age in ages]
        assert score_samples(everyone, now=NOW, policy=policy).value == 100
        assert score_samples(nobody, now=NOW, policy=policy).value == 0

    @settings(max_examples=50)
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

    @settings(max_examples=50)
    @given(scenario(), durations(-timedelta(days=3000), timedelta(days=3000)))
    def test_shifting_every_timestamp_and_now_changes_nothing(self, case, shift):
        policy, history = case
        moved = [RecordedSample(s.username, s.taken_at + shift, s.active) for s in history]
        assert score_samples(moved, now=NOW + shift, policy=policy) == score_samples(
            history, now=NOW, policy=policy
        )

    @settings(max_examples=50)
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


class TestTallyExamples:
    """The tally's fields after each operation, checked against the definition by hand."""

    T0 = NOW

    def test_an_empty_tally(self):
        empty = DecayedTally()
        assert (empty.anchor, empty.total_weight, empty.active_weight) == (None, 0.0, 0.0)
        assert (empty.count, empty.active_count) == (0, 0)
        assert empty.score(POLICY) == ActivityScore(None, 0, False)

    @pytest.mark.parametrize(("active", "weight", "count"), [(True, 1.0, 1), (False, 0.0, 0)])
    def test_the_first_sample_anchors_the_tally(self, active, weight, count):
        assert DecayedTally().add(self.T0, active, HOUR) == DecayedTally(
            anchor=self.T0, total_weight=1.0, active_weight=weight, count=1, active_count=count
        )

    def test_a_tally_with_a_stale_anchor_but_no_samples_starts_afresh(self):
        stale = DecayedTally(anchor=self.T0 + HOUR, total_weight=5.0, active_weight=5.0)
        assert stale.add(self.T0, False, HOUR) == DecayedTally(
            anchor=self.T0, total_weight=1.0, active_weight=0.0, count=1, active_count=0
        )

    def test_a_newer_sample_moves_the_anchor_and_shrinks_the_old_sums(self):
        old = tally((2 * HOUR, True))
        assert old.add(NOW, False, HOUR) == DecayedTally(
            anchor=NOW, total_weight=1.25, active_weight=0.25, count=2, active_count=1
        )
        assert old.add(NOW, True, HOUR) == DecayedTally(
            anchor=NOW, total_weight=1.25, active_weight=1.25, count=2, active_count=2
        )

    def test_an_older_sample_adds_its_weight_relative_to_the_anchor(self):
        newest = tally((timedelta(0), False))
        assert newest.add(NOW - HOUR, True, HOUR) == DecayedTally(
            anchor=NOW, total_weight=1.5, active_weight=0.5, count=2, active_count=1
        )
        assert newest.add(NOW - 2 * HOUR, False, HOUR) == DecayedTally(
            anchor=NOW, total_weight=1.25, active_weight=0.0, count=2, active_count=0
        )

    def test_a_sample_at_the_anchor_weighs_one(self):
        assert tally((timedelta(0), True), (timedelta(0), False)) == DecayedTally(
            anchor=NOW, total_weight=2.0, active_weight=1.0, count=2, active_count=1
        )

    def test_three_samples_in_any_order_give_the_same_sums(self):
        samples = [(2 * HOUR, True), (timedelta(0), False), (HOUR, True)]
        expected = DecayedTally(
            anchor=NOW, total_weight=1.75, active_weight=0.75, count=3, active_count=2
        )
        assert tally(*samples) == expected
        assert tally(*reversed(samples)) == expected
        assert expected.score(H1) == ActivityScore(42, 3, False)  # 0.75 / 1.75 = 42.8 %

    def test_removing_the_newest_sample_keeps_the_anchor(self):
        three = tally((2 * HOUR, True), (HOUR, False), (timedelta(0), True))
        assert three.remove(NOW, True, HOUR) == DecayedTally(
            anchor=NOW, total_weight=0.75, active_weight=0.25, count=2, active_count=1
        )

    def test_removing_an_inactive_sample_leaves_the_active_weight(self):
        three = tally((2 * HOUR, True), (HOUR, False), (timedelta(0), True))
        without = three.remove(NOW - HOUR, False, HOUR)
        assert without == DecayedTally(
            anchor=NOW, total_weight=1.25, active_weight=1.25, count=2, active_count=2
        )
        assert without.score(H1).value == 100

    def test_removing_the_last_active_sample_leaves_exactly_zero(self):
        two = tally((HOUR, False), (timedelta(0), True))
        assert two.remove(NOW, True, HOUR) == DecayedTally(
            anchor=NOW, total_weight=0.5, active_weight=0.0, count=1, active_count=0
        )

    def test_removing_the_last_inactive_sample_makes_the_active_weight_the_total(self):
        # weights of a third of an hour are not dyadic: subtraction alone would leave residue
        third = timedelta(minutes=20)
        two = tally((third, True), (2 * third, False), (timedelta(0), True))
        left = two.remove(NOW - 2 * third, False, HOUR)
        assert left.active_count == left.count == 2
        assert left.active_weight == left.total_weight
        assert left.total_weight == pytest.approx(1.0 + 2 ** (-1 / 3))

    def test_removing_an_active_sample_of_a_mixed_tally(self):
        three = tally((timedelta(0), True), (HOUR, True), (2 * HOUR, False))
        assert three.remove(NOW - HOUR, True, HOUR) == DecayedTally(
            anchor=NOW, total_weight=1.25, active_weight=1.0, count=2, active_count=1
        )

    def test_sums_never_go_below_zero(self):
        # a removal that weighs more than what is left (float drift) stops at zero
        drifted = DecayedTally(
            anchor=NOW, total_weight=0.5, active_weight=0.25, count=3, active_count=2
        )
        assert drifted.remove(NOW, True, HOUR) == DecayedTally(
            anchor=NOW, total_weight=0.0, active_weight=0.0, count=2, active_count=1
        )

    def test_removing_every_sample_leaves_an_empty_tally(self):
        one = tally((HOUR, True))
        empty = one.remove(NOW - HOUR, True, POLICY.half_life)
        assert empty == DecayedTally()
        assert empty.score(POLICY).value is None

    def test_adding_after_removing_everything_starts_a_new_anchor(self):
        emptied = tally((timedelta(0), True)).remove(NOW, True, HOUR)
        assert emptied.add(NOW - 5 * HOUR, False, HOUR) == DecayedTally(
            anchor=NOW - 5 * HOUR, total_weight=1.0, active_weight=0.0, count=1, active_count=0
        )

    def test_add_after_remove_matches_the_definition(self):
        t = tally((timedelta(0), True), (HOUR, False), (2 * HOUR, True))
        t = t.remove(NOW - HOUR, False, HOUR)  # weights left: 1 (active), 1/4 (active)
        t = t.add(NOW + HOUR, False, HOUR)  # a newer sample: anchor moves, old sums halve
        assert t == DecayedTally(
            anchor=NOW + HOUR, total_weight=1.625, active_weight=0.625, count=3, active_count=2
        )
        kept = [
            RecordedSample("alice", NOW, True),
            RecordedSample("alice", NOW - 2 * HOUR, True),
            RecordedSample("alice", NOW + HOUR, False),
        ]
        assert t.score(H1) == score_samples(kept, now=NOW + HOUR, policy=H1)
        assert t.score(H1).value == 38  # 0.625 / 1.625 = 38.4 %

    @pytest.mark.parametrize(
        ("start", "message"),
        [
            (DecayedTally(), "tally: cannot remove a sample from an empty tally"),
            (DecayedTally(anchor=NOW), "tally: cannot remove a sample from an empty tally"),
            (DecayedTally(count=1), "tally: cannot remove a sample from an empty tally"),
        ],
    )
    def test_removing_from_an_empty_tally_is_refused(self, start, message):
        with pytest.raises(InvalidValue) as error:
            start.remove(NOW, False, HOUR)
        assert str(error.value) == message

    def test_removing_an_active_sample_that_was_never_added_is_refused(self):
        idle = tally((timedelta(0), False))
        with pytest.raises(InvalidValue) as error:
            idle.remove(NOW, True, HOUR)
        assert str(error.value) == "tally: cannot remove an active sample: none was added"
        # an inactive one may go
        assert idle.remove(NOW, False, HOUR) == DecayedTally()

    def test_the_counts_decide_the_ends_whatever_drift_the_stored_sums_carry(self):
        """A store keeps the sums as floats computed its own way; all or none active is still
        exactly 100 or 0."""
        all_active = DecayedTally(
            anchor=NOW, total_weight=1.0, active_weight=0.9999999, count=2, active_count=2
        )
        assert all_active.score(POLICY) == ActivityScore(100, 2, False)
        none_active = DecayedTally(
            anchor=NOW, total_weight=1.0, active_weight=0.0123, count=2, active_count=0
        )
        assert none_active.score(POLICY) == ActivityScore(0, 2, False)
        mixed = DecayedTally(
            anchor=NOW, total_weight=1.0, active_weight=0.9999999, count=2, active_count=1
        )
        assert mixed.score(POLICY) == ActivityScore(99, 2, False)

    def test_merging_with_an_empty_tally_changes_nothing(self):
        t = tally((HOUR, True))
        assert t.merge(DecayedTally(), HOUR) is t
        assert DecayedTally().merge(t, HOUR) is t
        # a tally that lost all its samples, whatever its anchor, is empty too
        assert t.merge(DecayedTally(anchor=NOW, total_weight=3.0), HOUR) is t
        assert DecayedTally(anchor=NOW, total_weight=3.0).merge(t, HOUR) is t

    def test_merging_rescales_the_older_tally_to_the_newer_anchor(self):
        older = tally((2 * HOUR, True))  # anchor NOW - 2 h
        newer = tally((timedelta(0), False), (HOUR, True))  # anchor NOW, sums 1.5 / 0.5
        expected = DecayedTally(
            anchor=NOW, total_weight=1.75, active_weight=0.75, count=3, active_count=2
        )
        assert older.merge(newer, HOUR) == expected
        assert newer.merge(older, HOUR) == expected

    def test_merging_tallies_with_one_sample_each(self):
        a = tally((timedelta(0), True))
        b = tally((HOUR, False))
        expected = DecayedTally(
            anchor=NOW, total_weight=1.5, active_weight=1.0, count=2, active_count=1
        )
        assert a.merge(b, HOUR) == expected
        assert b.merge(a, HOUR) == expected


class TestTallyEqualsDefinition:
    """The fast path: a tally maintained by adds and removes scores like the definition."""

    @given(any_scenario, st.randoms(use_true_random=False))
    def test_tally_of_the_window_scores_like_the_definition(self, case, rnd):
        policy, history = case
        shuffled = list(history)
        rnd.shuffle(shuffled)  # stores see samples out of order too
        t = DecayedTally()
        for s in shuffled:
            t = t.add(s.taken_at, s.active, policy.half_life)
        # prune what left the window, as a store does
        for s in shuffled:
            if not in_window(s.taken_at, now=NOW, policy=policy):
                t = t.remove(s.taken_at, s.active, policy.half_life)
        assert t.score(policy) == score_samples(history, now=NOW, policy=policy)

    @given(any_scenario, st.data())
    def test_pruning_then_adding_newer_samples_scores_like_the_definition(self, case, data):
        """A store's life: tally the window, prune the oldest samples, tally new ticks."""
        policy, history = case
        assume(policy.retention_days <= 364)
        inside = sorted(
            (s for s in history if in_window(s.taken_at, now=NOW, policy=policy)),
            key=lambda s: s.taken_at,
        )
        t = tally_samples(inside, policy.half_life)
        pruned = data.draw(st.integers(0, len(inside)))
        for s in inside[:pruned]:
            t = t.remove(s.taken_at, s.active, policy.half_life)
        offsets = data.draw(st.lists(durations(timedelta(0), timedelta(days=1)), max_size=10))
        newer = [RecordedSample("alice", NOW + d, data.draw(st.booleans())) for d in offsets]
        for s in newer:
            t = t.add(s.taken_at, s.active, policy.half_life)
        later = max([NOW, *(s.taken_at for s in newer)])
        year = ActivityPolicy(
            retention_days=365,
            half_life_hours=policy.half_life_hours,
            sample_interval_seconds=policy.sample_interval_seconds,
        )
        assert t.score(year) == score_samples(inside[pruned:] + newer, now=later, policy=year)

    @settings(max_examples=50)
    @given(any_scenario, any_scenario)
    def test_merging_two_tallies_equals_tallying_both_histories(self, first, second):
        policy = first[0]
        a = [RecordedSample("alice", s.taken_at, s.active) for s in first[1]]
        b = [RecordedSample("alice", s.taken_at, s.active) for s in second[1]]
        inside = [s for s in a + b if in_window(s.taken_at, now=NOW, policy=policy)]
        merged = tally_samples([s for s in a if s in inside], policy.half_life).merge(
            tally_samples([s for s in b if s in inside], policy.half_life), policy.half_life
        )
        assert merged.score(policy) == score_samples(a + b, now=NOW, policy=policy)

    def test_the_regression_case_with_a_year_of_retention(self):
        policy = ActivityPolicy(retention_days=365, half_life_hours=1)
        history = [
            sample(timedelta(days=300), True),
            sample(timedelta(days=300), True),
            sample(timedelta(days=300), False),
            sample(timedelta(days=2), False),
        ]
        # the newest sample (2 days ago) outweighs the old ones 2^-7104 : 1
        assert score_samples(history, now=NOW, policy=policy) == ActivityScore(0, 4, False)
        assert tally_samples(history, policy.half_life).score(policy) == ActivityScore(0, 4, False)
        old_only = history[:3]
        assert score_samples(old_only, now=NOW, policy=policy).value == 66
        assert tally_samples(old_only, policy.half_life).score(policy).value == 66


class TestDailyActivity:
    def test_the_smallest_counts(self):
        day = NOW.date()
        assert DailyActivity("alice", day, 0, 1) == DailyActivity("alice", day, 0, 1)
        assert DailyActivity("alice", day, 1, 1).active_samples == 1

    @pytest.mark.parametrize(
        ("active", "samples", "text"),
        [
            (0, 0, "samples: must be at least 1, got 0"),
            (-1, 1, "active_samples: must be between 0 and 1, got -1"),
            (3, 2, "active_samples: must be between 0 and 2, got 3"),
        ],
    )
    def test_impossible_counts(self, active, samples, text):
        with pytest.raises(InvalidValue) as error:
            DailyActivity("alice", NOW.date(), active, samples)
        assert str(error.value) == text

    def test_today_must_be_a_day(self):
        day = NOW.date()
        with pytest.raises(InvalidValue) as error:
            history_range(day, day, today=NOW, policy=POLICY)
        assert str(error.value) == f"today: must be a date, got {NOW!r}"


def test_a_store_summary_is_a_plain_value():
    assert ActivityStoreSummary(samples=3, users=2) == ActivityStoreSummary(3, 2)


class TestLevels:
    @pytest.mark.parametrize(
        ("score", "level"),
        [
            (None, ActivityLevel.NONE),
            (-5, ActivityLevel.NONE),
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

    def test_level_names(self):
        assert [level.value for level in ActivityLevel] == [
            "very-high",
            "high",
            "normal",
            "low",
            "very-low",
            "none",
        ]
