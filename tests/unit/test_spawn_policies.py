"""Group policies applied whole at each spawn (the pre-spawn hook with a PolicyResolver): the image
(the default, or a choice among the allowed ones, an image not allowed refused with a 400 that
names the allowed ones), the policies' environment under the platform's own, team volumes with
their mode, Docker access from the effective resources, and nothing kept from a spawn before."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from dockerspawner import DockerSpawner
from tornado import web

from stellars.adapters.jupyterhub import ImageOptions, PreSpawnHook, SpawnBase, spawn_settings
from stellars.adapters.memory import InMemoryHubDirectory, InMemoryPolicyStore, StaticGpuProbe
from stellars.domain.docker_access import DockerAccess, DockerAccessGroups
from stellars.domain.gpu import GpuMode, GpuProbeResult
from stellars.domain.gpu_allocation import GpuAssignment
from stellars.domain.limits import LabLimits
from stellars.domain.policies import GroupPolicy, Mount, PlatformDefaults, resolve
from stellars.domain.services import GpuService, PolicyResolver

ACCESS = DockerAccessGroups()
BASE = SpawnBase(
    volumes={"lab-{username}_home": "/home/jovyan", "shared": "/mnt/shared"},
    environment={"TZ": "UTC"},
    shared_volume="shared",
)
OFF = GpuAssignment()
GIB = 2**30
PLATFORM_LIMITS = LabLimits(cpu_limit=1.0, memory_limit=4 * GIB, pids_limit=2048)
IMAGES = ("lab:default", "lab:cuda", "lab:viz", 'lab:"odd"<x>')


@dataclass
class Group:
    name: str


@dataclass
class Db:
    commits: int = 0

    def commit(self) -> None:
        self.commits += 1


@dataclass
class User:
    """The part of JupyterHub's user the hook and DockerSpawner read."""

    groups: list[Group] = field(default_factory=list)
    db: Db = field(default_factory=Db)
    name: str = "ada"


def spawner_of(*groups: str, options: dict[str, Any] | None = None) -> DockerSpawner:
    spawner = DockerSpawner()
    spawner.user = User([Group(name) for name in groups])
    spawner.user_options = dict(options or {})
    spawner.orm_spawner = SimpleNamespace(user_options=dict(options or {}), server=None, name="")
    return spawner


class World:
    def __init__(self) -> None:
        self.store = InMemoryPolicyStore(["ml", "viz", "ops", "docker-sock"])
        self.policies = PolicyResolver(
            reader=self.store,
            directory=InMemoryHubDirectory(),
            defaults=lambda: PlatformDefaults(
                image="lab:default", cpu_limit=1.0, memory_limit=4 * GIB, pids_limit=2048
            ),
            allowed_images=IMAGES,
            volumes=BASE.volumes,
            access_groups=ACCESS,
        )
        self.hook = PreSpawnHook(
            base=BASE,
            groups=ACCESS,
            gpu=GpuService(probe=StaticGpuProbe(GpuProbeResult()), mode=GpuMode.OFF),
            limits=PLATFORM_LIMITS,
            lab_environment={"JUPYTERLAB_MAIN_ICON_URI": "http://hub/icon.svg"},
            policies=self.policies,
        )

    async def arrange(self) -> None:
        await self.store.put(
            GroupPolicy(
                group="ml",
                memory_limit=16 * GIB,
                cpu_limit=4.0,
                images=("lab:cuda", "lab:default"),
                environment={"DATA": "/mnt/ml", "TZ": "Europe/Paris"},
                mounts=(Mount("ml-data", "/mnt/ml", read_only=False),),
            )
        )
        await self.store.put(
            GroupPolicy(
                group="viz",
                images=("lab:viz",),
                environment={"DATA": "/mnt/viz"},
                mounts=(Mount("handbook", "/mnt/handbook"),),
            )
        )
        await self.store.put(GroupPolicy(group="ops", docker_socket=True))


@pytest.fixture
async def world() -> World:
    made = World()
    await made.arrange()
    return made


def test_spawn_settings_add_mounts_and_variables_under_the_platforms_own():
    got = resolve(
        [
            GroupPolicy(
                group="ml",
                environment={"DATA": "/mnt", "TZ": "Mars"},
                mounts=(Mount("ml", "/mnt/ml", read_only=False), Mount("shared", "/mnt/x")),
            )
        ],
        ["ml"],
        PlatformDefaults(image="lab"),
    )
    result = spawn_settings(
        BASE,
        access=DockerAccess(False, False),
        groups=ACCESS,
        gpu=OFF,
        limits=PLATFORM_LIMITS,
        resources=got,
    )
    assert result.volumes == {
        "lab-{username}_home": "/home/jovyan",
        "shared": {"bind": "/mnt/shared", "mode": "ro"},  # the platform's entry stays its own
        "ml": {"bind": "/mnt/ml", "mode": "rw"},
    }
    assert result.environment == {
        "DATA": "/mnt",
        "TZ": "UTC",  # the platform's value wins
        "ENABLE_GPU_SUPPORT": "0",
        "ENABLE_GPUSTAT": "0",
        "NVIDIA_DETECTED": "0",
    }
    assert (result.image, result.images, result.resources) == ("lab", ("lab",), got)


def test_without_policies_the_spawn_keeps_its_configured_image():
    result = spawn_settings(
        BASE, access=DockerAccess(False, False), groups=ACCESS, gpu=OFF, limits=PLATFORM_LIMITS
    )
    assert (result.image, result.images, result.resources) == (None, (), None)


async def test_a_policys_limits_replace_the_platforms_and_the_platforms_fill_the_rest(world):
    member = spawner_of("ml")
    await world.hook(member)
    assert (member.mem_limit, member.cpu_limit) == (16 * GIB, 4.0)
    assert member.extra_host_config["memswap_limit"] == 16 * GIB  # swap stays off
    assert member.extra_host_config["pids_limit"] == 2048  # no policy decides: the platform's
    outsider = spawner_of("viz")
    await world.hook(outsider)
    assert (outsider.mem_limit, outsider.cpu_limit) == (4 * GIB, 1.0)
    assert outsider.extra_host_config["memswap_limit"] == 4 * GIB
    # The same spawner object once its user left the group: the platform's limits again.
    member.user.groups = []
    await world.hook(member)
    assert (member.mem_limit, member.cpu_limit) == (4 * GIB, 1.0)
    assert member.extra_host_config["memswap_limit"] == 4 * GIB


async def test_a_spawn_gets_what_the_users_groups_give(world):
    spawner = spawner_of("ml", "viz")
    await world.hook(spawner)
    assert spawner.image == "lab:cuda"
    assert dict(spawner.allowed_images) == {i: i for i in ("lab:cuda", "lab:default", "lab:viz")}
    assert spawner.volumes["ml-data"] == {"bind": "/mnt/ml", "mode": "rw"}
    assert spawner.volumes["handbook"] == {"bind": "/mnt/handbook", "mode": "ro"}
    assert spawner.environment["DATA"] == "/mnt/ml"  # ml comes first in the admins' order
    assert spawner.environment["TZ"] == "UTC"
    assert spawner.environment["JUPYTERLAB_MAIN_ICON_URI"] == "http://hub/icon.svg"
    assert "privileged" not in spawner.extra_host_config


async def test_a_policy_granting_the_socket_mounts_it(world):
    spawner = spawner_of("ops")
    await world.hook(spawner)
    assert spawner.volumes["/var/run/docker.sock"] == {"bind": "/var/run/docker.sock", "mode": "rw"}


async def test_leaving_a_group_takes_everything_it_gave_away_at_the_next_spawn(world):
    spawner = spawner_of("ml", "ops")
    await world.hook(spawner)
    assert {"ml-data", "/var/run/docker.sock"} <= set(spawner.volumes)
    spawner.user.groups = [Group("viz")]
    await world.hook(spawner)
    assert spawner.image == "lab:viz"
    assert set(spawner.volumes) == {"lab-{username}_home", "shared", "handbook"}
    assert spawner.environment["DATA"] == "/mnt/viz"
    spawner.user.groups = []
    await world.hook(spawner)
    assert spawner.image == "lab:default"
    assert set(spawner.volumes) == {"lab-{username}_home", "shared"}
    assert "DATA" not in spawner.environment


async def test_a_policy_changed_between_spawns_applies_whole(world):
    spawner = spawner_of("viz")
    await world.hook(spawner)
    await world.store.put(GroupPolicy(group="viz", environment={"NEW": "1"}))
    await world.hook(spawner)
    assert "handbook" not in spawner.volumes
    assert spawner.environment["NEW"] == "1" and "DATA" not in spawner.environment
    assert spawner.image == "lab:default"


async def test_a_chosen_image_the_user_may_have_is_left_to_dockerspawner(world):
    spawner = spawner_of("ml", "viz", options={"image": "lab:viz"})
    await world.hook(spawner)
    assert spawner.image == "lab:cuda"  # the default; DockerSpawner starts the choice
    assert await spawner.check_allowed("lab:viz") == "lab:viz"
    assert spawner.orm_spawner.user_options == {"image": "lab:viz"}


async def test_an_image_the_user_may_not_have_is_refused_naming_the_allowed_ones(world):
    spawner = spawner_of("viz", options={"image": "lab:cuda", "other": 1})
    with pytest.raises(web.HTTPError) as error:
        await world.hook(spawner)
    assert error.value.status_code == 400
    message = (
        "The image 'lab:cuda' is not one your groups allow; choose one of: lab:viz (a start "
        "that names no image gets lab:viz)."
    )
    assert error.value.log_message == message
    assert error.value.jupyterhub_message == message
    # Forgotten, so that the next start from the home page gets the default.
    assert spawner.orm_spawner.user_options == {"other": 1}
    assert spawner.user.db.commits == 1


async def test_a_spawner_without_docker_settings_gets_the_environment_alone(world):
    class LocalSpawner:
        def __init__(self) -> None:
            self.user = User([Group("ml")])
            self.user_options = {"image": "evil"}
            self.name = ""
            self.environment: dict[str, str] = {}

    spawner = LocalSpawner()
    await world.hook(spawner)
    assert spawner.environment["DATA"] == "/mnt/ml"
    assert not hasattr(spawner, "image")


class TestTheSpawnForm:
    async def test_no_form_with_one_image(self, world):
        assert await ImageOptions(world.policies)(spawner_of("viz")) == ""
        assert await ImageOptions(world.policies)(spawner_of()) == ""

    async def test_a_choice_among_the_allowed_images_the_default_selected(self, world):
        form = await ImageOptions(world.policies)(spawner_of("ml", "viz"))
        assert '<select class="form-select" id="stellars-image" name="image">' in form
        assert (
            '<option value="lab:cuda" selected>lab:cuda</option>'
            '<option value="lab:default">lab:default</option>'
            '<option value="lab:viz">lab:viz</option>'
        ) in form

    async def test_the_last_choice_is_selected_while_the_user_may_have_it(self, world):
        form = await ImageOptions(world.policies)(
            spawner_of("ml", options={"image": "lab:default"})
        )
        assert '<option value="lab:default" selected>' in form
        assert '<option value="lab:cuda">' in form
        gone = await ImageOptions(world.policies)(spawner_of("ml", options={"image": "lab:viz"}))
        assert '<option value="lab:cuda" selected>' in gone

    async def test_image_names_are_escaped(self, world):
        await world.store.put(GroupPolicy(group="viz", images=("lab:viz", 'lab:"odd"<x>')))
        form = await ImageOptions(world.policies)(spawner_of("viz"))
        assert "lab:&quot;odd&quot;&lt;x&gt;" in form
        assert '"odd"<x>' not in form
