"""Contract of the VolumeStore port's ownership methods: `describe` (existence, creation time,
owner key; no size) and `provision` (create marked for an owner, never touch an existing
volume), on the fake and on the Docker engine (checked with `docker volume inspect`)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import docker
import docker.errors
import pytest

from stellars.adapters.docker import DockerVolumeStore
from stellars.adapters.docker.volumes import OWNER_LABEL, engine_time
from stellars.adapters.memory import InMemoryVolumeStore, ManualClock
from stellars.ports.volumes import VolumeStore
from tests.strategies import EPOCH


@dataclass
class Harness:
    store: VolumeStore
    prefix: str = field(default_factory=lambda: f"stellars-test-{uuid.uuid4().hex[:8]}")
    owners_on_engine: dict[str, str | None] | None = None  # Docker: read back by inspect

    def name(self, label: str) -> str:
        return f"{self.prefix}-{label}"


@pytest.fixture(params=["memory", "docker"])
def harness(request) -> Iterator[Harness]:
    if request.param == "memory":
        yield Harness(InMemoryVolumeStore(clock=ManualClock(EPOCH)))
        return
    client = request.getfixturevalue("docker_client")
    engine = request.getfixturevalue("docker_engine")
    made = Harness(DockerVolumeStore(engine))
    yield made
    for volume in client.volumes.list(filters={"name": made.prefix}):
        with contextlib.suppress(docker.errors.NotFound):
            volume.remove(force=True)


async def test_a_provisioned_volume_carries_its_owner(harness):
    name = harness.name("home")
    info = await harness.store.provision(name, owner="user-4-20260101T000000000000Z")
    assert (info.name, info.owner, info.size_bytes) == (
        name,
        "user-4-20260101T000000000000Z",
        None,
    )
    assert info.created_at is not None and info.created_at.tzinfo is not None
    assert await harness.store.describe([name, harness.name("none")]) == [info]


async def test_provisioning_leaves_an_existing_volume_as_it_is(harness):
    name = harness.name("home")
    first = await harness.store.provision(name, owner="user-1")
    again = await harness.store.provision(name, owner="user-2")
    assert again == first
    assert [i.owner for i in await harness.store.describe([name])] == ["user-1"]


async def test_a_volume_provisioned_without_an_owner_has_none(harness):
    info = await harness.store.provision(harness.name("x"), owner=None)
    assert info.owner is None


async def test_describe_sorts_by_name_and_skips_what_does_not_exist(harness):
    names = [harness.name(label) for label in ("b", "a")]
    for name in names:
        await harness.store.provision(name, owner=None)
    described = await harness.store.describe([*names, harness.name("c")])
    assert [info.name for info in described] == sorted(names)
    assert await harness.store.describe([]) == []


async def test_the_listing_with_sizes_carries_the_owner_too(harness):
    name = harness.name("home")
    await harness.store.provision(name, owner="user-7")
    listed = await harness.store.volumes([name])
    assert [(info.name, info.owner) for info in listed] == [(name, "user-7")]


def test_the_docker_store_reads_the_engines_times(docker_client):
    assert OWNER_LABEL == "org.stellars-hub.owner"
    utc = timezone.utc
    assert engine_time("2026-01-02T03:04:05Z") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=utc)
    assert engine_time("2026-01-02T04:04:05.123456789+01:00") == datetime(
        2026, 1, 2, 3, 4, 5, 123456, tzinfo=utc
    )
    for text in ("", "yesterday", "2026-13-02T03:04:05Z", None, 5):
        assert engine_time(text) is None
    name = f"stellars-test-{uuid.uuid4().hex[:8]}"
    docker_client.volumes.create(name, labels={OWNER_LABEL: "user-9"})
    try:
        created = engine_time(docker_client.volumes.get(name).attrs["CreatedAt"])
        assert created is not None and created.utcoffset() == timedelta(0)
    finally:
        docker_client.volumes.get(name).remove()
