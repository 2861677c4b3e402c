"""The pre-spawn hook and volume ownership: a Docker spawn first provisions the user's volumes
marked for the account, and a spawn onto another account's volumes fails with a 409 whose
message JupyterHub shows to the user; local-process spawners are left alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from dockerspawner import DockerSpawner
from jupyterhub.spawner import LocalProcessSpawner
from tornado import web

from stellars.adapters.jupyterhub import PreSpawnHook, SpawnBase
from stellars.adapters.memory import (
    InMemoryHubDirectory,
    InMemoryVolumeStore,
    ManualClock,
    StaticGpuProbe,
)
from stellars.domain.docker_access import DockerAccessGroups
from stellars.domain.gpu import GpuMode, GpuProbeResult
from stellars.domain.limits import LabLimits
from stellars.domain.services import GpuService, VolumeService
from stellars.domain.timeutil import assume_utc
from stellars.domain.volume_ownership import owner_key
from stellars.domain.volumes import DockerNaming, user_volumes
from tests.builders import VolumeSizes

VOLUMES = {"lab-{username}_home": "/home/jovyan", "shared": "/mnt/shared"}
CREATED = datetime(2026, 1, 2, 3, 4, 5, 600_000)  # naive UTC, as JupyterHub's ORM has it


@dataclass
class User:
    name: str = "ann"
    id: int = 4
    created: datetime = CREATED
    groups: list[object] = field(default_factory=list)


class World:
    def __init__(self) -> None:
        self.store = InMemoryVolumeStore()
        self.sizes = VolumeSizes(self.store, ManualClock(assume_utc(CREATED)))
        self.hook = PreSpawnHook(
            base=SpawnBase(volumes=VOLUMES),
            groups=DockerAccessGroups(),
            gpu=GpuService(probe=StaticGpuProbe(GpuProbeResult.none("none")), mode=GpuMode.OFF),
            limits=LabLimits(),
            volumes=VolumeService(
                store=self.store,
                directory=InMemoryHubDirectory(),
                volumes=user_volumes(VOLUMES),
                naming=DockerNaming(prefix="lab", name_template="lab-{username}"),
                sizes=self.sizes,
            ),
        )

    @property
    def refreshes(self) -> int:
        return self.sizes.requests


def docker_spawner() -> DockerSpawner:
    spawner = DockerSpawner()
    spawner.user = User()
    return spawner


async def test_a_docker_spawn_provisions_the_users_volumes_for_the_account():
    world = World()
    await world.hook(docker_spawner())
    assert world.store.owners == {"lab-ann_home": owner_key(4, CREATED)}
    assert world.refreshes == 1
    await world.hook(docker_spawner())  # the next spawn finds them: nothing new
    assert world.refreshes == 1


async def test_a_spawn_onto_an_earlier_accounts_volumes_is_a_409_for_the_user():
    world = World()
    world.store.create("lab-ann_home", created_at=None, owner=owner_key(1, CREATED))
    spawner = docker_spawner()
    with pytest.raises(web.HTTPError) as refused:
        await world.hook(spawner)
    assert refused.value.status_code == 409
    message = refused.value.jupyterhub_message  # type: ignore[attr-defined]
    assert "lab-ann_home were left by an earlier user of the same name" in message
    assert world.refreshes == 0


async def test_unmarked_volumes_older_than_the_account_are_an_earlier_users():
    world = World()
    world.store.create("lab-ann_home", created_at=None)
    await world.hook(docker_spawner())  # no age known: taken as the account's
    world = World()
    world.store.create("lab-ann_home", created_at=assume_utc(CREATED - timedelta(days=3)))
    with pytest.raises(web.HTTPError):
        await world.hook(docker_spawner())


async def test_a_local_process_spawn_provisions_nothing():
    world = World()
    spawner = LocalProcessSpawner()
    spawner.user = User()
    await world.hook(spawner)
    assert world.store.sizes == {}
