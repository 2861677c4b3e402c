"""The platform's built-in groups (Docker access) exist from hub start, so an admin finds them
on the admin page without creating them by hand; membership is never touched."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jupyterhub import orm


def ensure_groups(db: Any, names: Iterable[str]) -> list[str]:
    """Create the groups of `names` that do not exist; returns the ones created."""
    created = []
    for name in names:
        if orm.Group.find(db, name) is None:
            db.add(orm.Group(name=name))
            created.append(name)
    if created:
        db.commit()
    return created
