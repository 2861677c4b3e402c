"""Tests for `stellars.domain.docker_access`: the grant follows group membership."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.docker_access import DockerAccess, DockerAccessGroups, docker_access_for
from stellars.domain.errors import InvalidValue

CONFIG = DockerAccessGroups()


def test_defaults():
    assert (CONFIG.socket_group, CONFIG.privileged_group, CONFIG.socket_path) == (
        "docker-sock",
        "docker-privileged",
        "/var/run/docker.sock",
    )
    assert CONFIG.names == ("docker-sock", "docker-privileged")


@pytest.mark.parametrize(
    ("groups", "access"),
    [
        (set(), DockerAccess(mount_socket=False, privileged=False)),
        ({"students"}, DockerAccess(mount_socket=False, privileged=False)),
        ({"docker-sock"}, DockerAccess(mount_socket=True, privileged=False)),
        ({"docker-privileged", "students"}, DockerAccess(mount_socket=False, privileged=True)),
        (["docker-sock", "docker-privileged"], DockerAccess(mount_socket=True, privileged=True)),
        (("docker-privileged",), DockerAccess(mount_socket=False, privileged=True)),
    ],
)
def test_the_grant_of_each_membership(groups, access):
    assert docker_access_for(groups, CONFIG) == access


def test_custom_group_names():
    config = DockerAccessGroups(
        socket_group="ops", privileged_group="root-ish", socket_path="/run/docker.sock"
    )
    assert config.names == ("ops", "root-ish")
    assert docker_access_for({"ops"}, config) == DockerAccess(True, False)
    assert docker_access_for({"root-ish"}, config) == DockerAccess(False, True)
    assert docker_access_for({"docker-sock", "docker-privileged"}, config) == DockerAccess(
        False, False
    )


@pytest.mark.parametrize("field", ["socket_group", "privileged_group", "socket_path"])
@pytest.mark.parametrize("value", ["", " ", None])
def test_blank_settings_are_refused_naming_the_field(field, value):
    with pytest.raises(InvalidValue) as error:
        DockerAccessGroups(**{field: value})
    assert str(error.value) == f"{field}: must be a non-empty string"


@given(st.sets(st.sampled_from(["docker-sock", "docker-privileged", "x", "y", "Docker-Sock"])))
def test_the_grant_is_exactly_the_membership(groups):
    access = docker_access_for(groups, CONFIG)
    assert access.mount_socket == ("docker-sock" in groups)
    assert access.privileged == ("docker-privileged" in groups)
