"""A user's server and volumes: `POST /hub/api/users/{user}/restart-server` and
`GET|DELETE /hub/api/users/{user}/manage-volumes`."""

from __future__ import annotations

from typing import Any

#: (pattern, handler[, kwargs]) tuples relative to the hub prefix.
ROUTES: list[tuple[Any, ...]] = []
