"""The platform's scopes for admins: a role that follows JupyterHub's admin flag.

JupyterHub refuses any change to its own `admin` role (RoleValueError), so the platform's admin
scopes live in a role of their own, `stellars-admin`, held by exactly the users whose `admin`
flag is set: it is granted or stripped whenever the hub's session flushes a user whose flag
and role disagree (JupyterHub itself syncs its admin role the same way, from the flag), and
every user is brought in line when the platform attaches at start. Admins thereby hold the
scopes the way JupyterHub means it: their tokens inherit them, and they may mint tokens that
carry them.
"""

from __future__ import annotations

from typing import Any

from jupyterhub import orm
from sqlalchemy import event, inspect

from stellars.adapters.jupyterhub.scopes import ADMIN_ROLE


def _sync_user(user: Any, role: Any) -> bool:
    """Grant or strip `role` so that it matches the user's admin flag; True if changed."""
    holds = role in user.roles
    if user.admin and not holds:
        user.roles.append(role)
        return True
    if not user.admin and holds:
        user.roles.remove(role)
        return True
    return False


def _flag_or_roles_may_differ(user: Any) -> bool:
    """A new user, or one whose admin flag or roles this flush changes. Every other flushed
    user (a server started, activity noted: most flushes of a running hub) was in line at its
    last flush, and is not looked at again: no query for the role nor for the user's roles."""
    state = inspect(user)
    if state.pending:
        return True
    return bool(state.attrs.admin.history.has_changes() or state.attrs.roles.history.has_changes())


def follow_admins(db: Any) -> int:
    """Keep `stellars-admin` on exactly the admins of the hub whose ORM session is `db`.

    Syncs every user now (returns how many changed) and on every later flush of `db`.
    """
    role = orm.Role.find(db, ADMIN_ROLE)
    if role is None:
        raise RuntimeError(f"role {ADMIN_ROLE!r} missing: add platform_roles() to load_roles")
    changed = sum(_sync_user(user, role) for user in db.query(orm.User))
    if changed:
        db.commit()

    def before_flush(session: Any, _context: Any, _instances: Any) -> None:
        users = [
            obj
            for obj in (*session.new, *session.dirty)
            if isinstance(obj, orm.User) and _flag_or_roles_may_differ(obj)
        ]
        if users:
            current = orm.Role.find(session, ADMIN_ROLE)
            for user in users:
                _sync_user(user, current)

    event.listen(db, "before_flush", before_flush)
    return changed
