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
    ECHO_ITEMS,
    ECHO_LIMIT,
    check_bounds,
    clip,
    describe_bounds,
    echo,
    echo_items,
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

    @pytest.mark.parametrize(
        ("value", "low", "high", "verb"),
        [(10**4000, 0, 5, "between 0 and 5"), (-(10**4000), 0, None, "at least 0")],
    )
    def test_a_huge_number_is_repeated_only_in_part(self, value, low, high, verb):
        with pytest.raises(InvalidValue) as error:
            whole_number("n", value, low, high)
        shown = repr(value)[:37]
        assert str(error.value) == f"n: must be {verb}, got {shown}..."

    def test_a_huge_value_of_the_wrong_kind_is_repeated_only_in_part(self):
        with pytest.raises(InvalidValue) as error:
            whole_number("n", "9" * 100_000, 0)
        assert str(error.value) == f"n: must be a whole number, got '{'9' * 37}...'"


class TestEcho:
    """What a message repeats of a caller's value: never more than ECHO_LIMIT characters of
    it, escaped so that it cannot break a log line."""

    def test_the_limits(self):
        assert (ECHO_LIMIT, ECHO_ITEMS) == (40, 5)

    @pytest.mark.parametrize(
        ("text", "limit", "shown"),
        [
            ("", 40, ""),
            ("a" * 40, 40, "a" * 40),
            ("a" * 41, 40, "a" * 37 + "..."),
            ("abcdef", 5, "ab..."),
            ("abcde", 5, "abcde"),
            ("abcd", 3, "..."),
        ],
    )
    def test_clip_keeps_short_text_and_cuts_long_text_to_the_limit(self, text, limit, shown):
        assert clip(text, limit) == shown
        assert len(clip(text, limit)) <= limit

    def test_clip_cuts_at_forty_by_default(self):
        assert clip("b" * 1_000_000) == "b" * 37 + "..."

    @pytest.mark.parametrize(
        ("value", "shown"),
        [
            ("home", "'home'"),
            ("a\nb", "'a\\nb'"),
            ("x" * 41, f"'{'x' * 37}...'"),
            (7, "7"),
            (None, "None"),
            (1.5, "1.5"),
            (10**50, str(10**50)[:37] + "..."),
            (["a"] * 20, str(["a"] * 20)[:37] + "..."),
        ],
    )
    def test_echo_quotes_text_and_shows_anything_else_as_its_repr(self, value, shown):
        assert echo(value) == shown

    def test_echo_escapes_a_line_break(self):
        assert echo("ann\n[I 12:00 JupyterHub] forged") == "'ann\\n[I 12:00 JupyterHub] forged'"
        assert "\n" not in echo("a\r\nb" * 100)

    def test_echo_takes_a_limit(self):
        assert echo("abcdefgh", 6) == "'abc...'"
        assert echo(123456789, 6) == "123..."

    @pytest.mark.parametrize(
        ("values", "shown"),
        [
            ([], ""),
            (["a"], "'a'"),
            (["a", "b", "c", "d", "e"], "'a', 'b', 'c', 'd', 'e'"),
            (["a", "b", "c", "d", "e", "f"], "'a', 'b', 'c', 'd', 'e' and 1 more"),
            ([str(n) for n in range(1000)], "'0', '1', '2', '3', '4' and 995 more"),
        ],
    )
    def test_echo_items_names_the_first_five_and_counts_the_rest(self, values, shown):
        assert echo_items(values) == shown

    def test_echo_items_takes_a_limit_and_cuts_each_value(self):
        assert echo_items(["x" * 50, "y", "z"], 1) == f"'{'x' * 37}...' and 2 more"
        assert echo_items(["y", "z"], 2) == "'y', 'z'"


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
