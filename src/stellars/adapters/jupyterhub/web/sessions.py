"""Idle sessions: `GET /hub/api/users/{user}/session-info` and
`POST /hub/api/users/{user}/extend-session`."""

from __future__ import annotations

from typing import Any

#: (pattern, handler[, kwargs]) tuples relative to the hub prefix.
ROUTES: list[tuple[Any, ...]] = []
