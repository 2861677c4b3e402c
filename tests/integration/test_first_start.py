"""Security review H1 and M1 on a real hub: whatever the command line says, the hub never runs
labs as unisolated local processes it did not ask for, and the first visitor never becomes the
admin (signing up under the admin's name is refused while no admin password is set, through
the proxy and through the hub's own port alike)."""

from __future__ import annotations

import pytest

from tests.backends.platform import DEPLOY_CONFIG, HubClient, platform_env

pytestmark = [pytest.mark.real, pytest.mark.hub]


def test_auto_with_no_engine_refuses_to_start(jupyterhub_factory, tmp_path):
    env = platform_env(tmp_path / "data", DOCKER_HOST="unix:///nonexistent/docker.sock")
    env.pop("STELLARS_SPAWNER", None)  # the default: auto
    with pytest.raises(RuntimeError) as failed:
        jupyterhub_factory(DEPLOY_CONFIG, env, workdir=tmp_path / "hub")
    assert "STELLARS_SPAWNER" in str(failed.value)


def test_local_servers_are_refused_when_the_command_line_exposes_the_hub(
    jupyterhub_factory, tmp_path
):
    env = platform_env(
        tmp_path / "data", STELLARS_SPAWNER="local", STELLARS_ALLOW_LOCAL_AS_ROOT="1"
    )
    with pytest.raises(RuntimeError) as failed:
        jupyterhub_factory(DEPLOY_CONFIG, env, workdir=tmp_path / "hub", args=["--ip=0.0.0.0"])
    assert "STELLARS_SPAWNER" in str(failed.value)
    assert "loopback" in str(failed.value)


def test_the_first_visitor_cannot_sign_up_as_the_admin(jupyterhub_factory, tmp_path):
    # Docker servers (no lab is started), no admin password, every interface on the command
    # line: the deployment the review found open.
    env = platform_env(tmp_path / "data", STELLARS_SPAWNER="docker")
    hub = jupyterhub_factory(DEPLOY_CONFIG, env, workdir=tmp_path / "hub", args=["--ip=0.0.0.0"])
    hub_port_url = env["JUPYTERHUB_HUB_BIND_URL"]
    for front in (hub.public_url, hub_port_url):  # through the proxy, and the hub's own port
        visitor = HubClient(front)
        visitor.signup("admin", "the-attackers-password")
        answer = visitor.session.post(
            visitor.url("/login"),
            data={
                "username": "admin",
                "password": "the-attackers-password",
                "_xsrf": visitor.form_xsrf("/login"),
            },
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code != 302, f"the visitor became the admin through {front}"
