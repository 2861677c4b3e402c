"""How the broadcast transport finds a recipient's User: from the hub's cache of User objects
through a name index, with no database query per delivery, and never the wrong user after a
rename or a deletion.

JupyterHub's own ORM and UserDict on an in-memory SQLite database, no hub running; statements
are counted on the database's engine. Delivery itself is in
tests/contract/test_notification_transport.py (a real hub and JupyterLab).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from jupyterhub import orm
from jupyterhub.user import UserDict
from sqlalchemy import event

from stellars.adapters.jupyterhub import HubHandle
from stellars.adapters.jupyterhub.hub_objects.notifications import LabNotificationTransport


class Hub:
    def __init__(self) -> None:
        self.db = orm.new_session_factory("sqlite:///:memory:")()
        self.users = UserDict(lambda: self.db, {})
        self.statements = 0
        event.listen(self.db.get_bind(), "before_cursor_execute", self._count)

    def _count(self, *_: object) -> None:
        self.statements += 1

    def add(self, name: str, *, cached: bool = True) -> None:
        orm_user = orm.User(name=name)
        self.db.add(orm_user)
        self.db.commit()
        if cached:
            self.users.add(orm_user)


@pytest.fixture
def hub() -> Iterator[Hub]:
    found = Hub()
    try:
        yield found
    finally:
        found.db.close()


@pytest.fixture
def transport(hub: Hub) -> LabNotificationTransport:
    handle = HubHandle()
    handle.bind(SimpleNamespace(db=hub.db, users=hub.users))  # type: ignore[arg-type]
    return LabNotificationTransport(handle)


def test_cached_users_are_found_without_a_database_query(hub, transport):
    for name in ("ann", "bob", "cy"):
        hub.add(name)
    before = hub.statements
    found = [transport._user(name) for name in ("ann", "bob", "cy", "ann", "bob", "cy")]
    assert [user.name for user in found] == ["ann", "bob", "cy"] * 2
    assert hub.statements == before


def test_a_user_only_in_the_database_is_found_there(hub, transport):
    hub.add("ann")
    hub.add("dan", cached=False)
    user = transport._user("dan")
    assert user is not None and user.name == "dan"
    assert transport._user("ghost") is None


def test_after_a_rename_the_old_name_finds_nobody_and_the_new_one_the_user(hub, transport):
    hub.add("ann")
    hub.add("bob")
    assert transport._user("ann").name == "ann"  # the index knows ann
    renamed = orm.User.find(hub.db, "ann")
    renamed.name = "anna"
    hub.db.commit()
    assert transport._user("ann") is None
    assert transport._user("anna").name == "anna"
    assert transport._user("bob").name == "bob"


def test_a_deleted_user_is_not_found(hub, transport):
    hub.add("ann")
    hub.add("bob")
    assert transport._user("bob").name == "bob"
    hub.users.delete("bob")
    assert transport._user("bob") is None
    assert transport._user("ann").name == "ann"
