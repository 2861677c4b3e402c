"""The activity dashboard: `/hub/activity`, `GET /hub/api/activity`, its reset, a sample now,
and the usage history."""

from __future__ import annotations

from typing import Any

#: (pattern, handler[, kwargs]) tuples relative to the hub prefix.
ROUTES: list[tuple[Any, ...]] = []
