"""Tests for `stellars.domain.docker_access`: grants applied and removed per spawn."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.docker_access import (
    DockerAccessGroups,
    apply_docker_access,
    docker_access_for,
)
from stellars.domain.errors import InvalidValue

CONFIG = DockerAccessGroups()
SOCKET = "/var/run/docker.sock"
BASE_VOLUMES = {"jupyterlab-{username}_home": "/home"}
BASE_HOST = {"device_requests": []}


def spawn(groups):
    access = docker_access_for(groups, CONFIG)
    return apply_docker_access(access, CONFIG, volumes=BASE_VOLUMES, extra_host_config=BASE_HOST)


def test_socket_group_mounts_the_socket_read_write():
    volumes, host = spawn({"docker-sock"})
    assert volumes[SOCKET] == {"bind": SOCKET, "mode": "rw"}
    assert "privileged" not in host


def test_privileged_group_runs_privileged():
    volumes, host = spawn({"docker-privileged", "students"})
    assert host["privileged"] is True
    assert SOCKET not in volumes


def test_leaving_the_groups_removes_what_an_earlier_spawn_added():
    granted_volumes, granted_host = spawn({"docker-sock", "docker-privileged"})
    access = docker_access_for(set(), CONFIG)
    volumes, host = apply_docker_access(
        access, CONFIG, volumes=granted_volumes, extra_host_config=granted_host
    )
    assert volumes == BASE_VOLUMES
    assert host == BASE_HOST


def test_the_inputs_are_never_mutated():
    before_volumes, before_host = dict(BASE_VOLUMES), dict(BASE_HOST)
    spawn({"docker-sock", "docker-privileged"})
    assert (before_volumes, before_host) == (BASE_VOLUMES, BASE_HOST)


def test_custom_group_names_and_socket_path():
    config = DockerAccessGroups(
        socket_group="ops", privileged_group="root-ish", socket_path="/run/docker.sock"
    )
    assert config.names == ("ops", "root-ish")
    access = docker_access_for({"ops"}, config)
    volumes, _ = apply_docker_access(access, config, volumes={}, extra_host_config={})
    assert "/run/docker.sock" in volumes


def test_blank_group_names_are_refused():
    with pytest.raises(InvalidValue) as error:
        DockerAccessGroups(socket_group=" ")
    assert error.value.field == "socket_group"


@given(st.sets(st.sampled_from(["docker-sock", "docker-privileged", "x", "y"])))
def test_the_grant_is_exactly_the_membership(groups):
    volumes, host = spawn(groups)
    assert (SOCKET in volumes) == ("docker-sock" in groups)
    assert host.get("privileged", False) == ("docker-privileged" in groups)
