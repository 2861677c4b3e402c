"""The platform's group policies (`stellars.domain.services.policies`): Docker access as a policy
type, the images and mounts a policy may hold, one mount per volume, what a user gets and
from which group, per-user session policies, and the admins' changes."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from stellars.adapters.memory import InMemoryHubDirectory, InMemoryPolicyStore
from stellars.domain.docker_access import DockerAccess, DockerAccessGroups
from stellars.domain.errors import InvalidValue, NotFound
from stellars.domain.gpu import Gpu, GpuDecision
from stellars.domain.hub import HubUser
from stellars.domain.limits import LabLimits
from stellars.domain.policies import GIB, GpuSharing, GroupPolicy, Mount, PlatformDefaults
from stellars.domain.policy_documents import PROPERTY_KEY, policy_entry
from stellars.domain.quotas import QuotaSettings
from stellars.domain.services import PolicyService, UserResources, platform_defaults
from stellars.domain.services.policies import (
    docker_access_of,
    mount_problem,
    platform_mount_points,
    platform_volume,
    session_policy,
    with_docker_access,
)
from stellars.domain.sessions import SessionPolicy
from stellars.domain.settings import GpuSettings, PlatformSettings, SpawnerSettings

VOLUMES = {
    "jupyterlab-{username}_home": "/home/jovyan",
    "jupyterlab-{username}_workspace": {"bind": "/home/jovyan/work/", "mode": "rw"},
    "{prefix}-{username}.cache": "/home/jovyan/.cache",
    "jupyterhub_shared": "/mnt/shared",
}
ACCESS = DockerAccessGroups()
DEFAULTS = PlatformDefaults(image="lab:default", idle_timeout_seconds=3600, max_extension_hours=4)
ALLOWED = ("lab:default", "lab:cuda", "lab:viz")
BASE = SessionPolicy(enabled=True, idle_timeout_seconds=3600, max_extension_hours=4)


def policy(group: str, **fields: object) -> GroupPolicy:
    return GroupPolicy(group=group, **fields)  # type: ignore[arg-type]


class World:
    def __init__(self) -> None:
        self.store = InMemoryPolicyStore(["ml", "viz", "students", "docker-sock", "empty"])
        self.directory = InMemoryHubDirectory(
            [
                HubUser(name="ada", groups=frozenset({"ml", "viz"})),
                HubUser(name="bob", groups=frozenset({"students"})),
                HubUser(name="cyd"),
            ]
        )
        self.defaults_asked = 0
        self.defaults = DEFAULTS
        self.service = PolicyService(
            store=self.store,
            directory=self.directory,
            defaults=self.current_defaults,
            allowed_images=ALLOWED,
            volumes=VOLUMES,
            access_groups=ACCESS,
        )

    def current_defaults(self) -> PlatformDefaults:
        self.defaults_asked += 1
        return self.defaults


@pytest.fixture
def world() -> World:
    return World()


class TestPlatformDefaultsAndSessions:
    def test_the_defaults_come_from_the_settings_and_the_gpu_decision(self):
        settings = PlatformSettings(
            spawner=SpawnerSettings(image="lab:x"),
            sessions=SessionPolicy(idle_timeout_seconds=600, max_extension_hours=3),
            gpu=GpuSettings(per_server=2, sharing=GpuSharing.EXCLUSIVE),
        )
        gpus = (Gpu(0, "A", 1, "u0"), Gpu(1, "B", 1, "u1"), Gpu(2, "C", 1, "u2"))
        limits = LabLimits(cpu_limit=1.5, memory_limit=2**30, pids_limit=512)
        on = platform_defaults(settings, GpuDecision(True, True, "found", gpus), limits)
        assert on == PlatformDefaults(
            cpu_limit=1.5,
            memory_limit=2**30,
            pids_limit=512,
            image="lab:x",
            gpus=2,  # the settings' count per server, not every GPU found
            gpu_sharing=GpuSharing.EXCLUSIVE,
            idle_timeout_seconds=600,
            max_extension_hours=3,
        )
        plain = platform_defaults(PlatformSettings(), GpuDecision(True, True, "found", gpus))
        assert (plain.gpus, plain.gpu_sharing) == (1, GpuSharing.SHARED)  # the settings' default
        off = platform_defaults(settings, GpuDecision(False, True, "off", gpus))
        assert (off.gpus, off.cpu_limit, off.memory_limit, off.pids_limit) == (0, None, None, None)
        assert (off.cpu_limit, off.memory_limit, off.pids_limit, off.storage_quota) == (
            None,
            None,
            None,
            None,
        )

    def test_the_storage_quota_comes_from_the_settings_0_none(self):
        none = GpuDecision(False, False, "off", ())
        quota = PlatformSettings(quotas=QuotaSettings(storage_quota=5 * GIB))
        assert platform_defaults(quota, none).storage_quota == 5 * GIB
        assert platform_defaults(PlatformSettings(), none).storage_quota is None

    def test_a_users_session_policy_is_the_platforms_with_their_timeout_and_extension(self):
        base = SessionPolicy(
            enabled=True, cull_every_seconds=30, max_age_seconds=99, warning_minutes=5
        )
        resources = _resolved(policy("ml", idle_timeout_seconds=120, max_extension_hours=9))
        got = session_policy(base, resources)
        assert got == SessionPolicy(
            enabled=True,
            idle_timeout_seconds=120,
            cull_every_seconds=30,
            max_extension_hours=9,
            max_age_seconds=99,
            warning_minutes=5,
        )

    def test_docker_access_from_the_effective_resources(self):
        resources = _resolved(policy("ops", docker_socket=True))
        assert docker_access_of(resources) == DockerAccess(mount_socket=True, privileged=False)
        both = _resolved(policy("ops", docker_socket=True, docker_privileged=True))
        assert docker_access_of(both) == DockerAccess(mount_socket=True, privileged=True)


def _resolved(*policies: GroupPolicy):
    from stellars.domain.policies import resolve

    return resolve(list(policies), [p.group for p in policies], DEFAULTS)


class TestDockerAccessIsAPolicyType:
    def test_the_built_in_groups_are_implicit_policies_after_the_stored_ones(self):
        stored = [policy("ml", cpu_limit=2)]
        got = with_docker_access(stored, ACCESS)
        assert got == [
            stored[0],
            policy("docker-sock", docker_socket=True),
            policy("docker-privileged", docker_privileged=True),
        ]
        assert got[0] is stored[0]

    def test_a_stored_policy_of_a_built_in_group_keeps_its_place_and_gets_the_grant(self):
        stored = [policy("docker-privileged", cpu_limit=8), policy("ml")]
        got = with_docker_access(stored, ACCESS)
        assert got == [
            policy("docker-privileged", cpu_limit=8, docker_privileged=True),
            stored[1],
            policy("docker-sock", docker_socket=True),
        ]
        already = [policy("docker-sock", docker_socket=True)]
        assert with_docker_access(already, ACCESS)[0] is already[0]

    def test_one_group_may_grant_both(self):
        same = DockerAccessGroups(socket_group="root", privileged_group="root")
        assert with_docker_access([], same) == [
            policy("root", docker_socket=True, docker_privileged=True)
        ]

    async def test_members_of_the_built_in_groups_get_the_access(self, world):
        got = await world.service.effective_for_groups({"docker-sock", "students"})
        assert (got.docker_socket, got.docker_privileged) == (True, False)
        assert got.sources["docker_socket"] == "docker-sock"
        none = await world.service.effective_for_groups({"students"})
        assert (none.docker_socket, none.docker_privileged) == (False, False)


class TestWhatIsThePlatformsOwn:
    def test_the_platforms_mount_points_normalised_and_sorted(self):
        assert platform_mount_points(VOLUMES) == (
            "/home/jovyan",
            "/home/jovyan/.cache",
            "/home/jovyan/work",
            "/mnt/shared",
        )
        assert platform_mount_points({"a": {"mode": "ro"}, "b": 3, "c": "/x/./y//"}) == ("/x/y",)
        assert platform_mount_points({"a": "/x", "b": {"bind": "/x"}}) == ("/x",)

    @pytest.mark.parametrize(
        ("name", "own"),
        [
            ("jupyterhub_shared", True),
            ("jupyterlab-alice_home", True),
            ("jupyterlab-2d-bob_workspace", True),
            ("lab-ann.cache", True),
            ("jupyterlab-_home", False),  # a template field stands for some text
            ("jupyterhub_shared2", False),
            ("xjupyterhub_shared", False),
            ("jupyterlab-alice_homes", False),
            ("lab-annXcache", False),  # the template's dot is a dot
            ("team-data", False),
        ],
    )
    def test_the_platforms_volumes_are_its_templates_names(self, name, own):
        assert platform_volume(name, VOLUMES) is own

    @pytest.mark.parametrize(
        ("mount", "problem"),
        [
            (Mount("team", "/mnt/team"), None),
            (Mount("team", "/home/jovyan/team"), None),  # inside a user's home is fine
            (Mount("team", "/mnt/shared2"), None),
            (Mount("team", "/mnt/shared"), "over the platform's own mount point '/mnt/shared'"),
            (Mount("team", "/home/jovyan"), "over the platform's own mount point '/home/jovyan'"),
            (Mount("team", "/home"), "mount point '/home/jovyan'"),  # it would cover it
            (Mount("team", "/mnt"), "mount point '/mnt/shared'"),
            (Mount("jupyterhub_shared", "/data"), "the volume 'jupyterhub_shared' is one of"),
            (Mount("jupyterlab-eve_home", "/data"), "the platform's own (a user's volume or"),
        ],
    )
    def test_a_mount_over_the_platforms_mounts_or_of_its_volumes(self, mount, problem):
        got = mount_problem(mount, VOLUMES)
        assert (got is None) if problem is None else (problem in got)


class TestWhatAUserGets:
    async def test_from_the_policies_of_their_groups_with_the_sources(self, world):
        await world.store.put(policy("students", memory_limit=2 * GIB))
        await world.store.put(policy("ml", memory_limit=16 * GIB, images=("lab:cuda",)))
        await world.store.put(policy("viz", images=("lab:viz", "lab:cuda")))
        got = await world.service.effective_for("ada")
        assert got == UserResources("ada", ("ml", "viz"), got.resources)
        assert got.resources.memory_limit == 16 * GIB
        assert got.resources.images == ("lab:cuda", "lab:viz")
        assert got.resources.sources["memory_limit"] == "ml"
        bob = await world.service.effective_for("bob")
        assert bob.resources.memory_limit == 2 * GIB
        assert bob.resources.image == "lab:default"

    async def test_a_user_in_no_group_gets_the_defaults_asked_at_that_time(self, world):
        got = await world.service.effective_for("cyd")
        assert got.groups == ()
        assert got.resources.image == "lab:default"
        assert got.resources.sources == {}
        world.defaults = PlatformDefaults(image="lab:new", gpus=2)
        again = await world.service.effective_for("cyd")
        assert (again.resources.image, again.resources.gpus) == ("lab:new", 2)
        assert world.defaults_asked == 2
        assert world.service.defaults.image == "lab:new"

    async def test_an_unknown_user_is_not_found(self, world):
        with pytest.raises(NotFound, match="nobody"):
            await world.service.effective_for("nobody")

    async def test_a_stored_policy_loses_images_and_mounts_the_platform_does_not_allow(
        self, world, caplog
    ):
        # Stored behind the service's back (the group's properties edited by hand).
        world.store.properties["ml"][PROPERTY_KEY] = policy_entry(
            policy(
                "ml",
                cpu_limit=4,
                images=("lab:gone", "lab:cuda"),
                mounts=(Mount("jupyterhub_shared", "/data", read_only=False), Mount("t", "/mnt/t")),
            ),
            0,
        )
        with caplog.at_level(logging.WARNING):
            got = await world.service.effective_for_groups({"ml"})
        assert got.images == ("lab:cuda",)
        assert got.mounts == (Mount("t", "/mnt/t"),)
        assert got.cpu_limit == 4.0
        assert "'lab:gone', 'jupyterhub_shared:/data'" in caplog.text
        assert "group 'ml'" in caplog.text

    def test_a_usable_policy_is_kept_as_it_is(self, world):
        fine = policy("ml", images=("lab:cuda",), mounts=(Mount("t", "/mnt/t"),))
        assert world.service.usable(fine) is fine

    async def test_a_volume_mounted_at_two_paths_is_mounted_at_the_first(self, world):
        await world.store.put(policy("ml", mounts=(Mount("team", "/mnt/b"), Mount("x", "/mnt/x"))))
        await world.store.put(policy("viz", mounts=(Mount("team", "/mnt/a", read_only=False),)))
        got = await world.service.effective_for_groups({"ml", "viz"})
        assert got.mounts == (Mount("team", "/mnt/a", read_only=False), Mount("x", "/mnt/x"))
        assert got.sources["mounts:/mnt/a"] == "viz"
        assert "mounts:/mnt/b" not in got.sources
        assert got.sources["mounts:/mnt/x"] == "ml"


class TestSessionPolicies:
    async def test_a_users_session_policy_takes_their_groups_timeout(self, world):
        await world.store.put(policy("ml", idle_timeout_seconds=7200, max_extension_hours=1))
        ada = await world.directory.get_user("ada")
        got = await world.service.session_policy_for(ada, BASE)
        assert (got.idle_timeout_seconds, got.max_extension_hours) == (7200, 1)
        cyd = await world.directory.get_user("cyd")
        assert await world.service.session_policy_for(cyd, BASE) == BASE

    async def test_the_session_default_is_the_base_policy_not_the_platform_default(self, world):
        world.defaults = PlatformDefaults(
            image="x", idle_timeout_seconds=999, max_extension_hours=0
        )
        cyd = await world.directory.get_user("cyd")
        assert await world.service.session_policy_for(cyd, BASE) == BASE
        many = await world.service.session_policies({"cyd": ()}, BASE)
        assert many == {"cyd": BASE}

    async def test_many_users_at_once_share_resolutions(self, world):
        await world.store.put(policy("ml", idle_timeout_seconds=7200))
        await world.store.put(policy("students", idle_timeout_seconds=600))
        got = await world.service.session_policies(
            {"ada": {"ml", "viz"}, "eve": ["viz", "ml"], "bob": {"students"}, "cyd": ()}, BASE
        )
        assert {name: p.idle_timeout_seconds for name, p in got.items()} == {
            "ada": 7200,
            "eve": 7200,
            "bob": 600,
            "cyd": 3600,
        }
        assert got["ada"] is got["eve"]
        assert await world.service.session_policies({}, BASE) == {}

    async def test_many_users_resources_at_once_share_resolutions(self, world):
        await world.store.put(policy("ml", storage_quota=20 * GIB))
        await world.store.put(policy("students", storage_quota=GIB))
        world.defaults = PlatformDefaults(image="lab:default", storage_quota=5 * GIB)
        got = await world.service.effective_by_user(
            {"ada": {"ml", "viz"}, "eve": ["viz", "ml"], "bob": {"students"}, "cyd": ()}
        )
        assert {name: r.storage_quota for name, r in got.items()} == {
            "ada": 20 * GIB,
            "eve": 20 * GIB,
            "bob": GIB,
            "cyd": 5 * GIB,
        }
        assert got["ada"] is got["eve"]
        assert got["ada"] == (await world.service.effective_for("ada")).resources
        assert await world.service.effective_by_user({}) == {}


class TestTheAdminsChanges:
    async def test_an_image_outside_the_deployers_list_is_refused(self, world):
        with pytest.raises(InvalidValue) as error:
            await world.service.put(policy("ml", images=("lab:cuda", "evil:latest")))
        assert error.value.field == "images"
        assert error.value.message == (
            "'evil:latest' is not one of the images a policy may name: lab:default, lab:cuda, "
            "lab:viz"
        )
        assert await world.store.get("ml") is None

    @pytest.mark.parametrize(
        ("mounts", "text"),
        [
            ((Mount("t", "/mnt/shared"),), "over the platform's own mount point '/mnt/shared'"),
            ((Mount("jupyterlab-eve_home", "/mnt/e"),), "one of the platform's own"),
            (
                (Mount("t", "/mnt/a"), Mount("t", "/mnt/b"), Mount("u", "/c"), Mount("u", "/d")),
                "mounts the volume 't', 'u' twice (Docker mounts it once)",
            ),
        ],
    )
    async def test_a_mount_the_platform_does_not_allow_is_refused(self, world, mounts, text):
        with pytest.raises(InvalidValue) as error:
            await world.service.put(policy("ml", mounts=mounts))
        assert error.value.field == "mounts"
        assert text in error.value.message
        assert await world.store.get("ml") is None

    async def test_a_policy_is_put_and_answered_as_stored(self, world):
        wanted = policy("ml", cpu_limit=2, images=("lab:cuda",), mounts=(Mount("t", "/mnt/t"),))
        assert await world.service.put(wanted) == wanted
        assert await world.store.get("ml") == wanted
        world.service.check(wanted)  # a stored policy passes the checks again

    async def test_a_policy_for_a_group_the_hub_lacks_is_not_found(self, world):
        with pytest.raises(NotFound, match="No such group: ghosts"):
            await world.service.put(policy("ghosts"))

    async def test_a_group_deleted_while_its_policy_is_put_is_not_found(self, world):
        async def gone(group: str) -> None:
            return None

        world.store.get = gone  # type: ignore[method-assign]
        with pytest.raises(NotFound, match="No such group: ml"):
            await world.service.put(policy("ml"))

    async def test_deleting(self, world):
        await world.store.put(policy("ml"))
        await world.service.delete("ml")
        assert await world.store.get("ml") is None
        with pytest.raises(NotFound) as error:
            await world.service.delete("ml")
        assert str(error.value) == "The group ml has no policy."
        with pytest.raises(NotFound) as error:
            await world.service.delete("ghosts")
        assert str(error.value) == "No such group: ghosts"

    async def test_ordering(self, world):
        for group in ("ml", "viz", "students"):
            await world.store.put(policy(group))
        got = await world.service.reorder(["students", "ml"])
        assert [p.group for p in got] == ["students", "ml", "viz"]
        assert [p.group for p in await world.store.in_order()] == ["students", "ml", "viz"]

    @pytest.mark.parametrize(
        ("order", "text"),
        [
            (["ml", "viz", "ml", "viz"], "names 'ml', 'viz' more than once"),
            (["ml", "empty", "ghosts"], "'empty', 'ghosts' has no policy"),
        ],
    )
    async def test_a_bad_order_is_refused_and_changes_nothing(self, world, order, text):
        await world.store.put(policy("viz"))
        await world.store.put(policy("ml"))
        with pytest.raises(InvalidValue) as error:
            await world.service.reorder(order)
        assert error.value.field == "order"
        assert error.value.message == text
        assert [p.group for p in await world.store.in_order()] == ["viz", "ml"]

    async def test_the_overview_has_what_the_page_needs(self, world):
        await world.store.put(policy("viz"))
        await world.store.put(policy("ml"))
        got = await world.service.overview()
        assert [p.group for p in got.policies] == ["viz", "ml"]
        assert got.groups == ("docker-sock", "empty", "ml", "students", "viz")
        assert got.allowed_images == ALLOWED
        assert got.access_groups is ACCESS
        assert got.defaults == DEFAULTS
        assert dict(world.service.volumes) == VOLUMES


def test_the_session_rule_is_unchanged_without_a_timeout_of_its_own():
    resources = _resolved(policy("ml", cpu_limit=1))
    assert session_policy(BASE, resources).idle_timeout == timedelta(hours=1)


class TestTheImagesSetting:
    def test_the_lab_image_alone_unless_the_deployer_lists_others(self):
        assert SpawnerSettings(image="lab:1").allowed_image_list == ("lab:1",)
        listed = SpawnerSettings(image="lab:1", allowed_images=" a:1,b:2  c, a:1,,")
        assert listed.allowed_image_list == ("a:1", "b:2", "c")
        assert SpawnerSettings(image="lab:1", allowed_images=" , ").allowed_image_list == ("lab:1",)


async def test_one_policy_is_read_or_not_found_with_the_reason(world):
    await world.store.put(policy("ml", gpus=1))
    assert await world.service.policy("ml") == policy("ml", gpus=1)
    with pytest.raises(NotFound) as error:
        await world.service.policy("viz")
    assert str(error.value) == "The group viz has no policy."
    with pytest.raises(NotFound) as error:
        await world.service.policy("ghosts")
    assert str(error.value) == "No such group: ghosts"


async def test_a_reader_that_starts_no_server_checks_no_image(world, caplog):
    from stellars.domain.services import PolicyResolver

    await world.store.put(policy("ml", images=("anything:1",), idle_timeout_seconds=600))
    reader = PolicyResolver(
        reader=world.store,
        directory=world.directory,
        defaults=lambda: DEFAULTS,
        allowed_images=None,
        volumes={},
        access_groups=ACCESS,
    )
    with caplog.at_level(logging.WARNING):
        got = await reader.effective_for_groups({"ml"})
    assert got.images == ("anything:1",)
    assert got.idle_timeout_seconds == 600
    assert caplog.text == ""
    assert reader.allowed_images is None


def test_the_problems_are_said_whole():
    assert mount_problem(Mount("jupyterhub_shared", "/data"), VOLUMES) == (
        "the volume 'jupyterhub_shared' is one of the platform's own (a user's volume or the "
        "shared volume)"
    )
    assert mount_problem(Mount("team", "/mnt"), VOLUMES) == (
        "may not mount over the platform's own mount point '/mnt/shared'"
    )


async def test_what_a_stored_policy_loses_is_logged_in_one_line(world, caplog):
    world.store.properties["ml"][PROPERTY_KEY] = policy_entry(policy("ml", images=("lab:gone",)), 0)
    with caplog.at_level(logging.WARNING, logger="stellars.domain.services.policies"):
        await world.service.effective_for_groups({"ml"})
    assert [record.getMessage() for record in caplog.records] == [
        "the policy of group 'ml' names what the platform does not allow; left out: 'lab:gone'"
    ]
