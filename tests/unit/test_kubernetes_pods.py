"""What KubeSpawner is given for a spawn, from the platform's resolved resources: limits and
guarantees, GPUs, claims and mounts, privileged mode, the environment."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.adapters.kubernetes import (
    GpuResources,
    Guarantees,
    SharedClaim,
    is_label,
    kube_spawn_settings,
    literal,
    pod_name_template,
)
from stellars.domain.errors import InvalidValue, Refused
from stellars.domain.limits import LabLimits
from stellars.domain.policies import (
    GIB,
    MIB,
    GpuSharing,
    GroupPolicy,
    Mount,
    PlatformDefaults,
    resolve,
)
from stellars.domain.settings import SharedVolumeMode
from stellars.domain.volumes import DockerNaming, user_volumes

NAMING = DockerNaming(prefix="jupyterlab")
VOLUMES = user_volumes(
    {
        "jupyterlab-{username}_home": "/home/jovyan",
        "jupyterlab-{username}_workspace": "/home/jovyan/work",
        "jupyterlab-{username}_cache": "/home/jovyan/.cache",
        "jupyterhub_shared": "/mnt/shared",
    }
)
SHARED = SharedClaim(volume="jupyterhub_shared", mount_point="/mnt/shared")
LIMITS = LabLimits(cpu_limit=2.0, memory_limit=4 * GIB, pids_limit=2048)
DEFAULTS = PlatformDefaults(image="stellars-hub-lab:latest")


def settings(**overrides):
    arguments = {
        "username": "alice",
        "naming": NAMING,
        "user_volumes": VOLUMES,
        "limits": LIMITS,
        "shared": SHARED,
    }
    arguments.update(overrides)
    return kube_spawn_settings(**arguments)


def resources_of(*policies, groups=None):
    names = [policy.group for policy in policies] if groups is None else groups
    return resolve(list(policies), names, DEFAULTS)


def test_a_plain_spawn_gets_its_claims_limits_and_guarantees():
    spawn = settings(environment={"JUPYTERHUB_SINGLEUSER_APP": "jupyter_server.serverapp"})
    assert spawn.pod_name_template == "jupyterlab-alice"
    assert spawn.claims == (
        "jupyterlab-alice.home",
        "jupyterlab-alice.workspace",
        "jupyterlab-alice.cache",
        "jupyterhub.shared",
    )
    assert spawn.user_claims == spawn.claims[:3]
    assert [dict(volume) for volume in spawn.volumes] == [
        {"name": "user-0-home", "persistentVolumeClaim": {"claimName": "jupyterlab-alice.home"}},
        {
            "name": "user-1-workspace",
            "persistentVolumeClaim": {"claimName": "jupyterlab-alice.workspace"},
        },
        {"name": "user-2-cache", "persistentVolumeClaim": {"claimName": "jupyterlab-alice.cache"}},
        {
            "name": "shared",
            "persistentVolumeClaim": {"claimName": "jupyterhub.shared", "readOnly": True},
        },
    ]
    assert [dict(mount) for mount in spawn.volume_mounts] == [
        {"name": "user-0-home", "mountPath": "/home/jovyan"},
        {"name": "user-1-workspace", "mountPath": "/home/jovyan/work"},
        {"name": "user-2-cache", "mountPath": "/home/jovyan/.cache"},
        {"name": "shared", "mountPath": "/mnt/shared", "readOnly": True},
    ]
    assert (spawn.mem_limit, spawn.cpu_limit) == (4 * GIB, 2.0)
    assert (spawn.mem_guarantee, spawn.cpu_guarantee) == (GIB, 0.2)
    assert dict(spawn.extra_resource_limits) == {}
    assert dict(spawn.environment) == {
        "JUPYTERHUB_SINGLEUSER_APP": "jupyter_server.serverapp",
        "ENABLE_GPU_SUPPORT": "0",
        "ENABLE_GPUSTAT": "0",
        "NVIDIA_VISIBLE_DEVICES": "void",
    }
    assert spawn.privileged is False
    assert spawn.image is None


def test_no_limit_is_no_guarantee_either():
    spawn = settings(limits=LabLimits())
    assert (spawn.mem_limit, spawn.mem_guarantee, spawn.cpu_limit, spawn.cpu_guarantee) == (
        None,
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("limit", "share", "guarantee"),
    [
        (4 * GIB, 0.25, GIB),
        (4 * GIB, 1.0, 4 * GIB),
        (256 * MIB, 0.001, MIB),  # at least 1 MiB
        (MIB // 2, 0.5, MIB // 2),  # never above the limit
        (1000 * MIB + 1, 0.5, 500 * MIB + 1),  # rounded up to a whole byte
    ],
)
def test_memory_guarantees_are_a_share_of_the_limit(limit, share, guarantee):
    assert Guarantees(memory_share=share).memory(limit) == guarantee


@pytest.mark.parametrize(
    ("limit", "share", "guarantee"),
    [
        (2.0, 0.1, 0.2),
        (1.0, 1.0, 1.0),
        (0.5, 0.001, 0.001),  # at least one millicore
        (0.0005, 0.5, 0.0005),  # never above the limit
        (1.5, 0.3333, 0.5),  # rounded up to a whole millicore
        (3.0, 0.1, 0.3),  # 0.30000000000000004 is still 300 millicores
    ],
)
def test_cpu_guarantees_are_a_share_of_the_limit(limit, share, guarantee):
    assert Guarantees(cpu_share=share).cpu(limit) == guarantee


@given(st.integers(min_value=1, max_value=2**50), st.floats(min_value=0.0001, max_value=1))
def test_a_memory_guarantee_is_never_above_its_limit(limit, share):
    guarantee = Guarantees(memory_share=share).memory(limit)
    assert guarantee is not None
    assert guarantee <= limit
    assert guarantee >= min(limit, MIB)


@pytest.mark.parametrize("share", [0, -0.1, 1.01, True, "0.5", None])
def test_guarantee_shares_are_refused_outside_0_to_1(share):
    with pytest.raises(InvalidValue) as refused:
        Guarantees(memory_share=share)
    assert refused.value.field == "memory_share"
    with pytest.raises(InvalidValue):
        Guarantees(cpu_share=share)


def test_exclusive_gpus_are_a_count_of_the_device_plugins_resource():
    spawn = settings(gpus=2, gpu_sharing=GpuSharing.EXCLUSIVE)
    assert dict(spawn.extra_resource_limits) == {"nvidia.com/gpu": "2"}
    environment = dict(spawn.environment)
    assert environment["ENABLE_GPU_SUPPORT"] == environment["ENABLE_GPUSTAT"] == "1"
    assert environment["STELLARS_GPU_SHARING"] == "exclusive"
    assert "NVIDIA_VISIBLE_DEVICES" not in environment  # the device plugin sets it


def test_shared_gpus_ask_for_the_time_sliced_resource():
    spawn = settings(gpus=1, gpu_sharing=GpuSharing.SHARED)
    assert dict(spawn.extra_resource_limits) == {"nvidia.com/gpu.shared": "1"}
    assert spawn.environment["STELLARS_GPU_SHARING"] == "shared"
    renamed = settings(
        gpus=1,
        gpu_sharing=GpuSharing.SHARED,
        gpu_resources=GpuResources(shared="nvidia.com/gpu"),
    )
    assert dict(renamed.extra_resource_limits) == {"nvidia.com/gpu": "1"}


@pytest.mark.parametrize("gpus", [-1, 1.5, True, "1"])
def test_a_gpu_count_must_be_a_whole_number(gpus):
    with pytest.raises(InvalidValue) as refused:
        settings(gpus=gpus)
    assert refused.value.field == "gpus"


@pytest.mark.parametrize(
    ("mode", "mounted", "read_only"),
    [
        (SharedVolumeMode.READ_ONLY, True, True),
        (SharedVolumeMode.READ_WRITE, True, False),
        (SharedVolumeMode.OFF, False, None),
    ],
)
def test_the_shared_volume_is_mounted_as_the_settings_say(mode, mounted, read_only):
    spawn = settings(
        shared=SharedClaim(volume="jupyterhub_shared", mount_point="/mnt/shared", mode=mode)
    )
    shared = [dict(m) for m in spawn.volume_mounts if m["name"] == "shared"]
    if not mounted:
        assert shared == []
        assert "jupyterhub.shared" not in spawn.claims
        return
    assert shared == [
        {"name": "shared", "mountPath": "/mnt/shared", **({"readOnly": True} if read_only else {})}
    ]
    assert "jupyterhub.shared" in spawn.claims


def test_team_volumes_are_claims_mounted_as_the_policy_says_never_over_the_platforms():
    resources = resources_of(
        GroupPolicy(
            group="physics",
            mounts=(
                Mount("team-physics", "/home/jovyan/team"),
                Mount("scratch", "/scratch", read_only=False),
                Mount("sneaky", "/mnt/shared"),
            ),
        )
    )
    spawn = settings(resources=resources)
    team = [dict(m) for m in spawn.volume_mounts if m["name"].startswith("team-")]
    assert team == [
        {"name": "team-0", "mountPath": "/home/jovyan/team", "readOnly": True},
        {"name": "team-2", "mountPath": "/scratch"},  # team-1 would have gone over /mnt/shared
    ]
    volumes = {v["name"]: dict(v["persistentVolumeClaim"]) for v in spawn.volumes}
    assert volumes["team-0"] == {"claimName": "team-physics", "readOnly": True}
    assert volumes["team-2"] == {"claimName": "scratch"}
    assert spawn.claims[-2:] == ("team-physics", "scratch")
    assert "sneaky" not in spawn.claims


def test_policies_give_the_image_and_their_environment_under_the_platforms():
    resources = resources_of(
        GroupPolicy(
            group="ml",
            images=("lab-ml:1", "lab-ml:2"),
            environment={"DATASET": "/data", "PIP_INDEX_URL": "https://mirror"},
        )
    )
    spawn = settings(resources=resources, environment={"PIP_INDEX_URL": "https://platform"})
    assert spawn.image == "lab-ml:1"
    assert spawn.environment["DATASET"] == "/data"
    assert spawn.environment["PIP_INDEX_URL"] == "https://platform"


def test_the_gpu_environment_wins_over_everything():
    spawn = settings(gpus=1, environment={"ENABLE_GPU_SUPPORT": "0"})
    assert spawn.environment["ENABLE_GPU_SUPPORT"] == "1"


def test_braces_reach_the_pod_as_written():
    resources = resources_of(GroupPolicy(group="g", environment={"PROMPT": "{user}@{host}"}))
    spawn = settings(resources=resources)
    assert spawn.environment["PROMPT"] == "{{user}}@{{host}}"
    assert spawn.environment["PROMPT"].format() == "{user}@{host}"
    assert literal("a{b}c") == "a{{b}}c"
    assert literal("plain") == "plain"


def test_privileged_mode_is_passed_on():
    assert settings(privileged=True).privileged is True


def test_the_docker_socket_is_refused_naming_the_group_that_grants_it():
    resources = resources_of(GroupPolicy(group="docker-sock", docker_socket=True))
    with pytest.raises(Refused, match="'docker-sock' grants the Docker socket"):
        settings(resources=resources)


def test_a_volume_name_without_a_claim_name_is_refused_naming_the_volumes():
    resources = resources_of(GroupPolicy(group="g", mounts=(Mount("team.data", "/data"),)))
    with pytest.raises(InvalidValue) as refused:
        settings(resources=resources)
    assert refused.value.field == "volumes"


def test_named_servers_get_their_own_pod_and_claims():
    spawn = settings(
        user_volumes=user_volumes({"jupyterlab-{username}--{servername}_home": "/home/jovyan"}),
        server_name="gpu",
    )
    assert spawn.pod_name_template == "jupyterlab-alice--gpu"
    assert spawn.user_claims == ("jupyterlab-alice--gpu.home",)


@given(st.text(min_size=1, max_size=80))
def test_every_pod_name_template_is_a_label_without_fields(username):
    template = pod_name_template(username, NAMING)
    assert is_label(template)
    assert template.format() == template
