"""Group policies: each resolution rule of `stellars.domain.policies`, by example and as a
property over generated policies, and every value a policy may not hold."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.errors import InvalidValue
from stellars.domain.policies import (
    GIB,
    MIB,
    GpuSharing,
    GroupPolicy,
    Mount,
    PlatformDefaults,
    applying,
    order_policies,
    reserved_environment_name,
    resolve,
    system_path,
)

DEFAULTS = PlatformDefaults(
    cpu_limit=2.0,
    memory_limit=4 * GIB,
    pids_limit=1024,
    gpus=0,
    image="lab:default",
    idle_timeout_seconds=3600,
    max_extension_hours=4,
    storage_quota=10 * GIB,
)


def policy(group: str, **fields: object) -> GroupPolicy:
    return GroupPolicy(group=group, **fields)  # type: ignore[arg-type]


class TestLimitsTakeTheMostGenerous:
    def test_without_a_policy_the_platform_defaults_decide(self):
        got = resolve([], ["anyone"], DEFAULTS)
        assert (got.cpu_limit, got.memory_limit, got.pids_limit) == (2.0, 4 * GIB, 1024)
        assert (got.idle_timeout_seconds, got.max_extension_hours) == (3600, 4)
        assert got.storage_quota == 10 * GIB
        assert got.sources == {}

    def test_the_largest_value_of_the_users_policies_wins_whatever_the_order(self):
        policies = [
            policy("students", cpu_limit=1, memory_limit=2 * GIB, storage_quota=5 * GIB),
            policy("ml", cpu_limit=8, memory_limit=32 * GIB, pids_limit=4096),
            policy("staff", memory_limit=16 * GIB, idle_timeout_seconds=86_400),
        ]
        for order in (policies, policies[::-1]):
            got = resolve(order, ["students", "ml", "staff"], DEFAULTS)
            assert (got.cpu_limit, got.memory_limit, got.pids_limit) == (8.0, 32 * GIB, 4096)
            assert got.idle_timeout_seconds == 86_400
            assert got.storage_quota == 5 * GIB
            assert got.sources["cpu_limit"] == got.sources["memory_limit"] == "ml"
            assert got.sources["storage_quota"] == "students"
            assert got.sources["idle_timeout_seconds"] == "staff"
            assert "max_extension_hours" not in got.sources  # the default

    def test_a_policy_may_lower_a_limit_below_the_default(self):
        got = resolve([policy("students", memory_limit=1 * GIB)], ["students"], DEFAULTS)
        assert got.memory_limit == 1 * GIB

    def test_on_equal_values_the_first_policy_is_named(self):
        policies = [policy("a", cpu_limit=4), policy("b", cpu_limit=4)]
        assert resolve(policies, ["a", "b"], DEFAULTS).sources["cpu_limit"] == "a"

    def test_no_limit_is_the_deployers_alone(self):
        unlimited = PlatformDefaults(image="lab")  # every limit None: no limit
        got = resolve([policy("students", memory_limit=2 * GIB)], ["x"], unlimited)
        assert (got.cpu_limit, got.memory_limit, got.pids_limit) == (None, None, None)
        assert resolve([policy("s", memory_limit=GIB)], ["s"], unlimited).memory_limit == GIB

    def test_policies_of_other_groups_never_apply(self):
        policies = [policy("ml", cpu_limit=16, docker_privileged=True), policy("students")]
        got = resolve(policies, ["students"], DEFAULTS)
        assert (got.cpu_limit, got.docker_privileged) == (2.0, False)
        assert applying(policies, ["students"]) == [policies[1]]


class TestGpus:
    def test_the_largest_count_with_the_sharing_of_the_first_policy_granting_it(self):
        policies = [
            policy("viz", gpus=1, gpu_sharing=GpuSharing.SHARED),
            policy("ml", gpus=2, gpu_sharing=GpuSharing.EXCLUSIVE),
            policy("ml-shared", gpus=2, gpu_sharing=GpuSharing.SHARED),
        ]
        got = resolve(policies, ["viz", "ml", "ml-shared"], DEFAULTS)
        assert (got.gpus, got.gpu_sharing) == (2, GpuSharing.EXCLUSIVE)
        assert got.sources["gpus"] == got.sources["gpu_sharing"] == "ml"
        later_first = resolve(policies[::-1], ["viz", "ml", "ml-shared"], DEFAULTS)
        assert (later_first.gpus, later_first.gpu_sharing) == (2, GpuSharing.SHARED)

    def test_without_a_grant_the_default(self):
        defaults = PlatformDefaults(gpus=1, gpu_sharing=GpuSharing.SHARED, image="lab")
        got = resolve([policy("students", cpu_limit=1)], ["students"], defaults)
        assert (got.gpus, got.gpu_sharing) == (1, GpuSharing.SHARED)
        assert "gpus" not in got.sources

    def test_a_policy_may_give_no_gpu(self):
        defaults = PlatformDefaults(gpus=1, image="lab")
        assert resolve([policy("cpu-only", gpus=0)], ["cpu-only"], defaults).gpus == 0


class TestGrantsImagesEnvironmentMounts:
    def test_docker_grants_combine(self):
        policies = [policy("a", docker_socket=True), policy("b", docker_privileged=True)]
        got = resolve(policies, ["a", "b"], DEFAULTS)
        assert (got.docker_socket, got.docker_privileged) == (True, True)
        assert (got.sources["docker_socket"], got.sources["docker_privileged"]) == ("a", "b")
        none = resolve(policies, ["c"], DEFAULTS)
        assert (none.docker_socket, none.docker_privileged) == (False, False)

    def test_images_are_allowed_from_every_policy_the_first_policys_first_is_the_default(self):
        policies = [
            policy("ml", images=("lab:cuda", "lab:torch")),
            policy("viz", images=("lab:torch", "lab:viz")),
        ]
        got = resolve(policies, ["viz", "ml"], DEFAULTS)
        assert got.images == ("lab:cuda", "lab:torch", "lab:viz")
        assert got.image == "lab:cuda" and got.sources["image"] == "ml"
        assert got.allows_image("lab:viz") and not got.allows_image("lab:default")

    def test_without_any_image_the_user_gets_none(self):
        got = resolve([policy("ml", cpu_limit=4)], ["ml"], PlatformDefaults())
        assert (got.image, got.images) == ("", ())

    def test_without_an_image_policy_only_the_platform_image(self):
        got = resolve([policy("ml", cpu_limit=4)], ["ml"], DEFAULTS)
        assert (got.image, got.images) == ("lab:default", ("lab:default",))
        assert "image" not in got.sources

    def test_environment_by_priority(self):
        policies = [
            policy("ml", environment={"DATA": "/mnt/ml", "TEAM": "ml"}),
            policy("all", environment={"DATA": "/mnt/all", "PROXY": "http://proxy:3128"}),
        ]
        got = resolve(policies, ["all", "ml"], DEFAULTS)
        assert dict(got.environment) == {
            "DATA": "/mnt/ml",
            "TEAM": "ml",
            "PROXY": "http://proxy:3128",
        }
        assert got.sources["environment:DATA"] == "ml"
        assert got.sources["environment:PROXY"] == "all"

    def test_mounts_are_a_union_and_the_first_wins_a_path(self):
        policies = [
            policy("ml", mounts=(Mount("ml-data", "/mnt/data", read_only=False),)),
            policy(
                "all",
                mounts=(Mount("all-data", "/mnt/data"), Mount("handbook", "/mnt/handbook")),
            ),
        ]
        got = resolve(policies, ["ml", "all"], DEFAULTS)
        assert got.mounts == (
            Mount("ml-data", "/mnt/data", read_only=False),
            Mount("handbook", "/mnt/handbook"),
        )
        assert got.sources["mounts:/mnt/data"] == "ml"
        assert got.sources["mounts:/mnt/handbook"] == "all"


class TestWhatAPolicyMayNotHold:
    @pytest.mark.parametrize(
        ("fields", "field", "text"),
        [
            ({"memory_limit": -1}, "memory_limit", "at least 67108864"),
            ({"memory_limit": 1024}, "memory_limit", "at least 67108864"),
            ({"cpu_limit": 0}, "cpu_limit", "more than 0"),
            ({"cpu_limit": -2}, "cpu_limit", "more than 0"),
            ({"cpu_limit": 2000}, "cpu_limit", "at most 1024"),
            ({"cpu_limit": True}, "cpu_limit", "number of cores"),
            ({"cpu_limit": "2"}, "cpu_limit", "number of cores"),
            ({"pids_limit": 10}, "pids_limit", "between"),
            ({"gpus": -1}, "gpus", "between"),
            ({"gpus": 65}, "gpus", "between"),
            ({"storage_quota": 0}, "storage_quota", "at least 1048576"),
            ({"idle_timeout_seconds": 5}, "idle_timeout_seconds", "between"),
            ({"max_extension_hours": -1}, "max_extension_hours", "between"),
            ({"gpu_sharing": "sometimes"}, "gpu_sharing", "exclusive or shared"),
            ({"images": ("",)}, "images", "image names"),
            ({"images": ("a", "a")}, "images", "twice"),
            ({"environment": {"JUPYTERHUB_API_TOKEN": "x"}}, "environment", "set by"),
            ({"environment": {"jupyterhub_user": "x"}}, "environment", "set by"),
            ({"environment": {"NVIDIA_VISIBLE_DEVICES": "all"}}, "environment", "set by"),
            ({"environment": {"CUDA_VISIBLE_DEVICES": "0"}}, "environment", "set by"),
            ({"environment": {"STELLARS_DB_URL": "x"}}, "environment", "set by"),
            ({"environment": {"LD_PRELOAD": "/x.so"}}, "environment", "set by"),
            ({"environment": {"2FAST": "x"}}, "environment", "not a variable name"),
            ({"environment": {"A B": "x"}}, "environment", "not a variable name"),
            ({"environment": {"OK": 1}}, "environment", "must be text"),
            ({"group": ""}, "group", "empty"),
            ({"group": "g" * 256}, "group", "at most 255"),
        ],
    )
    def test_a_bad_value_is_refused_naming_the_field(self, fields, field, text):
        values = {"group": "ml", **fields}
        with pytest.raises(InvalidValue) as error:
            GroupPolicy(**values)  # type: ignore[arg-type]
        assert error.value.field == field
        assert text in error.value.message

    @pytest.mark.parametrize(
        "path",
        ["/", "/etc", "/etc/", "/etc/ssl", "/usr/local/bin", "/var/run/docker.sock", "/proc/1",
         "/root", "/opt/venv", "/sys/fs", "/mnt/../etc"],
    )  # fmt: skip
    def test_a_mount_over_a_system_path_is_refused(self, path):
        with pytest.raises(InvalidValue) as error:
            Mount("team", path)
        assert error.value.field == "mounts"

    @pytest.mark.parametrize("volume", ["/srv/data", "../data", "", "-dash", "a b", "~home"])
    def test_a_mount_comes_from_a_docker_volume_never_a_host_path(self, volume):
        with pytest.raises(InvalidValue) as error:
            Mount(volume, "/mnt/team")
        assert "Docker volume name" in error.value.message

    def test_mount_paths_are_normalised_and_a_path_mounted_twice_is_refused(self):
        assert Mount("team", "/mnt//team/./x/").path == "/mnt/team/x"
        with pytest.raises(InvalidValue) as error:
            Mount("team", "mnt/team")
        assert "absolute" in error.value.message
        with pytest.raises(InvalidValue) as error:
            policy("ml", mounts=(Mount("a", "/mnt/x"), Mount("b", "/mnt/x/")))
        assert "twice at '/mnt/x'" in error.value.message

    @pytest.mark.parametrize(
        ("make", "field", "message"),
        [
            (lambda: Mount("/srv/data", "/mnt/team"), "mounts",
             "the volume must be a Docker volume name (letters, digits, '_', '.', '-'; never a "
             "host path), got '/srv/data'"),
            (lambda: Mount("team", "/etc//ssl/"), "mounts",
             "may not mount over the system path '/etc/ssl' (or under it)"),
            (lambda: Mount("team", "mnt/team"), "mounts",
             "must be an absolute path, got 'mnt/team'"),
            (lambda: Mount("team", "/mnt/../x"), "mounts",
             "must not contain '..', got '/mnt/../x'"),
            (lambda: policy("ml", cpu_limit="2"), "cpu_limit",
             "must be a number of cores, got '2'"),
            (lambda: policy("ml", gpu_sharing="sometimes"), "gpu_sharing",
             "must be exclusive or shared, got 'sometimes'"),
            (lambda: policy("ml", images=("lab", " ")), "images", "must be image names, got ' '"),
            (lambda: policy("ml", images=("a", "b", "a")), "images", "names an image twice"),
            (lambda: policy("ml", environment={"A B": "x"}), "environment",
             "'A B' is not a variable name"),
            (lambda: policy("ml", environment={"PATH": "/x"}), "environment",
             "'PATH' is set by JupyterHub or the platform and may not be changed"),
            (lambda: policy("ml", environment={"OK": 1}), "environment",
             "'OK' must be text, got 1"),
            (lambda: policy("ml", mounts=(Mount("a", "/mnt/x"), Mount("b", "/mnt/x/"))),
             "mounts", "mounts twice at '/mnt/x'"),
        ],
    )  # fmt: skip
    def test_each_refusal_names_its_field_and_repeats_the_value(self, make, field, message):
        with pytest.raises(InvalidValue) as error:
            make()
        assert (error.value.field, error.value.message) == (field, message)

    def test_a_group_name_of_255_characters_is_the_longest(self):
        assert policy("g" * 255).group == "g" * 255

    def test_what_is_reserved_and_what_is_system(self):
        assert reserved_environment_name("JPY_API_TOKEN")
        assert reserved_environment_name("Path")
        assert not reserved_environment_name("DATA_DIR")
        assert system_path("/")
        assert system_path("/etc")
        assert not system_path("/etcetera")
        assert not system_path("/mnt/shared")
        assert not system_path("/home/jovyan/team")

    def test_values_come_out_as_typed(self):
        made = policy("ml", cpu_limit=2, environment={"A": "1"})
        assert made.cpu_limit == 2.0 and isinstance(made.cpu_limit, float)
        with pytest.raises(TypeError):
            made.environment["B"] = "2"  # type: ignore[index]


def test_the_admins_order_and_policies_it_does_not_name_after_it():
    policies = [policy("c"), policy("a"), policy("b"), policy("d")]
    ordered = order_policies(policies, ["b", "c"])
    assert [p.group for p in ordered] == ["b", "c", "a", "d"]


# --- properties ------------------------------------------------------------------------------

groups = st.sampled_from(["a", "b", "c", "d"])
limits = st.one_of(st.none(), st.integers(64 * MIB, 64 * GIB))
policies_strategy = st.lists(
    st.builds(
        GroupPolicy,
        group=groups,
        memory_limit=limits,
        cpu_limit=st.one_of(st.none(), st.floats(0.25, 64)),
        gpus=st.one_of(st.none(), st.integers(0, 8)),
        docker_socket=st.booleans(),
        mounts=st.lists(
            st.builds(Mount, st.sampled_from(["v1", "v2"]), st.sampled_from(["/mnt/x", "/mnt/y"])),
            max_size=2,
            unique_by=lambda mount: mount.path,
        ).map(tuple),
    ),
    max_size=6,
    unique_by=lambda p: p.group,
)


@given(policies_strategy, st.sets(groups))
def test_resolution_follows_the_stated_rules(policies, member_of):
    got = resolve(policies, member_of, DEFAULTS)
    mine = [p for p in policies if p.group in member_of]
    memories = [p.memory_limit for p in mine if p.memory_limit is not None]
    assert got.memory_limit == (max(memories) if memories else DEFAULTS.memory_limit)
    cpus = [p.cpu_limit for p in mine if p.cpu_limit is not None]
    assert got.cpu_limit == (max(cpus) if cpus else DEFAULTS.cpu_limit)
    counts = [p.gpus for p in mine if p.gpus is not None]
    assert got.gpus == (max(counts) if counts else DEFAULTS.gpus)
    assert got.docker_socket == any(p.docker_socket for p in mine)
    assert {m.path for m in got.mounts} == {m.path for p in mine for m in p.mounts}
    for mount in got.mounts:
        first = next(p for p in mine if any(m.path == mount.path for m in p.mounts))
        assert mount in first.mounts
    # Policies of groups the user is not in change nothing.
    assert resolve(mine, member_of, DEFAULTS) == got
