"""Real engine: a container and volumes created under DockerSpawner's own names (the spawner's
`object_name` and `volume_binds`, as its start() passes them to Docker) are found by the Docker
adapters under the names the domain computes, for awkward usernames."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import docker
import docker.errors
import pytest
from dockerspawner import DockerSpawner

from stellars.adapters.docker import (
    DockerContainerControl,
    DockerContainerStats,
    DockerEngine,
    DockerVolumeStore,
)
from stellars.domain.volumes import DockerNaming, VolumeOutcome, container_name, user_volumes
from tests.backends import list_labelled
from tests.backends.dockerhost import SESSION_ID

pytestmark = pytest.mark.real

AWKWARD_USERNAMES = [
    "a.b-c_d@e",
    "user name",
    "ünï",
    "x/y",
    "Alice",
    "東京",
    "-dash-",
    "0123abc",
    "o'brien+lab",
]


@pytest.fixture(autouse=True)
def _nothing_labelled_left(docker_client: docker.DockerClient) -> Iterator[None]:
    yield
    assert not list_labelled(docker_client, SESSION_ID), "the test left labelled docker objects"


@pytest.fixture
def engine(docker_client: docker.DockerClient) -> Iterator[DockerEngine]:
    engine = DockerEngine(docker_client, max_workers=4)
    yield engine
    engine.close()


def spawner_for(username: str, naming: DockerNaming, volumes: dict[str, object]) -> DockerSpawner:
    return DockerSpawner(
        user=SimpleNamespace(name=username),
        orm_spawner=SimpleNamespace(name="", state=None, server=None),
        prefix=naming.prefix,
        image=naming.image,
        volumes=volumes,
    )


@pytest.mark.parametrize("username", AWKWARD_USERNAMES)
async def test_adapters_find_what_dockerspawner_named(
    username: str,
    docker_client: docker.DockerClient,
    tiny_image: str,
    docker_labels: dict[str, str],
    engine: DockerEngine,
) -> None:
    run = uuid.uuid4().hex[:8]
    volumes = {
        f"stellars-test-{run}-{{username}}_home": "/home/user",
        f"stellars-test-{run}-{{username}}_workspace": {"bind": "/workspace", "mode": "rw"},
    }
    naming = DockerNaming(prefix=f"stellars-test-{run}", image=tiny_image)
    spawner = spawner_for(username, naming, volumes)
    # As DockerSpawner.start() does: the container named object_name, volumes from volume_binds.
    for name in spawner.volume_binds:
        docker_client.volumes.create(name, labels=docker_labels)
    container = docker_client.containers.run(
        tiny_image,
        name=spawner.object_name,
        volumes=spawner.volume_binds,
        labels=docker_labels,
        detach=True,
    )
    try:
        ours = [volume.name_for(username, naming) for volume in user_volumes(volumes)]
        assert set(ours) == set(spawner.volume_binds)
        store = DockerVolumeStore(engine)
        assert [info.name for info in await store.volumes(ours)] == sorted(ours)

        name = container_name(username, naming)
        assert await DockerContainerControl(engine).is_running(name)
        assert set(await DockerContainerStats(engine).usage([name])) == {name}

        container.remove(force=True)
        outcomes = await store.remove(ours)
        assert outcomes == dict.fromkeys(ours, VolumeOutcome.REMOVED)
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
        for name in spawner.volume_binds:
            with contextlib.suppress(docker.errors.NotFound):
                docker_client.api.remove_volume(name, force=True)
