"""Tests for `stellars.domain.docker_access`: the grant follows group membership."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.docker_access import (
    DockerAccess,
    DockerAccessGroups,
    access_changes,
    docker_access_for,
)
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


NONE = DockerAccess(mount_socket=False, privileged=False)
SOCKET = DockerAccess(mount_socket=True, privileged=False)
PRIVILEGED = DockerAccess(mount_socket=False, privileged=True)
BOTH = DockerAccess(mount_socket=True, privileged=True)


@pytest.mark.parametrize(
    ("created_with", "current", "changes"),
    [
        (NONE, NONE, ()),
        (BOTH, BOTH, ()),
        (SOCKET, NONE, ("the Docker socket was taken away",)),
        (NONE, SOCKET, ("the Docker socket was granted",)),
        (PRIVILEGED, NONE, ("privileged mode was taken away",)),
        (NONE, PRIVILEGED, ("privileged mode was granted",)),
        (SOCKET, PRIVILEGED, ("the Docker socket was taken away", "privileged mode was granted")),
        (BOTH, NONE, ("the Docker socket was taken away", "privileged mode was taken away")),
    ],
)
def test_the_changes_between_a_containers_access_and_the_current_one(
    created_with, current, changes
):
    assert access_changes(created_with, current) == changes


@given(st.booleans(), st.booleans(), st.booleans(), st.booleans())
def test_there_are_changes_exactly_when_the_access_differs(socket, privileged, socket2, priv2):
    created_with, current = DockerAccess(socket, privileged), DockerAccess(socket2, priv2)
    changes = access_changes(created_with, current)
    assert bool(changes) == (created_with != current)
    assert len(changes) == (socket != socket2) + (privileged != priv2)
