"""Contract of the HubDirectory port.

An implementation's fixture yields a `DirectoryHarness`: the directory under test plus a way to
arrange users in the backing hub (the in-memory dict, or a real hub through its REST API).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import pytest

from stellars.adapters.memory import InMemoryHubDirectory
from stellars.domain.hub import HubUser
from stellars.ports.hub_directory import HubDirectory


class DirectoryHarness(Protocol):
    directory: HubDirectory

    async def add_user(self, name: str, *, admin: bool = False) -> None: ...


@dataclass
class MemoryHarness:
    directory: InMemoryHubDirectory

    async def add_user(self, name: str, *, admin: bool = False) -> None:
        self.directory.put(HubUser(name=name, admin=admin))


@pytest.fixture(params=["memory"])
def harness(request) -> DirectoryHarness:
    if request.param == "memory":
        return MemoryHarness(InMemoryHubDirectory())
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
