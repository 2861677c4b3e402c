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
from stellars.domain.limits import LabLimits
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
NONE = LabLimits()  # no limit of any kind: the tests of grants and mounts alone


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
    result = spawn_settings(
        BASE, access=DockerAccess(False, False), groups=GROUPS, gpu=OFF, limits=NONE
    )
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
        limits=NONE,
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
    result = spawn_settings(
        base, access=DockerAccess(False, False), groups=GROUPS, gpu=OFF, limits=NONE
    )
    assert result.volumes == {}
    assert result.extra_host_config == {}


async def test_leaving_a_group_takes_the_grant_away_at_the_next_spawn_of_the_same_spawner():
    hook = PreSpawnHook(
        base=BASE,
        groups=GROUPS,
        gpu=GpuService(probe=StaticGpuProbe(GpuProbeResult()), mode=GpuMode.OFF),
        limits=NONE,
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
    hook = PreSpawnHook(base=BASE, groups=GROUPS, gpu=gpu, limits=NONE)
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
        limits=NONE,
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
        result = spawn_settings(
            base, access=DockerAccess(False, False), groups=GROUPS, gpu=OFF, limits=NONE
        )
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
        result = spawn_settings(
            base, access=DockerAccess(False, False), groups=GROUPS, gpu=OFF, limits=NONE
        )
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
            limits=NONE,
        )
        spawner = spawner_of("docker-sock")
        spawner.volumes = {"team": {"bind": "/mnt/shared", "mode": "rw"}}  # left from before
        for _ in range(2):
            await hook(spawner)
            assert spawner.volumes["team"] == {"bind": "/mnt/shared", "mode": "ro"}
            assert len(spawner.volumes) == 4  # the three configured and the socket


class TestLimits:
    """Every Docker spawn gets the lab limits whole: DockerSpawner's mem_limit and cpu_limit,
    swap off (memswap_limit equal to the memory limit) and the process limit, each removed
    again when a later spawn has none."""

    LIMITS = LabLimits(cpu_limit=1.5, memory_limit=512 * 2**20, pids_limit=256)

    def test_the_limits_go_to_dockerspawners_traits_and_the_host_config(self):
        result = spawn_settings(
            BASE, access=DockerAccess(False, False), groups=GROUPS, gpu=OFF, limits=self.LIMITS
        )
        assert (result.mem_limit, result.cpu_limit) == (512 * 2**20, 1.5)
        assert result.extra_host_config == {
            "mem_limit": "2g",  # the base's own value, left as configured
            "memswap_limit": 512 * 2**20,
            "pids_limit": 256,
        }

    def test_no_limit_sets_nothing_and_removes_what_the_base_had(self):
        base = SpawnBase(extra_host_config={"memswap_limit": 1, "pids_limit": 2, "shm_size": 3})
        result = spawn_settings(
            base, access=DockerAccess(False, False), groups=GROUPS, gpu=OFF, limits=NONE
        )
        assert (result.mem_limit, result.cpu_limit) == (None, None)
        assert result.extra_host_config == {"shm_size": 3}

    @pytest.mark.parametrize(
        ("limits", "host_config", "traits"),
        [
            (LabLimits(memory_limit=2**30), {"memswap_limit": 2**30}, (2**30, None)),
            (LabLimits(cpu_limit=0.5), {}, (None, 0.5)),
            (LabLimits(pids_limit=64), {"pids_limit": 64}, (None, None)),
        ],
    )
    def test_each_limit_alone(self, limits, host_config, traits):
        result = spawn_settings(
            SpawnBase(extra_host_config={}),
            access=DockerAccess(False, False),
            groups=GROUPS,
            gpu=OFF,
            limits=limits,
        )
        assert result.extra_host_config == host_config
        assert (result.mem_limit, result.cpu_limit) == traits

    async def test_the_hook_sets_the_spawners_limits_whole_at_every_spawn(self):
        class ChangingLimits(PreSpawnHook):
            """The limits of each spawn in turn, as a policy of the user's groups would."""

            def __init__(self, turns: list[LabLimits], **kwargs) -> None:
                super().__init__(**kwargs)
                self.turns = turns

            def limits_for(self, resources) -> LabLimits:
                return self.turns.pop(0)

        hook = ChangingLimits(
            [self.LIMITS, NONE, LabLimits(memory_limit=2**30)],
            base=SpawnBase(),
            groups=GROUPS,
            gpu=GpuService(probe=StaticGpuProbe(GpuProbeResult()), mode=GpuMode.OFF),
            limits=NONE,
        )
        spawner = spawner_of()
        await hook(spawner)
        assert (spawner.mem_limit, spawner.cpu_limit) == (512 * 2**20, 1.5)
        assert spawner.extra_host_config == {
            "auto_remove": False,
            "memswap_limit": 512 * 2**20,
            "pids_limit": 256,
        }
        await hook(spawner)  # no limit now: nothing of the last spawn's stays
        assert (spawner.mem_limit, spawner.cpu_limit) == (None, None)
        assert spawner.extra_host_config == {"auto_remove": False}
        await hook(spawner)
        assert (spawner.mem_limit, spawner.cpu_limit) == (2**30, None)
        assert spawner.extra_host_config == {"auto_remove": False, "memswap_limit": 2**30}

    async def test_by_default_every_user_gets_the_platforms_limits(self):
        hook = PreSpawnHook(
            base=SpawnBase(),
            groups=GROUPS,
            gpu=GpuService(probe=StaticGpuProbe(GpuProbeResult()), mode=GpuMode.OFF),
            limits=self.LIMITS,
        )
        for groups in ((), ("docker-sock",)):
            spawner = spawner_of(*groups)
            assert hook.limits_for(None) is self.LIMITS
            await hook(spawner)
            assert spawner.extra_host_config["pids_limit"] == 256

    async def test_a_local_process_gets_no_limit(self):
        class LocalSpawner:
            def __init__(self) -> None:
                self.user = User()
                self.name = ""
                self.environment: dict[str, str] = {}

        hook = PreSpawnHook(
            base=BASE,
            groups=GROUPS,
            gpu=GpuService(probe=StaticGpuProbe(GpuProbeResult()), mode=GpuMode.OFF),
            limits=self.LIMITS,
        )
        spawner = LocalSpawner()
        await hook(spawner)
        assert not hasattr(spawner, "mem_limit") and not hasattr(spawner, "extra_host_config")
