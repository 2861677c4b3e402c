"""`follow_admins`: the platform's admin role follows JupyterHub's admin flag at every flush,
on JupyterHub's own ORM (in-memory SQLite), and a flush that changes neither a user's flag nor
their roles asks the database nothing about roles."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jupyterhub import orm
from sqlalchemy import event

from stellars.adapters.jupyterhub.plugin.roles import follow_admins
from stellars.adapters.jupyterhub.scopes import ADMIN_ROLE


@pytest.fixture
def db() -> Iterator[Any]:
    session = orm.new_session_factory("sqlite://")()
    session.add(orm.Role(name=ADMIN_ROLE))
    session.commit()
    yield session
    session.close()


def role_holders(db: Any) -> set[str]:
    return {user.name for user in orm.Role.find(db, ADMIN_ROLE).users}


def statements_during(db: Any, action: Any) -> list[str]:
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", note)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return seen


def test_existing_users_are_brought_in_line_at_start(db):
    db.add_all([orm.User(name="ada", admin=True), orm.User(name="bob", admin=False)])
    db.commit()
    assert follow_admins(db) == 1
    assert role_holders(db) == {"ada"}


def test_a_new_admin_gets_the_role_and_a_new_user_does_not(db):
    follow_admins(db)
    db.add_all([orm.User(name="ada", admin=True), orm.User(name="bob")])
    db.commit()
    assert role_holders(db) == {"ada"}


def test_the_role_follows_the_flag_both_ways(db):
    follow_admins(db)
    bob = orm.User(name="bob")
    db.add(bob)
    db.commit()
    bob.admin = True
    db.commit()
    assert role_holders(db) == {"bob"}
    bob.admin = False
    db.commit()
    assert role_holders(db) == set()


def test_the_role_taken_from_an_admin_by_hand_comes_back(db):
    follow_admins(db)
    ada = orm.User(name="ada", admin=True)
    db.add(ada)
    db.commit()
    ada.roles.remove(orm.Role.find(db, ADMIN_ROLE))
    db.commit()
    assert role_holders(db) == {"ada"}


def test_a_flush_that_changes_neither_flag_nor_roles_asks_nothing_about_roles(db):
    follow_admins(db)
    ada = orm.User(name="ada", admin=True)
    db.add(ada)
    db.commit()
    ada.name  # loaded again after the commit, outside the measured flush  # noqa: B018

    def note_activity() -> None:
        ada.last_activity = orm.utcnow()
        db.commit()

    statements = statements_during(db, note_activity)
    assert any(statement.startswith("UPDATE users") for statement in statements), statements
    assert not any("roles" in statement for statement in statements), statements
