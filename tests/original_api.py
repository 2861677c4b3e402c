"""The fields the original platform's routes answer with (its reference spec, section 3), so the
tests can check that every shared route still returns each of them, beside the platform's own.

Each entry: the route, then the keys of the answer and, for a list or object inside it, the keys
of each of its items. Keys only: their meaning is what the route tests check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: route -> (top-level keys, {key of a nested list or object: keys of each item})
ORIGINAL_FIELDS: Mapping[str, tuple[frozenset[str], Mapping[str, frozenset[str]]]] = {
    "DELETE /api/users/{u}/manage-volumes": (
        frozenset({"message", "reset_volumes", "failed_volumes"}),
        {"failed_volumes": frozenset({"volume", "reason"})},
    ),
    "POST /api/users/{u}/restart-server": (frozenset({"message"}), {}),
    "GET /api/users/{u}/session-info": (
        frozenset(
            {
                "culler_enabled",
                "server_active",
                "timeout_seconds",
                "max_extension_hours",
                "last_activity",
                "time_remaining_seconds",
                "extensions_used_hours",
                "extensions_available_hours",
            }
        ),
        {},
    ),
    "POST /api/users/{u}/extend-session": (
        frozenset({"success", "message", "truncated", "session_info"}),
        {
            "session_info": frozenset(
                {"time_remaining_seconds", "extensions_used_hours", "extensions_available_hours"}
            )
        },
    ),
    # The original answered a refused or bad extension with this JSON (status 400).
    "POST /api/users/{u}/extend-session (refused)": (frozenset({"success", "error"}), {}),
    "GET /api/notifications/active-servers": (
        frozenset({"servers"}),
        {"servers": frozenset({"username"})},
    ),
    "POST /api/notifications/broadcast": (
        frozenset({"total", "successful", "failed", "details"}),
        {"details": frozenset({"username", "status"})},
    ),
    "POST /api/notifications/broadcast (nobody running)": (
        frozenset({"total", "successful", "failed", "details", "message"}),
        {},
    ),
    "POST /api/admin/credentials": (
        frozenset({"credentials"}),
        {"credentials": frozenset({"username", "password"})},
    ),
    "GET /api/activity": (
        frozenset({"users", "timestamp", "sampling_status", "inactive_after_seconds"}),
        {
            "users": frozenset(
                {
                    "username",
                    "is_authorized",
                    "server_active",
                    "recently_active",
                    "cpu_percent",
                    "memory_mb",
                    "memory_percent",
                    "time_remaining_seconds",
                    "activity_score",
                    "sample_count",
                    "last_activity",
                    "volume_size_mb",
                    "volume_breakdown",
                }
            )
        },
    ),
    "POST /api/activity/reset": (frozenset({"success", "deleted"}), {}),
    "POST /api/activity/sample": (
        frozenset({"success", "total", "active", "inactive", "offline"}),
        {},
    ),
}


def missing_original_fields(route: str, answer: Mapping[str, Any]) -> list[str]:
    """The original's fields that `answer` lacks ("details[].status" for a nested one); empty
    when every one is there. Nested lists must hold at least one item to be checked."""
    top, nested = ORIGINAL_FIELDS[route]
    missing = sorted(top - set(answer))
    for key, item_keys in nested.items():
        value = answer.get(key)
        items = value if isinstance(value, list) else [value]
        assert items and all(isinstance(item, dict) for item in items), (
            f"{route}: {key} must hold at least one object to compare, got {value!r}"
        )
        for item in items:
            missing += [f"{key}[].{name}" for name in sorted(item_keys - set(item))]
    return missing
