"""GPUs at spawn and stop: the Docker wire format of a server's GPUs (a device request naming
them by UUID), the pre-spawn hook giving them out (a 409 naming the holders when none is free),
and the post-stop hook freeing them."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import docker.types
import pytest
from dockerspawner import DockerSpawner
from tornado import web

from stellars.adapters.jupyterhub import PostStopHook, PreSpawnHook, SpawnBase, spawn_settings
from stellars.adapters.jupyterhub.plugin import gpus_request
from stellars.adapters.jupyterhub.plugin.spawn_hook import ALL_GPUS_REQUEST, NO_GPUS
from stellars.adapters.memory import (
    InMemoryContainers,
    InMemoryHubDirectory,
    InMemoryPolicyStore,
    StaticGpuProbe,
)
from stellars.domain.docker_access import DockerAccess, DockerAccessGroups
from stellars.domain.errors import BackendUnavailable
from stellars.domain.gpu import Gpu, GpuMode, GpuProbeResult
from stellars.domain.gpu_allocation import GpuAssignment
from stellars.domain.limits import LabLimits
from stellars.domain.policies import GpuSharing, GroupPolicy, PlatformDefaults
from stellars.domain.services import GpuService, PolicyResolver

GROUPS = DockerAccessGroups()
NO_LIMITS = LabLimits()


def hook_on(gpus: GpuService, **kwargs: object) -> PreSpawnHook:
    return PreSpawnHook(base=BASE, groups=GROUPS, gpu=gpus, limits=NO_LIMITS, **kwargs)


NONE = DockerAccess(False, False)
BASE = SpawnBase(volumes={"lab-{username}_home": "/home/jovyan"}, environment={"TZ": "UTC"})
FOUR = tuple(
    Gpu(index=i, name="A100", memory_mib=40_960, uuid=f"GPU-{i}aaaa-bbbb") for i in range(4)
)


@dataclass
class User:
    name: str
    groups: list[object] = field(default_factory=list)


def spawner_for(name: str, server: str = "") -> DockerSpawner:
    spawner = DockerSpawner()
    spawner.user = User(name)
    # Where a spawner's `name` comes from (no server record: not running yet).
    spawner.orm_spawner = SimpleNamespace(name=server, server=None)
    return spawner


def exclusive_gpus() -> GpuService:
    return GpuService(
        probe=StaticGpuProbe(GpuProbeResult(FOUR)),
        mode=GpuMode.AUTO,
        sharing=GpuSharing.EXCLUSIVE,
    )


class TestTheWireFormat:
    def test_the_gpus_of_a_server_are_one_device_request_naming_them_by_uuid(self):
        given = GpuAssignment(enabled=True, detected=True, devices=("GPU-2x", "GPU-0x"))
        result = spawn_settings(BASE, access=NONE, groups=GROUPS, gpu=given, limits=NO_LIMITS)
        assert result.extra_host_config["device_requests"] == [
            {"Driver": "nvidia", "DeviceIDs": ["GPU-2x", "GPU-0x"], "Capabilities": [["gpu"]]}
        ]
        assert result.environment["NVIDIA_VISIBLE_DEVICES"] == "GPU-2x,GPU-0x"
        assert result.environment["TZ"] == "UTC"

    def test_the_engine_api_gets_the_device_ids(self):
        # As DockerSpawner hands extra_host_config to docker-py's create_host_config.
        config = docker.types.HostConfig(
            version="1.41", device_requests=[gpus_request(["GPU-1", "GPU-3"])]
        )
        assert config["DeviceRequests"] == [
            {
                "Driver": "nvidia",
                "Count": 0,
                "DeviceIDs": ["GPU-1", "GPU-3"],
                "Capabilities": [["gpu"]],
                "Options": {},
            }
        ]

    def test_every_gpu_in_mode_1_and_none_otherwise(self):
        every = GpuAssignment(enabled=True, every_gpu=True)
        result = spawn_settings(BASE, access=NONE, groups=GROUPS, gpu=every, limits=NO_LIMITS)
        assert result.extra_host_config["device_requests"] == [dict(ALL_GPUS_REQUEST)]
        base = SpawnBase(extra_host_config={"device_requests": [{"Count": 1}]})
        for none in (NO_GPUS, GpuAssignment(enabled=True, detected=True)):
            result = spawn_settings(base, access=NONE, groups=GROUPS, gpu=none, limits=NO_LIMITS)
            assert "device_requests" not in result.extra_host_config
        assert GpuAssignment() == NO_GPUS


class TestThePreSpawnHook:
    async def test_four_exclusive_servers_get_different_gpus_and_the_fifth_a_409(self):
        gpus = exclusive_gpus()
        hook = hook_on(gpus)
        spawners = [spawner_for(name) for name in ("ann", "bob", "cy", "dee", "eve")]
        for spawner in spawners[:4]:
            await hook(spawner)
        named = [s.extra_host_config["device_requests"][0]["DeviceIDs"] for s in spawners[:4]]
        assert named == [[gpu.uuid] for gpu in FOUR]
        assert [s.environment["STELLARS_GPU_SHARING"] for s in spawners[:4]] == ["exclusive"] * 4
        with pytest.raises(web.HTTPError) as refused:
            await hook(spawners[4])
        assert refused.value.status_code == 409
        message = refused.value.jupyterhub_message  # type: ignore[attr-defined]
        assert message.startswith("No 1 GPU(s) free for eve (exclusive): GPU 0 (A100): held ")
        for name in ("ann", "bob", "cy", "dee"):
            assert f"held exclusively by {name}" in message

    async def test_a_stop_frees_the_gpus_for_the_next_start(self):
        gpus = exclusive_gpus()
        hook, stop = (
            hook_on(gpus),
            PostStopHook(gpu=gpus),
        )
        spawners = [spawner_for(name) for name in ("ann", "bob", "cy", "dee", "eve")]
        for spawner in spawners[:4]:
            await hook(spawner)
        stop(spawners[1])
        stop(spawners[1])  # a second stop (a failed start's clean-up) frees nothing more
        await hook(spawners[4])
        assert spawners[4].extra_host_config["device_requests"][0]["DeviceIDs"] == [FOUR[1].uuid]
        assert gpus.holdings.keys() == {("ann", ""), ("cy", ""), ("dee", ""), ("eve", "")}

    async def test_named_servers_hold_their_own_gpus(self):
        gpus = exclusive_gpus()
        hook, stop = (
            hook_on(gpus),
            PostStopHook(gpu=gpus),
        )
        default, named = spawner_for("ann"), spawner_for("ann", "big")
        await hook(default)
        await hook(named)
        assert set(gpus.holdings) == {("ann", ""), ("ann", "big")}
        stop(named)
        assert set(gpus.holdings) == {("ann", "")}

    async def test_spawning_the_same_server_again_sets_its_gpus_afresh(self):
        gpus = exclusive_gpus()
        hook, stop = (
            hook_on(gpus),
            PostStopHook(gpu=gpus),
        )
        spawner = spawner_for("ann")
        await hook(spawner)
        await hook(spawner)  # a retried spawn keeps its GPU
        assert spawner.extra_host_config["device_requests"] == [gpus_request([FOUR[0].uuid])]
        stop(spawner)
        await hook(spawner_for("bob"))  # bob takes GPU 0 meanwhile
        await hook(spawner)
        assert spawner.extra_host_config["device_requests"] == [gpus_request([FOUR[1].uuid])]
        assert spawner.environment["CUDA_VISIBLE_DEVICES"] == FOUR[1].uuid

    async def test_a_read_back_that_fails_refuses_the_start_with_503(self):
        class Away(InMemoryContainers):
            async def gpu_devices(self, names):
                raise BackendUnavailable("Docker engine unreachable")

        gpus = GpuService(
            probe=StaticGpuProbe(GpuProbeResult(FOUR)),
            mode=GpuMode.AUTO,
            read_back=Away(),
            directory=InMemoryHubDirectory(),
        )
        with pytest.raises(web.HTTPError) as refused:
            await hook_on(gpus)(spawner_for("ann"))
        assert refused.value.status_code == 503
        assert refused.value.jupyterhub_message == (  # type: ignore[attr-defined]
            "GPUs cannot be given out right now: Docker engine unreachable"
        )

    async def test_a_local_server_learns_its_gpus_from_its_environment(self):
        class LocalSpawner:
            def __init__(self) -> None:
                self.user = User("ann")
                self.name = ""
                self.environment: dict[str, str] = {}

        spawner = LocalSpawner()
        await hook_on(exclusive_gpus())(spawner)
        assert spawner.environment["CUDA_VISIBLE_DEVICES"] == FOUR[0].uuid
        assert spawner.environment["ENABLE_GPU_SUPPORT"] == "1"
        assert not hasattr(spawner, "extra_host_config")


class TestGpusFromGroupPolicies:
    """How many GPUs a start gets, and how shared, is what the user's group policies resolve to;
    a user whom no policy decides for gets the platform's default."""

    @staticmethod
    async def hook_with_policies(gpus: GpuService) -> PreSpawnHook:
        store = InMemoryPolicyStore(["ml", "viz"])
        await store.put(GroupPolicy(group="ml", gpus=2, gpu_sharing=GpuSharing.EXCLUSIVE))
        await store.put(GroupPolicy(group="viz", gpus=0))
        resolver = PolicyResolver(
            reader=store,
            directory=InMemoryHubDirectory(),
            defaults=lambda: PlatformDefaults(image="lab", gpus=1, gpu_sharing=GpuSharing.SHARED),
            allowed_images=None,
            volumes=BASE.volumes,
            access_groups=GROUPS,
        )
        return hook_on(gpus, policies=resolver)

    @staticmethod
    def member(name: str, *groups: str) -> DockerSpawner:
        spawner = spawner_for(name)
        spawner.user.groups = [SimpleNamespace(name=group) for group in groups]
        return spawner

    async def test_a_policys_count_and_sharing_decide(self):
        gpus = exclusive_gpus()
        hook = await self.hook_with_policies(gpus)
        ml, plain, viz = self.member("ann", "ml"), self.member("bob"), self.member("cy", "viz")
        for spawner in (ml, plain, viz):
            await hook(spawner)
        assert ml.extra_host_config["device_requests"][0]["DeviceIDs"] == [
            FOUR[0].uuid,
            FOUR[1].uuid,
        ]
        assert ml.environment["STELLARS_GPU_SHARING"] == "exclusive"
        assert plain.extra_host_config["device_requests"][0]["DeviceIDs"] == [FOUR[2].uuid]
        assert plain.environment["STELLARS_GPU_SHARING"] == "shared"
        assert "device_requests" not in viz.extra_host_config
        assert viz.environment["NVIDIA_VISIBLE_DEVICES"] == "void"  # no GPU, not "every GPU"
        assert set(gpus.holdings) == {("ann", ""), ("bob", "")}

    async def test_a_refused_image_takes_no_gpu(self):
        gpus = exclusive_gpus()
        hook = await self.hook_with_policies(gpus)
        spawner = self.member("ann", "ml")
        spawner.user_options = {"image": "not-allowed"}
        spawner.orm_spawner.user_options = {"image": "not-allowed"}
        spawner.user.db = SimpleNamespace(commit=lambda: None)
        with pytest.raises(web.HTTPError) as refused:
            await hook(spawner)
        assert refused.value.status_code == 400
        assert gpus.holdings == {}

    async def test_mode_1_without_a_list_gives_every_gpu_unless_a_policy_grants_none(self):
        every = GpuService(probe=StaticGpuProbe(GpuProbeResult()), mode=GpuMode.FORCED)
        hook = await self.hook_with_policies(every)
        plain, viz = self.member("bob"), self.member("cy", "viz")
        await hook(plain)
        await hook(viz)
        assert plain.extra_host_config["device_requests"] == [dict(ALL_GPUS_REQUEST)]
        assert "device_requests" not in viz.extra_host_config
        assert viz.environment["ENABLE_GPU_SUPPORT"] == "0"
