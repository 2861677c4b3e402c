"""JSON request bodies turned into the typed values the services take.

Only the shape of JSON is checked here (a number where a number belongs, a list of strings where
a list belongs, no booleans posing as numbers); the rules on the values (ranges, lengths, known
labels) are the domain's. Every error is an InvalidValue naming the field, which the handlers
answer with 400.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from stellars.domain.errors import InvalidValue
from stellars.domain.notifications import (
    DEFAULT_AUTO_CLOSE_MS,
    VARIANT_NAMES,
    Broadcast,
    Variant,
)
from stellars.domain.validation import clip


def whole_number(body: Mapping[str, Any], field: str) -> int:
    """A required JSON integer; true/false, 1.5, 1e9 and "2" are refused."""
    if field not in body:
        raise InvalidValue(field, "is required")
    value = body[field]
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(field, f"must be a whole number, got {_json(value)}")
    return value


def string_list(body: Mapping[str, Any], field: str, *, required: bool = True) -> tuple[str, ...]:
    """A JSON list of strings (a single string is not a list: it is refused, never split)."""
    if field not in body or body[field] is None:
        if required:
            raise InvalidValue(field, "is required")
        return ()
    value = body[field]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidValue(field, f"must be a list of strings, got {_json(value)}")
    return tuple(value)


def broadcast(body: Mapping[str, Any]) -> Broadcast:
    """`{"message", "variant"?, "autoClose"?, "recipients"?}` as a validated Broadcast.

    autoClose: false or absent keeps the notification until dismissed, true closes it after the
    default delay, a number is milliseconds. recipients: absent means every running server; a
    list names users (an empty list or a string is refused).
    """
    message = body.get("message")
    if not isinstance(message, str):
        raise InvalidValue("message", "is required and must be a string")
    variant_text = body.get("variant", Variant.INFO.value)
    try:
        variant = Variant(variant_text)
    except ValueError:
        raise InvalidValue("variant", f"must be one of: {VARIANT_NAMES}") from None
    recipients = None
    if body.get("recipients") is not None:
        recipients = string_list(body, "recipients")
    return Broadcast(
        message=message,
        variant=variant,
        auto_close_ms=_auto_close(body.get("autoClose", False)),
        recipients=recipients,
    )


def _auto_close(value: object) -> int | None:
    if value is False or value is None:
        return None
    if value is True:
        return DEFAULT_AUTO_CLOSE_MS
    if isinstance(value, int):
        return value  # the domain checks the range
    raise InvalidValue("autoClose", f"must be true, false or milliseconds, got {_json(value)}")


def _json(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        # Escaped: a line break in it cannot start a forged line of the hub's log.
        return json.dumps(clip(value), ensure_ascii=False)
    if isinstance(value, (list, dict)):
        return "a list" if isinstance(value, list) else "an object"
    return clip(repr(value))
