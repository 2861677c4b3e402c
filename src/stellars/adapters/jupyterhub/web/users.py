"""Users and their credentials: `POST /hub/api/admin/credentials` and what follows users
when they are renamed or deleted."""

from __future__ import annotations

from typing import Any

#: (pattern, handler[, kwargs]) tuples relative to the hub prefix.
ROUTES: list[tuple[Any, ...]] = []
