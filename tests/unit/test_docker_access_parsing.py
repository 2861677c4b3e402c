"""The Docker access a container was created with, read from a `docker inspect` answer: the
host's socket bind-mounted (as the engine lists mounts, or as the binds asked for it) and the
privileged flag."""

from __future__ import annotations

import pytest

from stellars.adapters.docker.containers import docker_access_of
from stellars.domain.docker_access import DockerAccess

SOCKET = "/var/run/docker.sock"


def inspected(*, mounts=(), binds=None, privileged=False) -> dict[str, object]:
    return {"Mounts": list(mounts), "HostConfig": {"Binds": binds, "Privileged": privileged}}


def bind(source: str, target: str) -> dict[str, object]:
    return {"Type": "bind", "Source": source, "Destination": target, "RW": True}


def test_a_spawners_container_with_both_grants():
    attrs = inspected(
        mounts=[
            {"Type": "volume", "Name": "jupyterlab-ann_home", "Destination": "/home/jovyan"},
            bind(SOCKET, SOCKET),
        ],
        binds=["jupyterlab-ann_home:/home/jovyan:rw", f"{SOCKET}:{SOCKET}:rw"],
        privileged=True,
    )
    assert docker_access_of(attrs, SOCKET) == DockerAccess(mount_socket=True, privileged=True)


def test_a_container_without_grants():
    attrs = inspected(
        mounts=[{"Type": "volume", "Name": "v", "Source": "/x", "Destination": "/home/jovyan"}],
        binds=["v:/home/jovyan:rw"],
    )
    assert docker_access_of(attrs, SOCKET) == DockerAccess(mount_socket=False, privileged=False)


@pytest.mark.parametrize(
    "attrs",
    [
        inspected(mounts=[bind(SOCKET, SOCKET)]),  # the engine's list alone
        inspected(mounts=[bind(SOCKET, "/elsewhere.sock")]),  # the host's socket, moved
        inspected(mounts=[bind("/run/docker.sock", SOCKET)]),  # something at the socket's path
        inspected(binds=[f"{SOCKET}:{SOCKET}"]),  # the binds alone, without options
        inspected(binds=[f"{SOCKET}:/d.sock:ro"]),
        inspected(binds=[f"/run/docker.sock:{SOCKET}:rw"]),
    ],
)
def test_the_socket_counts_at_either_end_of_a_bind(attrs):
    assert docker_access_of(attrs, SOCKET).mount_socket is True


@pytest.mark.parametrize(
    "attrs",
    [
        inspected(mounts=[{"Type": "volume", "Source": SOCKET, "Destination": SOCKET}]),
        inspected(mounts=[bind(SOCKET + "2", "/var/run/docker.sock.d")]),
        inspected(binds=[f"{SOCKET}x:/y"]),
        inspected(binds=[123]),
        {},
        {"Mounts": None, "HostConfig": None},
    ],
)
def test_other_mounts_and_missing_blocks_are_no_socket(attrs):
    assert docker_access_of(attrs, SOCKET) == DockerAccess(mount_socket=False, privileged=False)


@pytest.mark.parametrize(("flag", "privileged"), [(True, True), (False, False), ("true", False)])
def test_privileged_is_the_flag_itself(flag, privileged):
    assert docker_access_of(inspected(privileged=flag), SOCKET).privileged is privileged


def test_the_socket_path_is_the_configured_one():
    attrs = inspected(mounts=[bind("/run/docker.sock", "/run/docker.sock")])
    assert docker_access_of(attrs, "/run/docker.sock").mount_socket is True
    assert docker_access_of(attrs, SOCKET).mount_socket is False
