"""Contract of the PolicyReader and PolicyStore ports: group policies kept with JupyterHub's
groups, in the admins' order.

Readers: the in-memory fake, the hub's ORM (`HubPolicyStore`, a JupyterHub application in this
process) and the hub's REST API (`RestPolicyReader`, a JupyterHub subprocess). The REST reader is
read-only (a managed service must not hold admin:groups), so on that hub the tests arrange
policies through JupyterHub's own group API, writing the same entries the hub's store writes.
Writers: the fake and the ORM store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pytest
from jupyterhub import orm
from jupyterhub.app import JupyterHub

from stellars.adapters.hub import RestPolicyReader
from stellars.adapters.jupyterhub import HubHandle, HubPolicyStore
from stellars.adapters.memory import InMemoryPolicyStore
from stellars.domain.errors import NotFound
from stellars.domain.policies import GIB, GpuSharing, GroupPolicy, Mount
from stellars.domain.policy_documents import (
    PROPERTY_KEY,
    entry_rank,
    next_rank,
    policy_entry,
    ranks_for_order,
)
from stellars.ports.policies import PolicyReader, PolicyStore
from tests.backends import JupyterHubProcess
from tests.backends.hub_helpers import api, render_hub_config
from tests.contract.test_hub_directory import in_process_hub

FULL = GroupPolicy(
    group="ml",
    cpu_limit=4,
    memory_limit=16 * GIB,
    pids_limit=4096,
    gpus=1,
    gpu_sharing=GpuSharing.SHARED,
    images=("lab:cuda", "lab:default"),
    environment={"TEAM": "ml", "DATA": "/mnt/ml"},
    mounts=(Mount("ml-data", "/mnt/ml", read_only=False), Mount("handbook", "/mnt/handbook")),
    docker_socket=True,
    idle_timeout_seconds=7200,
    max_extension_hours=8,
    storage_quota=50 * GIB,
)


class Harness(Protocol):
    reader: PolicyReader
    writer: PolicyStore

    async def add_group(self, name: str) -> None: ...

    async def remove_group(self, name: str) -> None: ...

    async def properties(self, name: str) -> dict[str, Any]: ...

    async def set_properties(self, name: str, properties: dict[str, Any]) -> None: ...


@dataclass
class MemoryHarness:
    reader: InMemoryPolicyStore

    @property
    def writer(self) -> InMemoryPolicyStore:
        return self.reader

    async def add_group(self, name: str) -> None:
        self.reader.add_group(name)

    async def remove_group(self, name: str) -> None:
        self.reader.remove_group(name)

    async def properties(self, name: str) -> dict[str, Any]:
        return dict(self.reader.properties[name])

    async def set_properties(self, name: str, properties: dict[str, Any]) -> None:
        self.reader.properties[name] = dict(properties)


@dataclass
class InProcessHarness:
    """A JupyterHub application initialised in this process; groups are made and removed on its
    database as JupyterHub's group handlers do."""

    reader: HubPolicyStore
    app: JupyterHub

    @property
    def writer(self) -> HubPolicyStore:
        return self.reader

    async def add_group(self, name: str) -> None:
        self.app.db.add(orm.Group(name=name))
        self.app.db.commit()

    async def remove_group(self, name: str) -> None:
        self.app.db.delete(orm.Group.find(self.app.db, name))
        self.app.db.commit()

    async def properties(self, name: str) -> dict[str, Any]:
        return dict(orm.Group.find(self.app.db, name).properties)

    async def set_properties(self, name: str, properties: dict[str, Any]) -> None:
        orm.Group.find(self.app.db, name).properties = dict(properties)
        self.app.db.commit()


class RestWriter:
    """What the hub's store writes, written through JupyterHub's group API (the admin's token):
    each group's properties, with the policy entry under PROPERTY_KEY."""

    def __init__(self, hub: JupyterHubProcess) -> None:
        self.hub = hub

    def _properties(self, name: str) -> dict[str, Any]:
        return dict(api(self.hub, "GET", f"/groups/{name}").json()["properties"])

    def _put(self, name: str, properties: dict[str, Any]) -> None:
        api(self.hub, "PUT", f"/groups/{name}/properties", json=properties)

    def _ranks(self) -> dict[str, int]:
        groups = api(self.hub, "GET", "/groups").json()
        return {
            group["name"]: entry_rank(group["properties"][PROPERTY_KEY])
            for group in groups
            if PROPERTY_KEY in group["properties"]
        }

    async def put(self, policy: GroupPolicy) -> None:
        def put() -> None:
            ranks = self._ranks()
            rank = ranks.get(policy.group, next_rank(ranks.values()))
            properties = self._properties(policy.group)
            self._put(policy.group, {**properties, PROPERTY_KEY: policy_entry(policy, rank)})

        await asyncio.to_thread(put)

    async def reorder(self, order: Sequence[str]) -> None:
        def reorder() -> None:
            for group, rank in ranks_for_order(self._ranks(), order).items():
                properties = self._properties(group)
                properties[PROPERTY_KEY] = {**properties[PROPERTY_KEY], "rank": rank}
                self._put(group, properties)

        await asyncio.to_thread(reorder)


@dataclass
class RestHarness:
    reader: RestPolicyReader
    hub: JupyterHubProcess

    @property
    def writer(self) -> Any:
        return RestWriter(self.hub)

    async def add_group(self, name: str) -> None:
        await asyncio.to_thread(api, self.hub, "POST", f"/groups/{name}", json={})

    async def remove_group(self, name: str) -> None:
        await asyncio.to_thread(api, self.hub, "DELETE", f"/groups/{name}")

    async def properties(self, name: str) -> dict[str, Any]:
        answer = await asyncio.to_thread(api, self.hub, "GET", f"/groups/{name}")
        return dict(answer.json()["properties"])

    async def set_properties(self, name: str, properties: dict[str, Any]) -> None:
        await asyncio.to_thread(api, self.hub, "PUT", f"/groups/{name}/properties", json=properties)


async def _in_process(tmp_path) -> InProcessHarness:
    app = await in_process_hub(tmp_path)
    handle = HubHandle()
    handle.bind(app)
    return InProcessHarness(HubPolicyStore(handle), app)


@pytest.fixture(
    params=[
        "memory",
        pytest.param("rest", marks=pytest.mark.real),
        pytest.param("in-process", marks=[pytest.mark.real, pytest.mark.hub]),
    ]
)
async def harness(request, tmp_path) -> Harness:
    if request.param == "memory":
        return MemoryHarness(InMemoryPolicyStore())
    if request.param == "in-process":
        return await _in_process(tmp_path)
    if request.param == "rest":
        hub = request.getfixturevalue("jupyterhub_factory")(render_hub_config(tmp_path / "hub"))
        # A small page, so listing the groups walks several pages.
        return RestHarness(RestPolicyReader(hub.api_url, hub.admin_token, page_size=2), hub)
    raise AssertionError(request.param)


@pytest.fixture(
    params=["memory", pytest.param("in-process", marks=[pytest.mark.real, pytest.mark.hub])]
)
async def writable(request, tmp_path) -> Harness:
    if request.param == "memory":
        return MemoryHarness(InMemoryPolicyStore())
    return await _in_process(tmp_path)


async def groups(harness: Harness, *names: str) -> None:
    for name in names:
        await harness.add_group(name)


def named(*names: str) -> list[GroupPolicy]:
    return [GroupPolicy(group=name, cpu_limit=index + 1) for index, name in enumerate(names)]


# --- reading, on every implementation ------------------------------------------------------


async def test_every_group_is_listed_by_name_with_a_policy_or_not(harness):
    await groups(harness, "zeta", "alpha", "ml")
    await harness.writer.put(GroupPolicy(group="ml"))
    assert [g for g in await harness.reader.groups() if g in {"zeta", "alpha", "ml"}] == [
        "alpha",
        "ml",
        "zeta",
    ]


async def test_a_policy_is_read_back_whole(harness):
    await groups(harness, "ml", "viz")
    await harness.writer.put(FULL)
    assert await harness.reader.get("ml") == FULL
    assert await harness.reader.get("viz") is None
    assert await harness.reader.get("no-such-group") is None
    assert await harness.reader.in_order() == [FULL]


async def test_policies_come_in_the_order_they_were_made_and_then_the_admins(harness):
    await groups(harness, "a", "b", "c", "d", "e")
    c, a, d, b = named("c", "a", "d", "b")
    for policy in (c, a, d, b):
        await harness.writer.put(policy)
    assert await harness.reader.in_order() == [c, a, d, b]
    await harness.writer.reorder(["b", "e", "a"])  # e has no policy: passed over
    # Named first, in that order; the others after them, by name.
    assert await harness.reader.in_order() == [b, a, c, d]


async def test_the_policies_of_some_groups_in_the_admins_order(harness):
    await groups(harness, "a", "b", "c")
    a, b, c = named("a", "b", "c")
    for policy in (c, b, a):
        await harness.writer.put(policy)
    assert await harness.reader.for_groups({"a", "c", "nobody"}) == [c, a]
    assert await harness.reader.for_groups(["b"]) == [b]
    assert await harness.reader.for_groups([]) == []
    assert await harness.reader.for_groups(iter(["a", "a"])) == [a]


async def test_a_stored_policy_the_platform_cannot_read_is_left_out(harness):
    await groups(harness, "broken", "fine", "odd")
    await harness.writer.put(GroupPolicy(group="fine", gpus=2))
    await harness.set_properties(
        "broken", {PROPERTY_KEY: {"version": 1, "rank": 0, "policy": {"gpus": -1}}}
    )
    await harness.set_properties("odd", {PROPERTY_KEY: "not an entry", "colour": "red"})
    assert await harness.reader.in_order() == [GroupPolicy(group="fine", gpus=2)]
    assert await harness.reader.get("broken") is None
    assert await harness.reader.for_groups({"broken", "odd", "fine"}) == [
        GroupPolicy(group="fine", gpus=2)
    ]


async def test_a_group_deleted_in_the_hub_takes_its_policy_with_it(harness):
    await groups(harness, "gone", "kept")
    await harness.writer.put(GroupPolicy(group="gone", gpus=1))
    await harness.writer.put(GroupPolicy(group="kept", gpus=2))
    await harness.remove_group("gone")
    assert "gone" not in await harness.reader.groups()
    assert await harness.reader.get("gone") is None
    assert [p.group for p in await harness.reader.in_order()] == ["kept"]


# --- writing, on the stores that write -----------------------------------------------------


async def test_a_policy_for_a_group_the_hub_lacks_is_not_found(writable):
    with pytest.raises(NotFound, match="No such group: ghosts"):
        await writable.writer.put(GroupPolicy(group="ghosts"))


async def test_a_replaced_policy_keeps_its_place_and_a_new_one_goes_last(writable):
    await groups(writable, "a", "b", "c")
    await writable.writer.put(GroupPolicy(group="a"))
    await writable.writer.put(GroupPolicy(group="b"))
    await writable.writer.put(GroupPolicy(group="a", gpus=3))
    await writable.writer.put(GroupPolicy(group="c"))
    assert [(p.group, p.gpus) for p in await writable.reader.in_order()] == [
        ("a", 3),
        ("b", None),
        ("c", None),
    ]
    await writable.writer.reorder(["c"])
    await writable.writer.put(GroupPolicy(group="b", gpus=1))
    assert [p.group for p in await writable.reader.in_order()] == ["c", "a", "b"]


async def test_a_policy_made_after_an_order_goes_after_every_other(writable):
    await groups(writable, "a", "b", "c")
    await writable.writer.put(GroupPolicy(group="b"))
    await writable.writer.put(GroupPolicy(group="a"))
    await writable.writer.reorder(["a"])
    await writable.writer.put(GroupPolicy(group="c"))
    assert [p.group for p in await writable.reader.in_order()] == ["a", "b", "c"]


async def test_deleting_removes_the_policy_and_keeps_the_groups_other_properties(writable):
    await groups(writable, "ml", "plain")
    await writable.set_properties("ml", {"colour": "red"})
    await writable.writer.put(FULL)
    assert (await writable.properties("ml"))["colour"] == "red"
    assert await writable.writer.delete("ml") is True
    assert await writable.properties("ml") == {"colour": "red"}
    assert await writable.reader.get("ml") is None
    assert await writable.writer.delete("ml") is False
    assert await writable.writer.delete("plain") is False
    assert await writable.writer.delete("ghosts") is False


async def test_what_the_hub_keeps_is_one_entry_under_one_key(writable):
    await groups(writable, "ml")
    await writable.writer.put(FULL)
    assert await writable.properties("ml") == {PROPERTY_KEY: policy_entry(FULL, 0)}


async def test_an_order_leaves_unreadable_entries_as_they_are(writable):
    await groups(writable, "a", "odd")
    await writable.writer.put(GroupPolicy(group="a"))
    await writable.set_properties("odd", {PROPERTY_KEY: {"version": 9}})
    await writable.writer.reorder(["odd", "a"])
    assert await writable.properties("odd") == {PROPERTY_KEY: {"version": 9}}
    assert [p.group for p in await writable.reader.in_order()] == ["a"]
    # A new policy goes after the readable ones; the unreadable entry is replaced by it.
    await writable.writer.put(GroupPolicy(group="odd"))
    assert [p.group for p in await writable.reader.in_order()] == ["a", "odd"]
