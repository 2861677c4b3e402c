"""The hub's users as the platform follows them: listeners on a real JupyterHub ORM session
(in memory) report creations after the commit, renames and deletions inside the transaction
and after it, nothing for a rollback, and never a rename for a user being created (the
original's listener took SQLAlchemy's NO_VALUE for an old name)."""

from __future__ import annotations

from typing import Any

import pytest
from jupyterhub import orm
from jupyterhub.user import UserDict

from stellars.adapters.jupyterhub.plugin.groups import ensure_groups
from stellars.adapters.jupyterhub.plugin.user_events import follow_users


class Recorder:
    """A UserLifecycleService stand-in that records the calls in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *args: self.calls.append((name, args))


@pytest.fixture
def hub() -> tuple[Any, Recorder]:
    db = orm.new_session_factory("sqlite://")()
    recorder = Recorder()
    follow_users(db, recorder)
    yield db, recorder
    db.close()


def test_a_new_user_is_reported_after_the_commit_and_never_as_a_rename(hub):
    db, recorder = hub
    db.add(orm.User(name="ann"))
    db.flush()
    assert recorder.calls == []
    db.commit()
    assert recorder.calls == [("created", ("ann",))]


def test_a_rename_is_reported_in_the_transaction_and_after_the_commit(hub):
    db, recorder = hub
    user = orm.User(name="ann")
    db.add(user)
    db.commit()
    recorder.calls.clear()
    user.name = "anna"
    db.flush()
    assert recorder.calls == [("renaming", ("ann", "anna"))]
    db.commit()
    assert recorder.calls[-1] == ("renamed", ("ann", "anna"))


def test_other_changes_of_a_user_are_no_rename(hub):
    db, recorder = hub
    user = orm.User(name="ann")
    db.add(user)
    db.commit()
    recorder.calls.clear()
    user.admin = True
    db.commit()
    assert recorder.calls == []


def test_a_deletion_through_jupyterhubs_user_wrapper_is_reported(hub):
    db, recorder = hub
    db.add(orm.User(name="ann"))
    db.commit()
    recorder.calls.clear()
    users = UserDict(lambda: db, {})
    users.delete(users["ann"])  # as the REST API deletes: Session.delete(wrapper)
    assert recorder.calls == [("deleting", ("ann",)), ("deleted", ("ann",))]


def test_a_rolled_back_rename_is_reported_as_such(hub):
    db, recorder = hub
    user = orm.User(name="ann")
    db.add(user)
    db.commit()
    recorder.calls.clear()
    user.name = "anna"
    db.flush()
    db.rollback()
    assert recorder.calls == [("renaming", ("ann", "anna")), ("rolled_back", ("ann",))]
    db.commit()
    assert recorder.calls[-1] == ("rolled_back", ("ann",))  # nothing left to report


def test_the_groups_are_created_once_and_their_members_kept():
    db = orm.new_session_factory("sqlite://")()
    assert ensure_groups(db, ["docker-sock", "docker-privileged"]) == [
        "docker-sock",
        "docker-privileged",
    ]
    group = orm.Group.find(db, "docker-sock")
    user = orm.User(name="ann")
    db.add(user)
    group.users.append(user)
    db.commit()
    assert ensure_groups(db, ["docker-sock", "docker-privileged"]) == []
    assert [u.name for u in orm.Group.find(db, "docker-sock").users] == ["ann"]
    db.close()
