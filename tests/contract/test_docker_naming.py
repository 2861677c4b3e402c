"""Contract: our volume and container names equal DockerSpawner's own, with DockerSpawner as the
oracle, for any username and for the configured name templates."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import docker.errors
import pytest
from dockerspawner import DockerSpawner
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.volumes import (
    VOLUME_NAME_LIMIT,
    DockerNaming,
    container_name,
    escape_name,
    user_volumes,
)

VOLUMES = {
    "jupyterlab-{username}_home": "/home",
    "jupyterlab-{username}_workspace": "/home/lab/workspace",
    "jupyterhub-user-{username}-cache": {"bind": "/home/lab/.cache", "mode": "rw"},
    "jupyterhub_shared": "/mnt/shared",
}
NAME_TEMPLATES = [None, "{prefix}-{username}", "jupyterlab-{username}", "{prefix}.{raw_username}"]

usernames = st.one_of(
    st.text(min_size=1, max_size=24),
    st.text(alphabet="abcXYZ019.-_@+ üñ東", min_size=1, max_size=24),
    st.from_regex(r"[a-z][a-z0-9.@_-]{0,20}", fullmatch=True),
)
server_names = st.one_of(st.just(""), st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True))


def oracle(username: str, server_name: str, naming: DockerNaming) -> DockerSpawner:
    settings = {"prefix": naming.prefix, "image": naming.image, "volumes": VOLUMES}
    if naming.name_template:
        settings["name_template"] = naming.name_template
    return DockerSpawner(
        user=SimpleNamespace(name=username),
        orm_spawner=SimpleNamespace(name=server_name, state=None, server=None),
        **settings,
    )


@pytest.mark.parametrize("template", NAME_TEMPLATES)
@given(username=usernames, server_name=server_names)
def test_container_and_volume_names_equal_dockerspawners(template, username, server_name):
    naming = DockerNaming(prefix="jupyterlab", name_template=template, image="org/lab:4.2")
    spawner = oracle(username, server_name, naming)
    assert escape_name(username) == spawner.escaped_name
    assert container_name(username, naming, server_name) == spawner.object_name
    ours = {v.name_for(username, naming, server_name): v.mount_point for v in user_volumes(VOLUMES)}
    theirs = {name: bind["bind"] for name, bind in spawner.volume_binds.items() if name in ours}
    assert ours == theirs
    assert len(theirs) == len(user_volumes(VOLUMES))


@pytest.mark.real
def test_the_engine_creates_a_volume_name_of_the_limit_and_refuses_one_more(
    docker_client, docker_labels
):
    """VOLUME_NAME_LIMIT is the engine's: the docstring says where it was measured, this
    checks it on the engine the tests run against."""
    stem = f"stellars-test-{uuid.uuid4().hex[:8]}-"
    longest = stem + "a" * (VOLUME_NAME_LIMIT - len(stem))
    volume = docker_client.volumes.create(longest, labels=docker_labels)
    try:
        assert volume.name == longest
    finally:
        volume.remove()
    with pytest.raises(docker.errors.APIError, match="file name too long"):
        docker_client.volumes.create(longest + "a", labels=docker_labels)
    assert not docker_client.volumes.list(filters={"name": stem})


@pytest.mark.real
def test_the_engine_takes_container_names_far_longer_than_volume_names(
    docker_client, docker_labels, tiny_image
):
    """Containers have no limit of their own (CONTAINER_NAME_LIMIT is the engine's request
    size): a name of 20,000 characters is created."""
    stem = f"stellars-test-{uuid.uuid4().hex[:8]}-"
    name = stem + "c" * (20_000 - len(stem))
    container = docker_client.containers.create(tiny_image, name=name, labels=docker_labels)
    try:
        assert docker_client.containers.get(container.id).name == name
    finally:
        container.remove(force=True)
