"""Field validators shared by the policies; every error names the field it is about."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

from .errors import InvalidValue

#: Inclusive bounds of a whole-number field; None means unbounded above.
Bounds: TypeAlias = tuple[int, int | None]
#: The most characters of a caller's value that a message repeats: enough to recognise the
#: value, never so many that a huge one fills an answer or a line of the hub's log.
ECHO_LIMIT = 40
#: The most values of a caller's list that a message repeats.
ECHO_ITEMS = 5


def clip(text: str, limit: int = ECHO_LIMIT) -> str:
    """`text` as it is when at most `limit` characters long; else its first `limit` - 3
    characters and "..." (so never longer than `limit`, which must be at least 3)."""
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def echo(value: object, limit: int = ECHO_LIMIT) -> str:
    """A caller's value as a message repeats it: a string quoted and escaped (repr, so a line
    break cannot start a forged log line), cut first to `limit` characters; anything else as
    its repr, cut to `limit` characters."""
    if isinstance(value, str):
        return repr(clip(value, limit))
    return clip(repr(value), limit)


def echo_items(values: Sequence[object], limit: int = ECHO_ITEMS) -> str:
    """The first `limit` of a caller's values, each as `echo` shows it, and how many more:
    "'a', 'b' and 998 more"."""
    shown = ", ".join(echo(value) for value in values[:limit])
    rest = len(values) - limit
    return f"{shown} and {rest} more" if rest > 0 else shown


def whole_number(field: str, value: object, low: int, high: int | None = None) -> int:
    """`value` as an int within [low, high] (no upper bound when high is None).

    Bools and floats are refused, not coerced: `True` is not 1 hour and 1.5 is not a count.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(field, f"must be a whole number, got {echo(value)}")
    if high is None:
        if value < low:
            raise InvalidValue(field, f"must be at least {low}, got {echo(value)}")
    elif not low <= value <= high:
        raise InvalidValue(field, f"must be between {low} and {high}, got {echo(value)}")
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
