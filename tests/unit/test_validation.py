"""Tests for `stellars.domain.validation`, `errors` and `timeutil`: the shared rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

import pytest

from stellars.domain.errors import (
    BackendUnavailable,
    Conflict,
    ContainerNotFound,
    Forbidden,
    InvalidValue,
    NotFound,
    Refused,
    StellarsError,
    VolumeInUse,
)
from stellars.domain.timeutil import UTC, assume_utc, require_aware
from stellars.domain.validation import (
    check_bounds,
    describe_bounds,
    non_empty_text,
    whole_number,
)


class TestWholeNumber:
    @pytest.mark.parametrize(
        ("value", "low", "high"), [(1, 1, 3), (3, 1, 3), (0, 0, None), (10**9, 5, None)]
    )
    def test_within_bounds(self, value, low, high):
        assert whole_number("n", value, low, high) == value

    @pytest.mark.parametrize(
        ("value", "low", "high", "text"),
        [
            (0, 1, 3, "n: must be between 1 and 3, got 0"),
            (4, 1, 3, "n: must be between 1 and 3, got 4"),
            (-1, 0, None, "n: must be at least 0, got -1"),
            (True, 0, None, "n: must be a whole number, got True"),
            (False, 0, 1, "n: must be a whole number, got False"),
            (1.0, 0, None, "n: must be a whole number, got 1.0"),
            ("1", 0, None, "n: must be a whole number, got '1'"),
            (None, 0, None, "n: must be a whole number, got None"),
        ],
    )
    def test_refusals_name_the_field(self, value, low, high, text):
        with pytest.raises(InvalidValue) as error:
            whole_number("n", value, low, high)
        assert str(error.value) == text
        assert error.value.field == "n"

    def test_without_an_upper_bound_by_default(self):
        assert whole_number("n", 10**12, 1) == 10**12
        with pytest.raises(InvalidValue, match="at least 1, got 0"):
            whole_number("n", 0, 1)


class TestBounds:
    @dataclass
    class Owner:
        a: object = 1
        b: object = 5

    LIMITS = {"a": (1, 2), "b": (5, None)}

    def test_every_named_field_is_checked(self):
        check_bounds(self.Owner(), self.LIMITS)
        with pytest.raises(InvalidValue) as error:
            check_bounds(self.Owner(a=3), self.LIMITS)
        assert str(error.value) == "a: must be between 1 and 2, got 3"
        with pytest.raises(InvalidValue) as error:
            check_bounds(self.Owner(b=4), self.LIMITS)
        assert str(error.value) == "b: must be at least 5, got 4"

    def test_fields_outside_the_limits_are_not_checked(self):
        check_bounds(self.Owner(b="anything"), {"a": (1, 2)})

    @pytest.mark.parametrize(("bounds", "text"), [((1, 365), "1-365"), ((0, None), ">= 0")])
    def test_described_as_people_read_them(self, bounds, text):
        assert describe_bounds(bounds) == text


class TestText:
    @pytest.mark.parametrize("value", ["x", " x ", "admin"])
    def test_non_blank_text_is_returned_as_given(self, value):
        assert non_empty_text("f", value) == value

    @pytest.mark.parametrize("value", ["", "  ", "\n", None, 3, b"x"])
    def test_blank_or_not_text(self, value):
        with pytest.raises(InvalidValue) as error:
            non_empty_text("f", value)
        assert str(error.value) == "f: must be a non-empty string"


class TestErrors:
    def test_invalid_value_names_its_field(self):
        error = InvalidValue("hours", "must be at least 1")
        assert (error.field, error.message, str(error)) == (
            "hours",
            "must be at least 1",
            "hours: must be at least 1",
        )
        assert isinstance(error, ValueError)
        assert isinstance(error, StellarsError)

    def test_refused_is_a_conflict_with_a_reason(self):
        error = Refused("The server is not running.")
        assert (error.reason, str(error)) == (
            "The server is not running.",
            "The server is not running.",
        )
        assert isinstance(error, Conflict)

    @pytest.mark.parametrize(
        ("error", "base"),
        [
            (Forbidden("x"), StellarsError),
            (NotFound("x"), StellarsError),
            (Conflict("x"), StellarsError),
            (BackendUnavailable("x"), StellarsError),
            (ContainerNotFound("x"), NotFound),
            (VolumeInUse("x"), Conflict),
        ],
    )
    def test_the_hierarchy(self, error, base):
        assert isinstance(error, base)

    def test_forbidden_is_no_conflict(self):
        assert not isinstance(Forbidden("x"), (Conflict, NotFound, InvalidValue))


class _NoOffset(tzinfo):
    """A zone that does not know its offset: as good as naive."""

    def utcoffset(self, dt):
        return None

    def dst(self, dt):
        return None


class TestTime:
    PARIS_SUMMER = timezone(timedelta(hours=2))

    def test_require_aware_converts_to_utc(self):
        local = datetime(2026, 6, 1, 14, 0, tzinfo=self.PARIS_SUMMER)
        converted = require_aware(local, "at")
        assert converted == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
        assert converted.tzinfo is UTC
        assert converted.hour == 12

    @pytest.mark.parametrize(
        "value", [datetime(2026, 6, 1, 12, 0), datetime(2026, 6, 1, tzinfo=_NoOffset())]
    )
    def test_require_aware_refuses_naive_datetimes(self, value):
        with pytest.raises(InvalidValue) as error:
            require_aware(value, "at")
        assert str(error.value) == "at: must be a timezone-aware datetime"

    def test_assume_utc_treats_naive_as_utc(self):
        naive = datetime(2026, 6, 1, 12, 0)
        assert assume_utc(naive) == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
        assert assume_utc(naive).tzinfo is UTC

    def test_assume_utc_converts_aware_values(self):
        local = datetime(2026, 6, 1, 14, 0, tzinfo=self.PARIS_SUMMER)
        converted = assume_utc(local)
        assert (converted.hour, converted.tzinfo) == (12, UTC)

    def test_utc(self):
        assert UTC is timezone.utc
