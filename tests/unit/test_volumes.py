"""Tests for `stellars.domain.volumes`: naming, labels and reset rules."""

from __future__ import annotations

import pytest

from stellars.domain.errors import Conflict, InvalidValue
from stellars.domain.volumes import (
    DockerNaming,
    ResetReport,
    UserVolume,
    VolumeOutcome,
    VolumeResult,
    container_name,
    escape_name,
    plan_reset,
    user_volumes,
)

STELLARS_VOLUMES = {
    "jupyterlab-{username}_home": "/home",
    "jupyterlab-{username}_workspace": "/home/lab/workspace",
    "jupyterlab-{username}_cache": {"bind": "/home/lab/.cache", "mode": "rw"},
    "jupyterhub_shared": "/mnt/shared",
}


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
            ("", ""),
        ],
    )
    def test_dockerspawner_examples(self, username, escaped):
        assert escape_name(username) == escaped

    def test_container_names_follow_the_template(self):
        naming = DockerNaming(prefix="jupyterlab")
        assert container_name("a.b", naming) == "jupyterlab-a-2eb"
        assert container_name("a.b", naming, "Gpu") == "jupyterlab-a-2eb--gpu"
        custom = DockerNaming(prefix="p", name_template="{prefix}_{raw_username}")
        assert container_name("Bob", custom) == "p_Bob"


class TestUserVolumes:
    def test_user_volumes_are_the_templated_entries_with_labels(self):
        found = user_volumes(STELLARS_VOLUMES)
        assert [(v.label, v.mount_point) for v in found] == [
            ("home", "/home"),
            ("workspace", "/home/lab/workspace"),
            ("cache", "/home/lab/.cache"),
        ]

    def test_names_match_dockerspawner_for_an_awkward_username(self):
        home = user_volumes(STELLARS_VOLUMES)[0]
        assert home.name_for("a.b-c_d@e", DockerNaming()) == "jupyterlab-a-2eb-2dc-5fd-40e_home"

    def test_a_template_without_a_suffix_is_labelled_by_its_prefix(self):
        (volume,) = user_volumes({"jupyterhub-user-{username}": "/home/jovyan"})
        assert volume.label == "jupyterhub-user"

    def test_placeholders_after_the_username_are_ignored_for_the_label(self):
        (volume,) = user_volumes({"lab-{username}--{servername}_data": "/data"})
        assert volume.label == "data"

    def test_host_paths_and_shared_volumes_are_not_user_volumes(self):
        assert user_volumes({"/srv/{username}": "/home", "shared": "/mnt"}) == ()

    def test_duplicate_labels_are_a_configuration_error(self):
        with pytest.raises(InvalidValue, match="both have the label 'home'"):
            user_volumes({"a-{username}_home": "/a", "b-{username}-home": "/b"})

    def test_an_entry_must_map_to_a_mount_point(self):
        with pytest.raises(InvalidValue, match="must map to a path"):
            user_volumes({"v-{username}_home": 3})


class TestReset:
    known = user_volumes(STELLARS_VOLUMES)

    def test_valid_request_keeps_order_and_drops_duplicates(self):
        chosen = plan_reset(["cache", "home", "cache"], self.known, server_active=False)
        assert [v.label for v in chosen] == ["cache", "home"]

    @pytest.mark.parametrize("requested", [[], None, "home", {"home": 1}, [1], [None]])
    def test_malformed_requests_are_refused(self, requested):
        with pytest.raises(InvalidValue) as error:
            plan_reset(requested, self.known, server_active=False)
        assert error.value.field == "volumes"

    def test_unknown_labels_are_named(self):
        with pytest.raises(InvalidValue, match="unknown volume\\(s\\): scratch; known: home"):
            plan_reset(["home", "scratch"], self.known, server_active=False)

    def test_a_running_or_pending_server_blocks_the_reset(self):
        with pytest.raises(Conflict, match="Stop the server"):
            plan_reset(["home"], self.known, server_active=True)

    def test_the_report_does_not_claim_what_did_not_happen(self):
        report = ResetReport(
            "alice",
            (
                VolumeResult("home", "v_home", VolumeOutcome.REMOVED),
                VolumeResult("cache", "v_cache", VolumeOutcome.NOT_FOUND),
                VolumeResult("workspace", "v_ws", VolumeOutcome.IN_USE),
            ),
        )
        assert report.removed == ("home",)
        assert report.message == "Reset 1 of 3 volume(s); cache: not found; workspace: in use."


def test_user_volume_is_a_plain_value():
    assert UserVolume("home", "x-{username}", "/h") == UserVolume("home", "x-{username}", "/h")
