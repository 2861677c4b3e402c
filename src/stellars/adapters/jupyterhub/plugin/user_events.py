"""Hub users created, renamed and deleted, followed by the platform (UserLifecycleService).

Listeners on the hub's ORM session (not on the mapper, so a second hub in one process, as in
tests, keeps its own): before a flush they find the users the flush inserts, renames and
deletes; the authenticator's account follows a rename or deletion inside that same transaction.
After the commit, the rest follows in the background: a passphrase for a new user, activity,
session deadlines and volumes for a renamed or deleted one. A rollback drops what was noted
(and lets a passphrase that a rename or deletion abandoned be made after all).

A rename is read from the `name` attribute's history of a user already in the database, so
the creation of a user (SQLAlchemy reports its first name with the NO_VALUE marker) is never
taken for a rename.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jupyterhub import orm
from sqlalchemy import event, inspect

from stellars.domain.services import UserLifecycleService


@dataclass
class _Noted:
    """What the current transaction did to users, until its commit or rollback."""

    created: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def orm_user_of(obj: Any) -> Any:
    """The orm.User behind `obj`, or None. JupyterHub deletes a user by handing its wrapper
    (`jupyterhub.user.User`, which forwards SQLAlchemy's state to the row) to
    `Session.delete`, and the session lists what it was given."""
    if isinstance(obj, orm.User):
        return obj
    inner = getattr(obj, "orm_user", None) if not isinstance(obj, orm.Base) else None
    return inner if isinstance(inner, orm.User) else None


def renames_in(session: Any) -> list[tuple[str, str]]:
    """(old, new) for every persistent user whose name the session changed."""
    found = []
    for obj in session.dirty:
        if not isinstance(obj, orm.User):
            continue
        history = inspect(obj).attrs.name.history
        if not history.deleted or not history.added:
            continue
        old, new = history.deleted[0], history.added[0]
        if isinstance(old, str) and isinstance(new, str) and old != new:
            found.append((old, new))
    return found


class UserEvents:
    """Connects one hub's ORM session to the platform's UserLifecycleService."""

    def __init__(self, db: Any, lifecycle: UserLifecycleService) -> None:
        self._db = db
        self._lifecycle = lifecycle
        self._noted = _Noted()

    def listen(self) -> UserEvents:
        event.listen(self._db, "before_flush", self._before_flush)
        event.listen(self._db, "after_commit", self._after_commit)
        event.listen(self._db, "after_rollback", self._after_rollback)
        return self

    def _before_flush(self, session: Any, _context: Any, _instances: Any) -> None:
        for obj in session.new:
            if isinstance(obj, orm.User) and isinstance(obj.name, str):
                self._noted.created.append(obj.name)
        for old, new in renames_in(session):
            self._lifecycle.renaming(old, new)
            self._noted.renamed.append((old, new))
        for obj in session.deleted:
            user = orm_user_of(obj)
            if user is not None:
                self._lifecycle.deleting(user.name)
                self._noted.deleted.append(user.name)

    def _after_commit(self, _session: Any) -> None:
        noted, self._noted = self._noted, _Noted()
        for old, new in noted.renamed:
            self._lifecycle.renamed(old, new)
        for name in noted.deleted:
            self._lifecycle.deleted(name)
        for name in noted.created:
            self._lifecycle.created(name)

    def _after_rollback(self, _session: Any) -> None:
        noted, self._noted = self._noted, _Noted()
        for old, _new in noted.renamed:
            self._lifecycle.rolled_back(old)
        for name in noted.deleted:
            self._lifecycle.rolled_back(name)


def follow_users(db: Any, lifecycle: UserLifecycleService) -> UserEvents:
    """Start following the users of the hub whose ORM session is `db`."""
    return UserEvents(db, lifecycle).listen()
