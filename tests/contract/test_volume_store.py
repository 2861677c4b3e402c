"""Contract of the VolumeStore port.

Fixtures yield a `VolumeHarness`: the store plus backdoors to create a volume with data in it
and to hold a volume in use, so the same tests run on the fake and on the Docker engine.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Protocol

import pytest

from stellars.adapters.memory import InMemoryVolumeStore
from stellars.domain.volumes import VolumeOutcome
from stellars.ports.volumes import VolumeStore


class VolumeHarness(Protocol):
    store: VolumeStore

    def name(self, label: str) -> str:
        """A volume name unique to this test."""
        ...

    async def create(self, name: str, *, data_bytes: int = 0) -> None: ...

    async def hold(self, name: str) -> None:
        """Make `name` in use (attached to a container)."""
        ...


@dataclass
class MemoryHarness:
    store: InMemoryVolumeStore = field(default_factory=InMemoryVolumeStore)
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}")

    def name(self, label: str) -> str:
        return f"{self.prefix}-{label}"

    async def create(self, name: str, *, data_bytes: int = 0) -> None:
        self.store.create(name, data_bytes)

    async def hold(self, name: str) -> None:
        self.store.in_use.add(name)


@pytest.fixture(params=["memory"])
def harness(request) -> VolumeHarness:
    if request.param == "memory":
        return MemoryHarness()
    raise AssertionError(request.param)


async def test_listing_by_names_returns_only_existing_ones(harness):
    a, b, missing = harness.name("a"), harness.name("b"), harness.name("missing")
    await harness.create(b)
    await harness.create(a)
    listed = await harness.store.volumes([a, b, missing])
    assert [v.name for v in listed] == sorted([a, b])


async def test_listing_everything_includes_our_volumes(harness):
    a = harness.name("all")
    await harness.create(a)
    assert a in {v.name for v in await harness.store.volumes()}


async def test_sizes_reflect_the_data_in_a_volume(harness):
    small, big = harness.name("small"), harness.name("big")
    await harness.create(small)
    await harness.create(big, data_bytes=3 * 1024 * 1024)
    sizes = {v.name: v.size_bytes for v in await harness.store.volumes([small, big])}
    assert sizes[big] is not None
    assert sizes[big] >= 3 * 1024 * 1024
    assert sizes[small] is not None
    assert sizes[small] < 1024 * 1024


async def test_remove_reports_an_outcome_per_volume(harness):
    free, busy, missing = harness.name("free"), harness.name("busy"), harness.name("gone")
    await harness.create(free)
    await harness.create(busy)
    await harness.hold(busy)
    outcomes = await harness.store.remove([free, busy, missing])
    assert outcomes == {
        free: VolumeOutcome.REMOVED,
        busy: VolumeOutcome.IN_USE,
        missing: VolumeOutcome.NOT_FOUND,
    }
    assert [v.name for v in await harness.store.volumes([free, busy])] == [busy]


async def test_removing_nothing_is_fine(harness):
    assert await harness.store.remove([]) == {}
