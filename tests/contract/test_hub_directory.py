"""Contract of the HubDirectory port.

An implementation's fixture yields a `DirectoryHarness`: the directory under test plus a way to
arrange users in the backing hub (the in-memory dict, or a real hub through its REST API).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Protocol

import pytest
from jupyterhub import orm
from jupyterhub.app import JupyterHub

from stellars.adapters.hub import RestHubDirectory
from stellars.adapters.jupyterhub import HubHandle, InProcessHubDirectory
from stellars.adapters.memory import InMemoryHubDirectory
from stellars.domain.hub import HubUser
from stellars.ports.hub_directory import HubDirectory
from tests.backends import JupyterHubProcess
from tests.backends.hub_helpers import api, create_user, render_hub_config


class DirectoryHarness(Protocol):
    directory: HubDirectory

    async def add_user(self, name: str, *, admin: bool = False) -> None: ...

    async def add_to_group(self, group: str, names: list[str]) -> None: ...


@dataclass
class MemoryHarness:
    directory: InMemoryHubDirectory

    async def add_user(self, name: str, *, admin: bool = False) -> None:
        self.directory.put(HubUser(name=name, admin=admin))

    async def add_to_group(self, group: str, names: list[str]) -> None:
        for name in names:
            user = await self.directory.get_user(name)
            assert user is not None
            self.directory.put(replace(user, groups=user.groups | {group}))


@dataclass
class RestHarness:
    """A real JupyterHub subprocess; users are created through its REST API."""

    directory: RestHubDirectory
    hub: JupyterHubProcess

    async def add_user(self, name: str, *, admin: bool = False) -> None:
        await asyncio.to_thread(create_user, self.hub, name, admin=admin)

    async def add_to_group(self, group: str, names: list[str]) -> None:
        def add() -> None:
            api(self.hub, "POST", f"/groups/{group}", json={})
            api(self.hub, "POST", f"/groups/{group}/users", json={"users": names})

        await asyncio.to_thread(add)


@dataclass
class InProcessHarness:
    """A JupyterHub application initialised in this process (no proxy, no HTTP server); users
    are added to its database as JupyterHub's own API handlers add them."""

    directory: InProcessHubDirectory
    app: JupyterHub

    async def add_user(self, name: str, *, admin: bool = False) -> None:
        user = orm.User(name=name, admin=admin)
        self.app.db.add(user)
        self.app.db.commit()

    async def add_to_group(self, group: str, names: list[str]) -> None:
        db = self.app.db
        orm_group = orm.Group(name=group)
        db.add(orm_group)
        orm_group.users.extend(orm.User.find(db, name) for name in names)
        db.commit()


async def in_process_hub(tmp_path) -> JupyterHub:
    config = tmp_path / "jupyterhub_config.py"
    config.write_text("")
    app = JupyterHub(
        db_url=f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}",
        cookie_secret_file=str(tmp_path / "cookie_secret"),
        pid_file=str(tmp_path / "jupyterhub.pid"),
        authenticator_class="dummy",
        config_file=str(config),
    )
    await app.initialize([])
    return app


@pytest.fixture(
    params=[
        "memory",
        pytest.param("rest", marks=pytest.mark.real),
        pytest.param("in-process", marks=[pytest.mark.real, pytest.mark.hub]),
    ]
)
async def harness(request, tmp_path) -> DirectoryHarness:
    if request.param == "memory":
        return MemoryHarness(InMemoryHubDirectory())
    if request.param == "in-process":
        app = await in_process_hub(tmp_path)
        handle = HubHandle()
        handle.bind(app)
        return InProcessHarness(InProcessHubDirectory(handle), app)
    if request.param == "rest":
        hub = request.getfixturevalue("jupyterhub_factory")(render_hub_config(tmp_path / "hub"))
        return RestHarness(RestHubDirectory(hub.api_url, hub.admin_token), hub)
    raise AssertionError(request.param)


async def test_users_are_listed_sorted_by_name(harness):
    for name in ["carol", "alice", "bob"]:
        await harness.add_user(name)
    names = [u.name for u in await harness.directory.list_users()]
    assert [n for n in names if n in {"alice", "bob", "carol"}] == ["alice", "bob", "carol"]
    assert names == sorted(names)


async def test_get_user_returns_the_user_or_none(harness):
    await harness.add_user("dora", admin=True)
    user = await harness.directory.get_user("dora")
    assert user is not None
    assert user.name == "dora"
    assert user.admin
    assert await harness.directory.get_user("nobody-here") is None


async def test_a_user_without_a_server_has_no_servers(harness):
    await harness.add_user("erin")
    user = await harness.directory.get_user("erin")
    assert not user.has_active_server
    assert user.default_server is None


async def test_listing_agrees_with_each_user_across_pages(harness, monkeypatch):
    # Small pages and slices, so the in-process listing reads several (it pages by name) and
    # makes the users of a page in more than one turn.
    monkeypatch.setattr("stellars.adapters.jupyterhub.hub_objects.directory.USERS_PER_PAGE", 3)
    monkeypatch.setattr("stellars.adapters.jupyterhub.hub_objects.directory.USERS_PER_TURN", 2)
    names = [f"page-user-{index:02d}" for index in range(11)]
    for index, name in enumerate(names):
        await harness.add_user(name, admin=index % 4 == 0)
    await harness.add_to_group("analysts", names[2:5])
    await harness.add_to_group("docker", names[4:6])
    listed = {user.name: user for user in await harness.directory.list_users()}
    assert set(names) <= set(listed)
    for name in names:
        assert listed[name] == await harness.directory.get_user(name), name
    assert listed[names[4]].groups == {"analysts", "docker"}
    assert listed[names[2]].groups == {"analysts"}
    assert listed[names[1]].groups == frozenset()
    assert [listed[name].admin for name in names] == [index % 4 == 0 for index in range(11)]
