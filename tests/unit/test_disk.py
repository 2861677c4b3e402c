"""The free-disk rule: a filesystem's total and free bytes to a free share, a state (ok, low
under 10 % free, unknown) and the words an admin reads."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.disk import (
    LOW_DISK_PERCENT,
    DiskMeasurement,
    DiskReport,
    DiskSpace,
    DiskState,
    assess_disk,
)
from stellars.domain.errors import InvalidValue

GIB = 2**30
ROOT = "/var/lib/docker"


def measured(free: int, total: int) -> DiskMeasurement:
    return DiskMeasurement(ROOT, DiskSpace(total_bytes=total, free_bytes=free))


def test_the_threshold_is_ten_percent():
    assert LOW_DISK_PERCENT == 10


def test_a_low_disk_says_how_much_is_free_of_how_much_and_that_it_is_low():
    report = assess_disk(measured(38 * GIB, 400 * GIB))
    assert report.state is DiskState.LOW
    assert report.free_permille == 95
    assert report.free_percent == 9.5
    assert report.text == "38 GiB free of 400 GiB (9.5 %): low, under 10 % free"


def test_a_disk_with_room_says_how_much_is_free_without_a_warning():
    report = assess_disk(measured(140 * GIB, 400 * GIB))
    assert report.state is DiskState.OK
    assert report.free_permille == 350
    assert report.free_percent == 35.0
    assert report.text == "140 GiB free of 400 GiB (35.0 %)"
    assert report.measurement == measured(140 * GIB, 400 * GIB)


def test_exactly_the_threshold_is_not_low_and_one_byte_less_is():
    assert assess_disk(measured(10, 100)).state is DiskState.OK
    assert assess_disk(measured(9, 100)).state is DiskState.LOW
    just_under = assess_disk(measured(40 * GIB - 1, 400 * GIB))
    assert just_under.state is DiskState.LOW
    assert just_under.free_permille == 99
    assert "(9.9 %)" in just_under.text


def test_the_share_is_rounded_down_so_a_low_disk_never_reads_ten_percent():
    # 9.96 % would round to 10.0 %: the text says 9.9 %.
    report = assess_disk(measured(996, 10_000))
    assert report.state is DiskState.LOW
    assert report.text == "996 bytes free of 9.77 KiB (9.9 %): low, under 10 % free"


def test_a_full_and_an_empty_disk():
    full = assess_disk(measured(0, 400 * GIB))
    assert (full.state, full.free_permille) == (DiskState.LOW, 0)
    assert full.text == "0 bytes free of 400 GiB (0.0 %): low, under 10 % free"
    empty = assess_disk(measured(400 * GIB, 400 * GIB))
    assert (empty.state, empty.free_permille) == (DiskState.OK, 1000)
    assert empty.text == "400 GiB free of 400 GiB (100.0 %)"


def test_another_threshold_is_said_in_the_words():
    report = assess_disk(measured(19, 100), low_percent=20)
    assert report.state is DiskState.LOW
    assert report.text.endswith(": low, under 20 % free")
    assert assess_disk(measured(20, 100), low_percent=20).state is DiskState.OK
    assert assess_disk(measured(1, 100), low_percent=1).state is DiskState.OK
    assert assess_disk(measured(98, 100), low_percent=99).state is DiskState.LOW


def test_nothing_measured_is_unknown_with_the_reason():
    report = assess_disk(DiskMeasurement.unknown("  Docker engine unreachable \n", ROOT))
    assert report == DiskReport(
        DiskMeasurement(ROOT, None, "  Docker engine unreachable \n"),
        DiskState.UNKNOWN,
        None,
        "unknown: Docker engine unreachable",
    )
    assert report.free_percent is None


def test_unknown_without_a_reason_says_only_unknown():
    assert assess_disk(DiskMeasurement.unknown(" ")).text == "unknown"
    assert assess_disk(DiskMeasurement()).text == "unknown"
    assert DiskMeasurement.unknown("why") == DiskMeasurement("", None, "why")


@pytest.mark.parametrize("percent", [0, 100, -1, 1.5, True, "10", None])
def test_a_threshold_outside_1_to_99_or_not_whole_is_refused(percent):
    with pytest.raises(InvalidValue) as error:
        assess_disk(measured(1, 2), low_percent=percent)
    assert error.value.field == "low_percent"


def test_the_threshold_refusals_say_why():
    with pytest.raises(InvalidValue, match=r"low_percent: must be between 1 and 99, got 100$"):
        assess_disk(measured(1, 2), low_percent=100)
    with pytest.raises(InvalidValue, match=r"low_percent: must be a whole number, got True$"):
        assess_disk(measured(1, 2), low_percent=True)
    with pytest.raises(InvalidValue, match=r"low_percent: must be a whole number, got 1\.5$"):
        assess_disk(measured(1, 2), low_percent=1.5)


@pytest.mark.parametrize(
    ("total", "free", "field", "message"),
    [
        (0, 0, "total_bytes", "must be a whole number of at least 1, got 0"),
        (-5, 0, "total_bytes", "must be a whole number of at least 1, got -5"),
        (True, 0, "total_bytes", "must be a whole number of at least 1, got True"),
        (1.0, 0, "total_bytes", "must be a whole number of at least 1, got 1.0"),
        (10, -1, "free_bytes", "must be a whole number of at least 0, got -1"),
        (10, False, "free_bytes", "must be a whole number of at least 0, got False"),
        (10, "3", "free_bytes", "must be a whole number of at least 0, got '3'"),
        (10, 11, "free_bytes", "must not exceed the total of 10, got 11"),
    ],
)
def test_a_space_that_cannot_be_is_refused(total, free, field, message):
    with pytest.raises(InvalidValue) as error:
        DiskSpace(total_bytes=total, free_bytes=free)
    assert (error.value.field, error.value.message) == (field, message)


def test_the_smallest_spaces_are_allowed():
    assert DiskSpace(total_bytes=1, free_bytes=0).free_bytes == 0
    assert DiskSpace(total_bytes=1, free_bytes=1).total_bytes == 1


spaces = st.integers(min_value=1, max_value=2**60).flatmap(
    lambda total: st.builds(DiskSpace, total_bytes=st.just(total), free_bytes=st.integers(0, total))
)


@given(spaces, st.integers(min_value=1, max_value=99))
def test_low_is_exactly_a_free_share_under_the_threshold(space, percent):
    report = assess_disk(DiskMeasurement(ROOT, space), low_percent=percent)
    share = Fraction(space.free_bytes, space.total_bytes)
    assert (report.state is DiskState.LOW) == (share < Fraction(percent, 100))
    assert report.state is not DiskState.UNKNOWN
    assert report.text.endswith(f": low, under {percent} % free") == (report.state is DiskState.LOW)


@given(spaces)
def test_the_shown_share_is_the_true_share_rounded_down_to_a_tenth(space):
    report = assess_disk(DiskMeasurement(ROOT, space))
    share = Fraction(space.free_bytes * 1000, space.total_bytes)
    assert report.free_permille is not None
    assert report.free_permille <= share < report.free_permille + 1
    assert 0 <= report.free_permille <= 1000
    shown = f"({report.free_permille // 10}.{report.free_permille % 10} %)"
    assert shown in report.text
    # Low and a shown share of 10 % or more never meet.
    if report.state is DiskState.LOW:
        assert report.free_permille < LOW_DISK_PERCENT * 10


@given(st.text(max_size=40))
def test_unknown_is_always_unknown_whatever_the_reason(reason):
    report = assess_disk(DiskMeasurement.unknown(reason))
    assert report.state is DiskState.UNKNOWN
    assert report.free_permille is None
    assert report.text.startswith("unknown")
