"""Field validators shared by the policies; every error names the field it is about."""

from __future__ import annotations

from .errors import InvalidValue


def int_in_range(field: str, value: object, low: int, high: int) -> int:
    """`value` as an int within [low, high]; bools and floats are refused, not coerced."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(field, f"must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise InvalidValue(field, f"must be between {low} and {high}, got {value}")
    return value


def at_least(field: str, value: object, low: int) -> int:
    """`value` as an int >= low; bools and floats are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(field, f"must be a whole number, got {value!r}")
    if value < low:
        raise InvalidValue(field, f"must be at least {low}, got {value}")
    return value


def non_empty_text(field: str, value: object) -> str:
    """`value` as a non-blank string."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(field, "must be a non-empty string")
    return value
