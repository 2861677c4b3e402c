"""Contract: our volume and container names equal DockerSpawner's own, with DockerSpawner as the
oracle, for any username and for the configured name templates."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from dockerspawner import DockerSpawner
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.volumes import DockerNaming, container_name, escape_name, user_volumes

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
