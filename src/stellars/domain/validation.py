"""Field validators shared by the policies; every error names the field it is about."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

from .errors import InvalidValue

#: Inclusive bounds of a whole-number field; None means unbounded above.
Bounds: TypeAlias = tuple[int, int | None]


def whole_number(field: str, value: object, low: int, high: int | None = None) -> int:
    """`value` as an int within [low, high] (no upper bound when high is None).

    Bools and floats are refused, not coerced: `True` is not 1 hour and 1.5 is not a count.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(field, f"must be a whole number, got {value!r}")
    if high is None:
        if value < low:
            raise InvalidValue(field, f"must be at least {low}, got {value}")
    elif not low <= value <= high:
        raise InvalidValue(field, f"must be between {low} and {high}, got {value}")
    return value


def check_bounds(owner: object, limits: Mapping[str, Bounds]) -> None:
    """Validate every field of `owner` named in `limits` against its bounds."""
    for name, (low, high) in limits.items():
        whole_number(name, getattr(owner, name), low, high)


def describe_bounds(bounds: Bounds) -> str:
    """Bounds as people read them: "1-365" or ">= 0"."""
    low, high = bounds
    return f">= {low}" if high is None else f"{low}-{high}"


def non_empty_text(field: str, value: object) -> str:
    """`value` as a non-blank string."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(field, "must be a non-empty string")
    return value
