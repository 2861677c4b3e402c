"""Tests for `stellars.domain.volumes`: naming, labels and reset rules.

Names are checked against DockerSpawner 14 itself (installed with the hub): a DockerSpawner
object built without a hub renders its templates with its own code, as in
tests/contract/test_docker_naming.py.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from dockerspawner import DockerSpawner
from hypothesis import given, settings
from hypothesis import strategies as st

from stellars.domain.errors import Conflict, InvalidValue
from stellars.domain.settings import SpawnerSettings
from stellars.domain.volumes import (
    CONTAINER_NAME_LIMIT,
    VOLUME_NAME_LIMIT,
    DockerNaming,
    ResetReport,
    UserVolume,
    VolumeInfo,
    VolumeOutcome,
    VolumeResult,
    container_name,
    docker_name_problem,
    escape_name,
    longest_plain_username,
    plan_reset,
    render,
    template_namespace,
    user_volumes,
)
from tests.strategies import usernames

STELLARS_VOLUMES = {
    "jupyterlab-{username}_home": "/home",
    "jupyterlab-{username}_workspace": "/home/lab/workspace",
    "jupyterlab-{username}_cache": {"bind": "/home/lab/.cache", "mode": "rw"},
    "jupyterhub_shared": "/mnt/shared",
}
FIELDS = (
    "username",
    "safe_username",
    "raw_username",
    "imagename",
    "servername",
    "raw_servername",
    "prefix",
)
server_names = st.one_of(
    st.just(""),
    st.sampled_from(["gpu", "Gpu", "GPU-2", "my.lab", "ü"]),
    st.from_regex(r"[A-Za-z0-9-]{1,12}", fullmatch=True),
)
images = st.sampled_from(
    ["quay.io/jupyterhub/singleuser:latest", "org/lab:4.2", "lab", "host:5000/a/b:c"]
)


def dockerspawner(username: str, server_name: str, naming: DockerNaming) -> DockerSpawner:
    """DockerSpawner for one user's server, without a hub or an engine."""
    settings: dict[str, object] = {"prefix": naming.prefix, "image": naming.image}
    if naming.name_template:
        settings["name_template"] = naming.name_template
    return DockerSpawner(
        user=SimpleNamespace(name=username),
        orm_spawner=SimpleNamespace(name=server_name, state=None, server=None),
        **settings,
    )


class TestEscaping:
    @pytest.mark.parametrize(
        ("username", "escaped"),
        [
            ("simple", "simple"),
            ("a.b-c_d@e", "a-2eb-2dc-5fd-40e"),
            ("user name", "user-20name"),
            ("x/y", "x-2fy"),
            ("ünï", "-c3-bcn-c3-af"),
            ("Bob", "-42ob"),
            ("0day", "0day"),
            ("東", "-e6-9d-b1"),
            ("", ""),
        ],
    )
    def test_dockerspawner_examples(self, username, escaped):
        assert escape_name(username) == escaped

    @given(usernames)
    def test_escaping_equals_dockerspawners(self, username):
        assert escape_name(username) == DockerSpawner._escape(username)


class TestTemplates:
    def test_the_namespace_of_a_named_server(self):
        naming = DockerNaming(prefix="lab", image="quay.io/jupyterhub/singleuser:latest")
        assert template_namespace("A.b", naming, "My-Gpu") == {
            "username": "-41-2eb",
            "safe_username": "-41-2eb",
            "raw_username": "A.b",
            "imagename": "quay.io-jupyterhub-singleuser-latest",
            "servername": "my-2dgpu",
            "raw_servername": "My-Gpu",
            "prefix": "lab",
        }

    def test_the_default_server_has_an_empty_server_name(self):
        ns = template_namespace("alice", DockerNaming())
        assert (ns["servername"], ns["raw_servername"]) == ("", "")
        assert ns["prefix"] == "jupyter"
        assert ns["imagename"] == "quay.io-jupyterhub-singleuser-latest"

    @pytest.mark.parametrize("field", FIELDS)
    @settings(max_examples=20)  # x 7 fields; building a DockerSpawner is not free
    @given(username=usernames, server_name=server_names, image=images)
    def test_every_field_renders_like_dockerspawner(self, field, username, server_name, image):
        naming = DockerNaming(prefix="jupyterlab", image=image)
        template = f"vol-{{{field}}}_data"
        spawner = dockerspawner(username, server_name, naming)
        ours = render(template, username, naming, server_name)
        assert ours == spawner._render_templates(template)
        assert ours == spawner.format_volume_name(template, spawner)

    def test_all_fields_at_once_like_dockerspawner(self):
        naming = DockerNaming(prefix="p", image="org/lab:4.2")
        template = "-".join(f"{{{field}}}" for field in FIELDS)
        spawner = dockerspawner("Zoë.K", "Gpu.1", naming)
        assert render(template, "Zoë.K", naming, "Gpu.1") == spawner._render_templates(template)
        assert render(template, "Zoë.K", naming, "Gpu.1") == (
            "-5ao-c3-ab-2e-4b--5ao-c3-ab-2e-4b-Zoë.K-org-lab-4.2-gpu-2e1-Gpu.1-p"
        )

    @pytest.mark.parametrize(
        ("template", "server_name", "name"),
        [
            (None, "", "jupyterlab-a-2eb"),
            (None, "Gpu", "jupyterlab-a-2eb--gpu"),
            ("{prefix}_{raw_username}", "", "jupyterlab_a.b"),
            ("{prefix}_{raw_username}", "gpu", "jupyterlab_a.b"),
            ("lab-{username}-{imagename}", "", "lab-a-2eb-org-lab-4.2"),
            ("lab-{username}--{raw_servername}", "Gpu", "lab-a-2eb--Gpu"),
        ],
    )
    def test_container_names_follow_the_template(self, template, server_name, name):
        naming = DockerNaming(prefix="jupyterlab", name_template=template, image="org/lab:4.2")
        assert container_name("a.b", naming, server_name) == name
        assert dockerspawner("a.b", server_name, naming).object_name == name

    def test_the_default_server_is_the_default(self):
        naming = DockerNaming(prefix="lab")
        assert container_name("alice", naming) == "lab-alice"
        assert render("x{servername}|{raw_servername}y", "alice", naming) == "x|y"
        (volume,) = user_volumes({"lab-{username}-{servername}_data": "/data"})
        assert volume.name_for("alice", naming) == "lab-alice-_data"
        assert volume.name_for("alice", naming, "Gpu") == "lab-alice-gpu_data"

    def test_the_default_template_depends_on_the_server_name(self):
        naming = DockerNaming()
        assert naming.template_for("") == "{prefix}-{username}"
        assert naming.template_for("gpu") == "{prefix}-{username}--{servername}"
        custom = DockerNaming(name_template="x-{username}")
        assert custom.template_for("gpu") == "x-{username}"

    @settings(max_examples=50)
    @given(username=usernames, server_name=server_names)
    def test_container_names_equal_dockerspawners(self, username, server_name):
        naming = DockerNaming(prefix="jupyterlab", image="org/lab:4.2")
        expected = dockerspawner(username, server_name, naming).object_name
        assert container_name(username, naming, server_name) == expected


class TestUserVolumes:
    def test_user_volumes_are_the_templated_entries_with_labels(self):
        assert user_volumes(STELLARS_VOLUMES) == (
            UserVolume("home", "jupyterlab-{username}_home", "/home"),
            UserVolume("workspace", "jupyterlab-{username}_workspace", "/home/lab/workspace"),
            UserVolume("cache", "jupyterlab-{username}_cache", "/home/lab/.cache"),
        )

    def test_a_shared_or_host_path_entry_listed_first_is_skipped_not_the_end(self):
        volumes = {
            "jupyterhub_shared": "/mnt/shared",
            "/srv/homes/{username}": "/home/host",
            3: "/ignored",
            "jupyterlab-{username}_home": "/home",
            "/srv/other": "/other",
            "jupyterlab-{username}_cache": "/cache",
        }
        assert [v.label for v in user_volumes(volumes)] == ["home", "cache"]

    def test_names_match_dockerspawner_for_an_awkward_username(self):
        home = user_volumes(STELLARS_VOLUMES)[0]
        assert home.name_for("a.b-c_d@e", DockerNaming()) == "jupyterlab-a-2eb-2dc-5fd-40e_home"

    @settings(max_examples=50)
    @given(username=usernames, server_name=server_names)
    def test_volume_names_equal_dockerspawners(self, username, server_name):
        volumes = {
            **STELLARS_VOLUMES,
            "lab-{safe_username}-{servername}_scratch": "/scratch",
            "{imagename}-{username}-{raw_servername}_env": "/env",
        }
        naming = DockerNaming(prefix="jupyterlab", image="org/lab:4.2")
        spawner = dockerspawner(username, server_name, naming)
        for volume in user_volumes(volumes):
            assert volume.name_for(username, naming, server_name) == (
                spawner.format_volume_name(volume.template, spawner)
            )

    def test_a_template_without_a_suffix_is_labelled_by_its_prefix(self):
        (volume,) = user_volumes({"jupyterhub-user-{username}": "/home/jovyan"})
        assert volume == UserVolume("jupyterhub-user", "jupyterhub-user-{username}", "/home/jovyan")

    def test_labels_are_lower_case(self):
        volumes = {"Lab-{username}": "/a", "x-{username}_Data": "/b"}
        assert [v.label for v in user_volumes(volumes)] == ["lab", "data"]

    def test_placeholders_after_the_username_are_ignored_for_the_label(self):
        (volume,) = user_volumes({"lab-{username}--{servername}_data": "/data"})
        assert volume.label == "data"

    def test_placeholders_before_the_username_are_ignored_for_the_label(self):
        (volume,) = user_volumes({"{prefix}-{imagename}-vol-{username}": "/data"})
        assert volume.label == "vol"

    def test_a_template_naming_the_user_twice_is_labelled_after_the_first(self):
        (volume,) = user_volumes({"lab-{username}_home_{username}": "/data"})
        assert volume.label == "home"

    def test_separators_around_a_label_are_dropped(self):
        (volume,) = user_volumes({"lab-{username}._-data-_.": "/data"})
        assert volume.label == "data"

    def test_host_paths_and_shared_volumes_are_not_user_volumes(self):
        assert user_volumes({"/srv/{username}": "/home", "shared": "/mnt"}) == ()

    def test_duplicate_labels_are_a_configuration_error(self):
        with pytest.raises(InvalidValue) as error:
            user_volumes({"a-{username}_home": "/a", "b-{username}-home": "/b"})
        assert str(error.value) == (
            "volumes: 'b-{username}-home' and 'a-{username}_home' both have the label 'home'"
        )

    @pytest.mark.parametrize("template", ["{username}", "-{username}_", "lab-{username}_ü"])
    def test_a_template_without_a_usable_label_is_refused(self, template):
        with pytest.raises(InvalidValue) as error:
            user_volumes({template: "/data"})
        assert str(error.value) == f"volumes: cannot derive a label from {template!r}"

    @pytest.mark.parametrize("spec", [3, None, {"mode": "rw"}, {"bind": 5}, ["/home"]])
    def test_an_entry_must_map_to_a_mount_point(self, spec):
        with pytest.raises(InvalidValue) as error:
            user_volumes({"v-{username}_home": spec})
        assert str(error.value) == (
            "volumes: entry 'v-{username}_home' must map to a path or {'bind': path}"
        )


class TestReset:
    known = user_volumes(STELLARS_VOLUMES)

    def test_valid_request_keeps_order_and_drops_duplicates(self):
        chosen = plan_reset(["cache", "home", "cache"], self.known, server_active=False)
        assert chosen == (self.known[2], self.known[0])

    def test_a_tuple_request(self):
        assert plan_reset(("workspace",), self.known, server_active=False) == (self.known[1],)

    @pytest.mark.parametrize("requested", [[], (), None])
    def test_an_empty_request_is_refused(self, requested):
        with pytest.raises(InvalidValue) as error:
            plan_reset(requested, self.known, server_active=False)
        assert str(error.value) == (
            "volumes: name at least one volume to reset (home, workspace, cache)"
        )

    def test_without_configured_volumes_the_message_says_so(self):
        with pytest.raises(InvalidValue) as error:
            plan_reset(["home"], (), server_active=False)
        assert str(error.value) == "volumes: unknown volume(s): 'home'; known: none configured"
        with pytest.raises(InvalidValue) as error:
            plan_reset([], (), server_active=False)
        assert str(error.value) == "volumes: name at least one volume to reset (none configured)"

    def test_unknown_labels_are_named(self):
        with pytest.raises(InvalidValue) as error:
            plan_reset(["home", "scratch", "tmp"], self.known, server_active=False)
        assert str(error.value) == (
            "volumes: unknown volume(s): 'scratch', 'tmp'; known: home, workspace, cache"
        )

    def test_unknown_labels_are_repeated_only_in_part(self):
        """A megabyte of labels comes back as five labels of at most 40 characters."""
        labels = ["A" * 1_000_000, *(f"label{index}" for index in range(1000)), "home"]
        with pytest.raises(InvalidValue) as error:
            plan_reset(labels, self.known, server_active=False)
        assert str(error.value) == (
            f"volumes: unknown volume(s): '{'A' * 37}...', 'label0', 'label1', 'label2', "
            "'label3' and 996 more; known: home, workspace, cache"
        )

    def test_a_bad_request_is_reported_before_the_running_server(self):
        with pytest.raises(InvalidValue):
            plan_reset(["scratch"], self.known, server_active=True)

    def test_a_running_or_pending_server_blocks_the_reset(self):
        with pytest.raises(Conflict) as error:
            plan_reset(["home"], self.known, server_active=True)
        assert str(error.value) == "Stop the server before resetting its volumes."

    def test_the_report_does_not_claim_what_did_not_happen(self):
        report = ResetReport(
            "alice",
            (
                VolumeResult("home", "v_home", VolumeOutcome.REMOVED),
                VolumeResult("cache", "v_cache", VolumeOutcome.NOT_FOUND),
                VolumeResult("workspace", "v_ws", VolumeOutcome.IN_USE),
                VolumeResult("data", "v_data", VolumeOutcome.REMOVED),
            ),
        )
        assert report.removed == ("home", "data")
        assert report.message == "Reset 2 of 4 volume(s); cache: not found; workspace: in use."

    def test_a_clean_report(self):
        report = ResetReport("alice", (VolumeResult("home", "v_home", VolumeOutcome.REMOVED),))
        assert report.message == "Reset 1 of 1 volume(s)."
        assert ResetReport("alice", ()).message == "Reset 0 of 0 volume(s)."

    def test_outcome_names(self):
        assert [o.value for o in VolumeOutcome] == ["removed", "not found", "in use"]


def test_values():
    assert UserVolume("home", "x-{username}", "/h") == UserVolume("home", "x-{username}", "/h")
    assert VolumeInfo("v") == VolumeInfo("v", None)
    assert VolumeInfo("v", 5).size_bytes == 5


DEFAULT_NAMING = SpawnerSettings().naming  # prefix and container "jupyterlab-{username}"
DEFAULT_VOLUMES = user_volumes(STELLARS_VOLUMES)  # home, workspace, cache, as deploy/ sets them


def dockerspawner_names(username: str, naming: DockerNaming) -> tuple[list[str], str]:
    """The oracle: the volume names and the container name DockerSpawner itself renders."""
    spawner = dockerspawner(username, "", naming)
    volumes = [spawner.format_volume_name(v.template, spawner) for v in DEFAULT_VOLUMES]
    return volumes, spawner.object_name


class TestDockerNameLimits:
    """Names DockerSpawner would give a user that Docker refuses (measured in the docstrings of
    VOLUME_NAME_LIMIT and CONTAINER_NAME_LIMIT) are found before any server starts."""

    @pytest.mark.parametrize(
        "username",
        [
            "a" * 64,
            "a" * 200,
            "a" * 234,
            "a" * 235,
            "a" * 300,
            "é" * 64,  # 6 characters each: -c3-a9
            "é" * 200,
            "Zoë" * 100,
            "東京" * 32,  # 9 characters each
            "東" * 200,
            "😀" * 64,  # 12 characters each: -f0-9f-98-80
            "😀" * 300,
            "data.scientist@example.org",
            "x" * 18 + "😀" * 18,  # jupyterlab- + 18 + 18 * 12 + _workspace: 255, fits
            "x" * 19 + "😀" * 18,  # 256: one too many
        ],
    )
    def test_a_name_is_refused_exactly_when_dockerspawner_would_exceed_a_limit(self, username):
        volumes, container = dockerspawner_names(username, DEFAULT_NAMING)
        fits = all(len(v) <= VOLUME_NAME_LIMIT for v in volumes)
        fits = fits and len(container) <= CONTAINER_NAME_LIMIT
        problem = docker_name_problem(username, DEFAULT_NAMING, DEFAULT_VOLUMES)
        assert (problem is None) == fits
        if problem is not None:
            longest = max(volumes, key=len)
            assert f" would be {len(longest)} characters (at most 255)" in problem

    @settings(max_examples=50)
    @given(
        username=st.one_of(
            usernames,
            st.text(min_size=1, max_size=300),
            st.text(alphabet="az09é東😀.-_@", min_size=30, max_size=260),
        )
    )
    def test_the_verdict_agrees_with_dockerspawners_names(self, username):
        volumes, container = dockerspawner_names(username, DEFAULT_NAMING)
        fits = max(map(len, volumes)) <= VOLUME_NAME_LIMIT
        fits = fits and len(container) <= CONTAINER_NAME_LIMIT
        assert (docker_name_problem(username, DEFAULT_NAMING, DEFAULT_VOLUMES) is None) == fits

    def test_the_volume_limit_is_exact_for_mixed_names(self):
        assert docker_name_problem("x" * 18 + "😀" * 18, DEFAULT_NAMING, DEFAULT_VOLUMES) is None
        problem = docker_name_problem("x" * 19 + "😀" * 18, DEFAULT_NAMING, DEFAULT_VOLUMES)
        assert problem is not None and "would be 256 characters (at most 255)" in problem

    def test_the_message_names_the_longest_volume_the_limit_and_the_escaping(self):
        problem = docker_name_problem("é" * 64, DEFAULT_NAMING, DEFAULT_VOLUMES)
        assert problem == (
            "is too long for Docker: the volume name "
            "jupyterlab--c3-a9-c3-a9-c3-a9-c3-a9-c3-a9-c3-a9-..._workspace would be 405 "
            "characters (at most 255); DockerSpawner writes each character outside a-z and 0-9 "
            "as 3 to 12"
        )

    def test_a_plain_name_gets_no_escaping_hint(self):
        assert docker_name_problem("a" * 300, DEFAULT_NAMING, DEFAULT_VOLUMES) == (
            "is too long for Docker: the volume name "
            f"jupyterlab-{'a' * 37}..._workspace would be 321 characters (at most 255)"
        )

    @pytest.mark.parametrize("username", ["q" * 300, "Ü" * 300, "東" * 300, "😀" * 300])
    def test_the_message_never_echoes_the_whole_username(self, username):
        problem = docker_name_problem(username, DEFAULT_NAMING, DEFAULT_VOLUMES)
        assert problem is not None and len(problem) < 250
        assert escape_name(username)[:41] not in problem

    def test_a_raw_username_in_a_template_is_cut_short_too(self):
        naming = DockerNaming(prefix="lab")
        volumes = user_volumes({"vol.{raw_username}.{username}_data": "/d"})
        problem = docker_name_problem("b" * 200, naming, volumes)
        assert problem == (
            f"is too long for Docker: the volume name vol.{'b' * 37}....{'b' * 37}..._data "
            "would be 410 characters (at most 255)"
        )

    def test_of_equally_long_names_the_first_is_named(self):
        volumes = user_volumes({"v-{username}_one": "/1", "v-{username}_two": "/2"})
        assert " v-aaa" in docker_name_problem("a" * 300, DEFAULT_NAMING, volumes)
        assert "_one would be 306" in docker_name_problem("a" * 300, DEFAULT_NAMING, volumes)

    def test_the_container_name_counts_when_no_volume_breaks_the_limit(self):
        at_limit = "a" * (CONTAINER_NAME_LIMIT - len("jupyterlab-"))
        assert docker_name_problem(at_limit, DEFAULT_NAMING, ()) is None
        problem = docker_name_problem(at_limit + "a", DEFAULT_NAMING, ())
        assert problem == (
            f"is too long for Docker: the container name jupyterlab-{'a' * 37}... would be "
            f"{CONTAINER_NAME_LIMIT + 1} characters (at most {CONTAINER_NAME_LIMIT})"
        )

    def test_a_named_server_names_its_container_with_the_server_name(self):
        naming = DockerNaming(prefix="jupyterlab")  # "{prefix}-{username}--{servername}"
        username = "a" * (CONTAINER_NAME_LIMIT - len("jupyterlab---gpu"))
        assert docker_name_problem(username, naming, (), "gpu") is None
        assert docker_name_problem(username + "a", naming, (), "gpu") is not None
        assert docker_name_problem(username + "a", naming, ()) is None

    def test_the_limits_are_the_measured_ones(self):
        assert (VOLUME_NAME_LIMIT, CONTAINER_NAME_LIMIT) == (255, 1_048_576)

    def test_the_longest_plain_username_under_the_default_naming_is_234(self):
        assert longest_plain_username(DEFAULT_NAMING, DEFAULT_VOLUMES) == 234
        assert docker_name_problem("a" * 234, DEFAULT_NAMING, DEFAULT_VOLUMES) is None
        assert docker_name_problem("a" * 235, DEFAULT_NAMING, DEFAULT_VOLUMES) is not None

    @pytest.mark.parametrize(
        ("volumes", "naming", "longest"),
        [
            ({}, DockerNaming(prefix="jupyterlab"), CONTAINER_NAME_LIMIT - len("jupyterlab-")),
            ({"v-{username}": "/v"}, DockerNaming(prefix="p"), 253),
            ({"{username}-{safe_username}_x": "/v"}, DockerNaming(), 126),  # (255 - 3) // 2
            ({"{username}_v": "/v"}, DockerNaming(name_template="fixed"), 253),
            ({"{imagename}-{username}_v": "/v"}, DockerNaming(image="i" * 300), 0),
        ],
    )
    def test_the_longest_plain_username_fits_and_one_more_character_does_not(
        self, volumes, naming, longest
    ):
        configured = user_volumes(volumes)
        assert longest_plain_username(naming, configured) == longest
        if longest:
            assert docker_name_problem("z" * longest, naming, configured) is None
        assert docker_name_problem("z" * (longest + 1), naming, configured) is not None

    def test_without_any_name_that_depends_on_the_username_every_length_fits(self):
        naming = DockerNaming(name_template="fixed")
        assert longest_plain_username(naming, ()) == CONTAINER_NAME_LIMIT
        assert docker_name_problem("a" * 5_000, naming, ()) is None


class TestDockerNameMessagesInDetail:
    def test_a_username_of_exactly_40_characters_is_shown_whole(self):
        volumes = user_volumes({"v" * 220 + "-{username}_x": "/v"})  # 220 + 1 + 40 + 2 = 263
        username = "u" * 40
        problem = docker_name_problem(username, DEFAULT_NAMING, volumes)
        assert f"-{username}_x would be 263 characters" in problem
        problem = docker_name_problem(username + "u", DEFAULT_NAMING, volumes)
        assert f"-{'u' * 37}..._x would be 264 characters" in problem

    def test_a_named_servers_volume_is_shown_with_its_server_name(self):
        volumes = user_volumes({"lab-{username}-{servername}_scratch": "/s"})
        problem = docker_name_problem("a" * 250, DEFAULT_NAMING, volumes, "gpu")
        assert problem == (
            f"is too long for Docker: the volume name lab-{'a' * 37}...-gpu_scratch would be "
            "266 characters (at most 255)"
        )

    def test_a_named_servers_container_is_shown_with_its_server_name(self):
        naming = DockerNaming(prefix="jupyterlab")  # "{prefix}-{username}--{servername}"
        problem = docker_name_problem("a" * CONTAINER_NAME_LIMIT, naming, (), "gpu")
        assert problem == (
            f"is too long for Docker: the container name jupyterlab-{'a' * 37}...--gpu would be "
            f"{CONTAINER_NAME_LIMIT + 16} characters (at most {CONTAINER_NAME_LIMIT})"
        )

    def test_the_longest_plain_username_is_a_whole_number_rounded_down(self):
        volumes = user_volumes({"{username}{safe_username}_x": "/v"})  # 2 + 2 per character
        longest = longest_plain_username(DockerNaming(), volumes)
        assert longest == 126 and isinstance(longest, int)  # 253 / 2 = 126.5
        assert docker_name_problem("q" * 126, DockerNaming(), volumes) is None
        assert docker_name_problem("q" * 127, DockerNaming(), volumes) is not None

    def test_the_longest_plain_username_of_a_named_server_counts_its_container_name(self):
        naming = DockerNaming(prefix="jupyterlab")
        longest = CONTAINER_NAME_LIMIT - len("jupyterlab---gpu")
        assert longest_plain_username(naming, (), "gpu") == longest
        assert longest_plain_username(naming, ()) == CONTAINER_NAME_LIMIT - len("jupyterlab-")
