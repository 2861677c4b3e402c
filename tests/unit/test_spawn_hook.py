"""The pre-spawn hook computes DockerSpawner's whole settings from the current state on every
spawn: a spawner object lives as long as the hub and is reused, so leaving a group or losing
the GPU must take the grant away at the next start (a hook that only appended would not)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from dockerspawner import DockerSpawner

from stellars.adapters.jupyterhub import PreSpawnHook, SpawnBase, spawn_settings
from stellars.adapters.jupyterhub.plugin.spawn_hook import ALL_GPUS_REQUEST, with_shared_mode
from stellars.adapters.memory import StaticGpuProbe
from stellars.domain.docker_access import DockerAccess, DockerAccessGroups
from stellars.domain.errors import InvalidValue
from stellars.domain.gpu import GpuMode, GpuProbeResult
from stellars.domain.gpu_allocation import GpuAssignment
from stellars.domain.services import GpuService
from stellars.domain.settings import SharedVolumeMode

GROUPS = DockerAccessGroups()
BASE = SpawnBase(
    volumes={"lab-{username}_home": "/home/jovyan"},
    extra_host_config={"mem_limit": "2g"},
    environment={"TZ": "UTC"},
)
OFF = GpuAssignment()
#: Mode 1: every GPU of the engine to every server.
ON = GpuAssignment(enabled=True, detected=True, every_gpu=True)


@dataclass
class Group:
    name: str


@dataclass
class User:
    """The part of JupyterHub's user the hook reads."""

    groups: list[Group] = field(default_factory=list)
    name: str = "ann"


def spawner_of(*groups: str) -> DockerSpawner:
    spawner = DockerSpawner()
    spawner.user = User([Group(name) for name in groups])
    return spawner


def test_nothing_granted_gives_exactly_the_base_settings_plus_the_gpu_environment():
    result = spawn_settings(BASE, access=DockerAccess(False, False), groups=GROUPS, gpu=OFF)
    assert result.volumes == {"lab-{username}_home": "/home/jovyan"}
    assert result.extra_host_config == {"mem_limit": "2g"}
    assert result.environment == {
        "TZ": "UTC",
        "ENABLE_GPU_SUPPORT": "0",
        "ENABLE_GPUSTAT": "0",
        "NVIDIA_DETECTED": "0",
    }


def test_grants_add_the_socket_mount_privileged_mode_and_all_gpus():
    result = spawn_settings(
        BASE,
        access=DockerAccess(True, True),
        groups=GROUPS,
        gpu=ON,
        lab_environment={"JUPYTERLAB_MAIN_ICON_URI": "http://hub/icon.svg"},
    )
    assert result.volumes["/var/run/docker.sock"] == {"bind": "/var/run/docker.sock", "mode": "rw"}
    assert result.extra_host_config == {
        "mem_limit": "2g",
        "privileged": True,
        "device_requests": [{"Driver": "nvidia", "Count": -1, "Capabilities": [["gpu"]]}],
    }
    assert result.environment["ENABLE_GPU_SUPPORT"] == "1"
    assert result.environment["JUPYTERLAB_MAIN_ICON_URI"] == "http://hub/icon.svg"
    assert dict(ALL_GPUS_REQUEST) == {"Driver": "nvidia", "Count": -1, "Capabilities": [["gpu"]]}


def test_grants_in_the_base_settings_are_removed_when_not_granted():
    base = SpawnBase(
        volumes={"/var/run/docker.sock": "/var/run/docker.sock"},
        extra_host_config={"privileged": True, "device_requests": [{"Count": 1}]},
    )
    result = spawn_settings(base, access=DockerAccess(False, False), groups=GROUPS, gpu=OFF)
    assert result.volumes == {}
    assert result.extra_host_config == {}


async def test_leaving_a_group_takes_the_grant_away_at_the_next_spawn_of_the_same_spawner():
    hook = PreSpawnHook(
        base=BASE,
        groups=GROUPS,
        gpu=GpuService(probe=StaticGpuProbe(GpuProbeResult()), mode=GpuMode.OFF),
    )
    spawner = spawner_of("docker-sock", "docker-privileged")
    await hook(spawner)
    assert "/var/run/docker.sock" in spawner.volumes
    assert spawner.extra_host_config["privileged"] is True
    spawner.user.groups = []  # an admin removed the user from both groups
    await hook(spawner)
    assert spawner.volumes == {"lab-{username}_home": "/home/jovyan"}
    assert spawner.extra_host_config == {"mem_limit": "2g"}


async def test_spawning_again_does_not_accumulate_anything():
    gpu = GpuService(probe=StaticGpuProbe(GpuProbeResult()), mode=GpuMode.FORCED)
    hook = PreSpawnHook(base=BASE, groups=GROUPS, gpu=gpu)
    spawner = spawner_of("docker-sock")
    for _ in range(3):
        await hook(spawner)
    assert spawner.extra_host_config["device_requests"] == [dict(ALL_GPUS_REQUEST)]
    assert list(spawner.volumes) == ["lab-{username}_home", "/var/run/docker.sock"]


async def test_a_spawner_without_docker_settings_only_gets_the_environment():
    class LocalSpawner:
        def __init__(self) -> None:
            self.user = User()
            self.name = ""
            self.environment: dict[str, str] = {}

    hook = PreSpawnHook(
        base=BASE,
        groups=GROUPS,
        gpu=GpuService(probe=StaticGpuProbe(GpuProbeResult()), mode=GpuMode.OFF),
    )
    spawner = LocalSpawner()
    await hook(spawner)
    assert spawner.environment["TZ"] == "UTC"
    assert not hasattr(spawner, "volumes")


SHARED_BASE = {
    "lab-{username}_home": "/home/jovyan",
    "team": "/mnt/shared",
    "lab-{username}_cache": "/home/jovyan/.cache",
}


class TestTheSharedVolume:
    """Security review L2: every lab runs as one uid, so a writable share lets any user change
    or delete what the others keep there; it is read-only unless set otherwise, or off."""

    def test_by_default_it_is_mounted_read_only_in_its_place(self):
        base = SpawnBase(volumes=SHARED_BASE, shared_volume="team")
        assert base.shared_mode is SharedVolumeMode.READ_ONLY
        result = spawn_settings(base, access=DockerAccess(False, False), groups=GROUPS, gpu=OFF)
        assert list(result.volumes.items()) == [
            ("lab-{username}_home", "/home/jovyan"),
            ("team", {"bind": "/mnt/shared", "mode": "ro"}),
            ("lab-{username}_cache", "/home/jovyan/.cache"),
        ]

    @pytest.mark.parametrize(
        ("mode", "mounted"),
        [
            (SharedVolumeMode.READ_ONLY, {"bind": "/mnt/shared", "mode": "ro"}),
            (SharedVolumeMode.READ_WRITE, {"bind": "/mnt/shared", "mode": "rw"}),
            (SharedVolumeMode.OFF, None),
        ],
    )
    def test_each_mode(self, mode, mounted):
        volumes = with_shared_mode(SHARED_BASE, "team", mode)
        assert volumes.get("team") == mounted
        assert [name for name in volumes if name != "team"] == [
            "lab-{username}_home",
            "lab-{username}_cache",
        ]

    def test_an_entry_given_as_a_bind_dict_keeps_its_mount_point_and_gets_the_mode(self):
        volumes = {"team": {"bind": "/data", "mode": "rw"}}
        assert with_shared_mode(volumes, "team", SharedVolumeMode.READ_ONLY) == {
            "team": {"bind": "/data", "mode": "ro"}
        }

    def test_without_a_shared_volume_every_entry_stays_as_configured(self):
        for mode in SharedVolumeMode:
            assert with_shared_mode(SHARED_BASE, None, mode) == SHARED_BASE
        base = SpawnBase(volumes=SHARED_BASE, shared_mode=SharedVolumeMode.OFF)
        result = spawn_settings(base, access=DockerAccess(False, False), groups=GROUPS, gpu=OFF)
        assert result.volumes == SHARED_BASE

    def test_a_shared_volume_that_is_not_configured_is_refused(self):
        with pytest.raises(InvalidValue) as refused:
            SpawnBase(volumes=SHARED_BASE, shared_volume="teams")
        assert (refused.value.field, refused.value.message) == (
            "shared_volume",
            "'teams' is not one of the configured volumes",
        )

    async def test_every_spawn_of_the_same_spawner_gets_the_mode_afresh(self):
        hook = PreSpawnHook(
            base=SpawnBase(volumes=SHARED_BASE, shared_volume="team"),
            groups=GROUPS,
            gpu=GpuService(probe=StaticGpuProbe(GpuProbeResult()), mode=GpuMode.OFF),
        )
        spawner = spawner_of("docker-sock")
        spawner.volumes = {"team": {"bind": "/mnt/shared", "mode": "rw"}}  # left from before
        for _ in range(2):
            await hook(spawner)
            assert spawner.volumes["team"] == {"bind": "/mnt/shared", "mode": "ro"}
            assert len(spawner.volumes) == 4  # the three configured and the socket
