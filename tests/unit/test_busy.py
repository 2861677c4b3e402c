"""Tests for `stellars.domain.busy`: windows from cumulative counters, the busy verdict, and the
activity it gives the culling rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.busy import (
    NOT_BUSY,
    BusyPolicy,
    BusyRecord,
    BusyVerdict,
    BusyWindow,
    LoadReading,
    busy_activity,
    cpu_percent_between,
    next_record,
    window_between,
    with_activity,
)
from stellars.domain.errors import InvalidValue
from stellars.domain.hub import ServerSnapshot
from stellars.domain.sessions import SessionPolicy, cull_decision
from tests.strategies import EPOCH

NOW = EPOCH + timedelta(days=3)
WINDOW = timedelta(seconds=600)
POLICY = BusyPolicy(enabled=True, cpu_percent=50, gpu_percent=40, window_seconds=600)
STARTED = NOW - timedelta(hours=5)
SECOND_NS = 1_000_000_000
CPUS = 4


def reading(
    at: timedelta = timedelta(0),
    *,
    cpu_s: float = 0.0,
    host_s: float | None = None,
    gpu: int | None = None,
    cpus: int = CPUS,
) -> LoadReading:
    """A reading `at` after STARTED: `cpu_s` seconds of container CPU time, the host's CPU
    time `host_s` seconds of wall time on `cpus` CPUs (default: `at`)."""
    wall = at.total_seconds() if host_s is None else host_s
    return LoadReading(
        taken_at=STARTED + at,
        cpu_total_ns=round(cpu_s * SECOND_NS),
        system_cpu_ns=round(wall * cpus * SECOND_NS),
        online_cpus=cpus,
        gpu_percent=gpu,
    )


def snapshot(*, started=STARTED, last_activity=None, name="") -> ServerSnapshot:
    return ServerSnapshot(
        username="alice", name=name, ready=True, started=started, last_activity=last_activity
    )


def record(**kw: object) -> BusyRecord:
    base: dict[str, object] = {
        "username": "alice",
        "server_name": "",
        "started": STARTED,
        "reading": reading(),
    }
    base.update(kw)
    return BusyRecord(**base)  # type: ignore[arg-type]


def window(*, end: timedelta, busy: bool = True, cpu: float = 90.0, gpu=None) -> BusyWindow:
    return BusyWindow(
        start=STARTED + end - WINDOW,
        end=STARTED + end,
        cpu_percent=cpu,
        gpu_percent=gpu,
        busy=busy,
    )


# --- the policy -------------------------------------------------------------------------------


def test_the_policy_is_off_by_default_with_documented_defaults():
    policy = BusyPolicy()
    assert policy.enabled is False
    assert (policy.cpu_percent, policy.gpu_percent, policy.window_seconds) == (50, 50, 600)
    assert policy.window == WINDOW
    assert policy.shortest_window == timedelta(seconds=300)
    assert policy.fresh_for == timedelta(seconds=1200)
    assert policy.keep_for == timedelta(days=1)
    assert BusyPolicy(window_seconds=86_400).keep_for == timedelta(days=4)
    assert BusyPolicy(window_seconds=21_600).keep_for == timedelta(days=1)
    assert BusyPolicy(window_seconds=21_601).keep_for == timedelta(seconds=4 * 21_601)


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [("cpu_percent", 1, 100_000), ("gpu_percent", 1, 100), ("window_seconds", 10, 86_400)],
)
def test_policy_bounds_are_inclusive_and_name_the_field(field, low, high):
    assert getattr(BusyPolicy(**{field: low}), field) == low
    assert getattr(BusyPolicy(**{field: high}), field) == high
    for bad in (low - 1, high + 1):
        with pytest.raises(InvalidValue) as caught:
            BusyPolicy(**{field: bad})
        assert caught.value.field == field


def test_enabled_must_be_a_boolean():
    with pytest.raises(InvalidValue) as caught:
        BusyPolicy(enabled=1)  # type: ignore[arg-type]
    assert caught.value.field == "enabled"
    assert str(caught.value) == "enabled: must be true or false, got 1"


# --- readings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cpu_total_ns", -1, "must be at least 0, got -1"),
        ("system_cpu_ns", -1, "must be at least 0, got -1"),
        ("online_cpus", 0, "must be at least 1, got 0"),
        ("gpu_percent", -1, "must be 0 to 100, got -1"),
        ("gpu_percent", 101, "must be 0 to 100, got 101"),
    ],
)
def test_a_reading_refuses_impossible_counters_naming_the_field_and_the_value(
    field, value, message
):
    values = {"taken_at": NOW, "cpu_total_ns": 0, "system_cpu_ns": 0, "online_cpus": 1}
    values[field] = value
    with pytest.raises(InvalidValue) as caught:
        LoadReading(**values)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert caught.value.message == message


def test_a_reading_accepts_the_ends_of_its_ranges():
    LoadReading(taken_at=NOW, cpu_total_ns=0, system_cpu_ns=0, online_cpus=1, gpu_percent=0)
    LoadReading(taken_at=NOW, cpu_total_ns=0, system_cpu_ns=0, online_cpus=1, gpu_percent=100)
    with pytest.raises(InvalidValue):
        LoadReading(taken_at=NOW, cpu_total_ns=0, system_cpu_ns=0, online_cpus=1, gpu_percent=101)


# --- CPU over a window ------------------------------------------------------------------------


def test_cpu_is_the_docker_stats_average_in_percent_of_one_core():
    # 300 s of CPU time in 600 s of wall time: half a core, on any number of host CPUs.
    for cpus in (1, 4, 64):
        before = reading(cpus=cpus)
        after = reading(WINDOW, cpu_s=300, cpus=cpus)
        assert cpu_percent_between(before, after) == pytest.approx(50.0)
    # Two cores' worth: 200 %.
    assert cpu_percent_between(reading(), reading(WINDOW, cpu_s=1200)) == pytest.approx(200.0)


def test_cpu_counts_every_nanosecond_between_the_readings_whatever_their_spread():
    # A spike of 600 s of one core in the first half and nothing after: 100 % of one core over
    # the first half, 50 % over the whole window; the counters miss nothing in between.
    before = reading()
    assert cpu_percent_between(before, reading(WINDOW, cpu_s=600)) == pytest.approx(100.0)
    assert cpu_percent_between(before, reading(2 * WINDOW, cpu_s=600)) == pytest.approx(50.0)


def test_cpu_is_unknown_when_a_counter_did_not_move_forward():
    before = reading(WINDOW, cpu_s=100)
    assert cpu_percent_between(before, reading(2 * WINDOW, cpu_s=99)) is None  # restarted
    assert cpu_percent_between(before, reading(2 * WINDOW, cpu_s=100, host_s=600)) is None
    assert cpu_percent_between(before, reading(2 * WINDOW, cpu_s=100, host_s=599)) is None
    # No CPU used at all is a real 0, not unknown.
    assert cpu_percent_between(before, reading(2 * WINDOW, cpu_s=100)) == 0.0


@given(
    cpu_ns=st.integers(0, 10**15),
    extra_ns=st.integers(0, 10**15),
    system_ns=st.integers(1, 10**15),
    cpus=st.integers(1, 256),
)
def test_cpu_grows_with_the_cpu_time_used(cpu_ns, extra_ns, system_ns, cpus):
    before = LoadReading(taken_at=NOW, cpu_total_ns=0, system_cpu_ns=0, online_cpus=cpus)

    def after(used: int) -> LoadReading:
        return LoadReading(
            taken_at=NOW + WINDOW, cpu_total_ns=used, system_cpu_ns=system_ns, online_cpus=cpus
        )

    low = cpu_percent_between(before, after(cpu_ns))
    high = cpu_percent_between(before, after(cpu_ns + extra_ns))
    assert low is not None and high is not None
    assert 0.0 <= low <= high
    assert low == pytest.approx(100.0 * cpu_ns * cpus / system_ns)


# --- the window's verdict ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpu_s", "busy"),
    [(0, False), (299.9, False), (300, True), (600, True)],  # threshold 50 %: 300 s of 600 s
)
def test_a_window_is_busy_from_its_cpu_threshold_on(cpu_s, busy):
    found = window_between(reading(), reading(WINDOW, cpu_s=cpu_s), POLICY)
    assert found is not None
    assert found.busy is busy
    assert (found.start, found.end) == (STARTED, STARTED + WINDOW)
    assert found.gpu_percent is None


@pytest.mark.parametrize(
    ("first", "second", "gpu", "busy"),
    [
        (40, 40, 40, True),  # both ends at the threshold (40)
        (39, 90, 39, False),  # idle at the start
        (90, 39, 39, False),  # idle at the end
        (100, 60, 60, True),
        (None, 90, None, False),  # one end not read: no GPU figure
        (90, None, None, False),
    ],
)
def test_a_gpu_is_busy_only_when_both_ends_are_at_the_threshold(first, second, gpu, busy):
    found = window_between(reading(gpu=first), reading(WINDOW, cpu_s=1, gpu=second), POLICY)
    assert found is not None
    assert found.gpu_percent == gpu
    assert found.busy is busy


def test_either_the_cpu_or_the_gpu_makes_the_window_busy():
    cpu_only = window_between(reading(gpu=0), reading(WINDOW, cpu_s=600, gpu=0), POLICY)
    gpu_only = window_between(reading(gpu=90), reading(WINDOW, cpu_s=0, gpu=90), POLICY)
    assert cpu_only is not None and cpu_only.busy
    assert gpu_only is not None and gpu_only.busy


def test_no_window_without_time_passing_or_with_counters_going_back():
    assert window_between(reading(WINDOW), reading(WINDOW, cpu_s=1, host_s=700), POLICY) is None
    assert window_between(reading(WINDOW), reading(WINDOW / 2, host_s=700), POLICY) is None
    assert window_between(reading(cpu_s=10), reading(WINDOW, cpu_s=5), POLICY) is None


def test_a_window_states_its_figures():
    found = window_between(reading(gpu=70), reading(WINDOW, cpu_s=582, gpu=80), POLICY)
    assert found is not None
    assert found.figures == "CPU 97.0 % of one core, GPU at least 70 % over the last 10.0 min"
    plain = window_between(reading(), reading(WINDOW, cpu_s=582), POLICY)
    assert plain is not None
    assert plain.figures == "CPU 97.0 % of one core over the last 10.0 min"


# --- records ----------------------------------------------------------------------------------


def advance(previous, at: timedelta, cpu_s: float, *, started=STARTED, policy=POLICY):
    return next_record(
        previous,
        username="alice",
        server_name="",
        started=started,
        reading=reading(at, cpu_s=cpu_s),
        policy=policy,
    )


def test_a_first_reading_starts_a_record_without_a_window():
    first = advance(None, timedelta(0), 0)
    assert first == record(reading=reading())
    assert first.window is None and first.busy_until is None


def test_a_reading_closes_the_window_and_a_busy_one_moves_the_busy_end():
    first = advance(None, timedelta(0), 0)
    second = advance(first, WINDOW, 600)
    assert second.reading == reading(WINDOW, cpu_s=600)
    assert second.window is not None and second.window.busy
    assert second.busy_until == STARTED + WINDOW
    third = advance(second, 2 * WINDOW, 600)  # idle window
    assert third.window is not None and not third.window.busy
    assert third.busy_until == STARTED + WINDOW  # kept from the busy window
    assert third.reading == reading(2 * WINDOW, cpu_s=600)


def test_a_reading_sooner_than_half_a_window_changes_nothing():
    first = advance(None, timedelta(0), 0)
    assert advance(first, WINDOW / 2 - timedelta(microseconds=1), 300) is first
    at_half = advance(first, WINDOW / 2, 300)
    assert at_half.window is not None and at_half.window.busy
    assert at_half.reading.taken_at == STARTED + WINDOW / 2


def test_a_reading_of_another_instance_starts_afresh():
    busy = advance(advance(None, timedelta(0), 0), WINDOW, 600)
    restarted = NOW
    fresh = advance(busy, 2 * WINDOW, 0, started=restarted)
    assert fresh == record(started=restarted, reading=reading(2 * WINDOW))


def test_counters_going_back_close_no_window_and_keep_the_busy_end():
    busy = advance(advance(None, timedelta(0), 0), WINDOW, 600)
    reset = advance(busy, 2 * WINDOW, 1)  # restarted in place: CPU time back to 1 s
    assert reset.window is None
    assert reset.busy_until == STARTED + WINDOW
    assert reset.reading == reading(2 * WINDOW, cpu_s=1)


# --- the verdict at now -----------------------------------------------------------------------


def test_a_fresh_busy_window_makes_the_server_active_now():
    latest = window(end=timedelta(hours=4))
    kept = record(window=latest, busy_until=latest.end)
    for now in (latest.end, latest.end + POLICY.fresh_for):
        verdict = busy_activity(kept, snapshot(), now=now, policy=POLICY)
        assert verdict == BusyVerdict(active_now=True, activity_at=now, window=latest)
        assert verdict.message == f"kept alive: busy computing ({latest.figures})"


def test_a_stale_busy_window_counts_only_its_end():
    latest = window(end=timedelta(hours=4))
    kept = record(window=latest, busy_until=latest.end)
    now = latest.end + POLICY.fresh_for + timedelta(microseconds=1)
    verdict = busy_activity(kept, snapshot(), now=now, policy=POLICY)
    assert verdict == BusyVerdict(active_now=False, activity_at=latest.end, window=latest)
    assert verdict.message == f"last busy computing until {latest.end:%Y-%m-%d %H:%M:%S} UTC"


def test_an_idle_window_after_a_busy_one_counts_the_busy_end():
    latest = window(end=timedelta(hours=4), busy=False, cpu=1.0)
    busy_end = latest.start
    kept = record(window=latest, busy_until=busy_end)
    verdict = busy_activity(kept, snapshot(), now=latest.end, policy=POLICY)
    assert verdict == BusyVerdict(active_now=False, activity_at=busy_end, window=latest)


def test_nothing_counts_when_off_without_a_record_or_for_another_instance():
    latest = window(end=timedelta(hours=4))
    kept = record(window=latest, busy_until=latest.end)
    now = latest.end
    assert busy_activity(kept, snapshot(), now=now, policy=BusyPolicy()) == NOT_BUSY
    assert busy_activity(None, snapshot(), now=now, policy=POLICY) == NOT_BUSY
    assert busy_activity(kept, snapshot(started=NOW), now=now, policy=POLICY) == NOT_BUSY
    assert busy_activity(kept, snapshot(name="gpu"), now=now, policy=POLICY) == NOT_BUSY
    other_user = ServerSnapshot(username="bob", ready=True, started=STARTED)
    assert busy_activity(kept, other_user, now=now, policy=POLICY) == NOT_BUSY
    assert NOT_BUSY.message == ""


def test_a_record_without_a_window_counts_nothing():
    verdict = busy_activity(record(), snapshot(), now=NOW, policy=POLICY)
    assert verdict == BusyVerdict(active_now=False, activity_at=None, window=None)


# --- the activity the culling rule sees -------------------------------------------------------


def test_with_activity_takes_the_later_of_the_two():
    earlier = NOW - timedelta(hours=2)
    later = NOW - timedelta(minutes=1)
    assert with_activity(snapshot(last_activity=earlier), later).last_activity == later
    kept = snapshot(last_activity=later)
    assert with_activity(kept, earlier) is kept
    assert with_activity(kept, later) is kept
    assert with_activity(kept, None) is kept
    assert with_activity(snapshot(), earlier).last_activity == earlier


@given(
    idle_minutes=st.integers(0, 10_000),
    busy_minutes_ago=st.one_of(st.none(), st.integers(0, 10_000)),
)
def test_busyness_never_makes_a_server_culled_sooner(idle_minutes, busy_minutes_ago):
    sessions = SessionPolicy(enabled=True, idle_timeout_seconds=3600)
    server = snapshot(
        started=NOW - timedelta(days=30), last_activity=NOW - timedelta(minutes=idle_minutes)
    )
    at = None if busy_minutes_ago is None else NOW - timedelta(minutes=busy_minutes_ago)
    plain = cull_decision(server, cull_at=None, now=NOW, policy=sessions)
    spared = cull_decision(with_activity(server, at), cull_at=None, now=NOW, policy=sessions)
    assert spared.cull <= plain.cull
    if at is not None:
        # Culled with the busy activity exactly when both it and the plain activity are old.
        assert spared.cull == (plain.cull and NOW - at >= sessions.idle_timeout)


def test_a_busy_server_still_reaches_its_max_age():
    sessions = SessionPolicy(enabled=True, idle_timeout_seconds=3600, max_age_seconds=7200)
    server = snapshot(started=NOW - timedelta(hours=3), last_activity=NOW - timedelta(hours=2))
    decision = cull_decision(with_activity(server, NOW), cull_at=None, now=NOW, policy=sessions)
    assert decision.cull and "max age" in decision.reason


@given(
    steps=st.lists(st.tuples(st.integers(300, 1800), st.floats(0, 2, allow_nan=False)), max_size=12)
)
def test_the_busy_end_is_the_end_of_the_last_window_at_the_threshold(steps):
    """Readings at least half a window apart, each window using `share` cores on average: the
    record ends with the latest reading, the latest window, and the end of the last window whose
    average reached the threshold."""
    kept = advance(None, timedelta(0), 0)
    at = timedelta(0)
    cpu_s = 0.0
    expected_end = None
    last_window = None
    for gap_s, share in steps:
        at += timedelta(seconds=gap_s)
        cpu_s += gap_s * share
        before = kept.reading
        kept = advance(kept, at, cpu_s)
        last_window = window_between(before, kept.reading, POLICY)
        assert last_window is not None
        if last_window.busy:
            expected_end = STARTED + at
        # The rule's own words: at least the threshold, in percent of one core.
        assert last_window.busy == (last_window.cpu_percent >= POLICY.cpu_percent)
    assert kept.reading.taken_at == STARTED + at
    assert kept.window == last_window
    assert kept.busy_until == expected_end
