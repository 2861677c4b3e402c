"""Tests of the test tooling itself (tests/backends) against real backends."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import jupyterhub
import pytest
import requests
import sqlalchemy

from tests.backends import (
    ConfigurableHttpProxy,
    JupyterHubProcess,
    PostgresCluster,
    image_exists,
    is_alive,
    list_labelled,
    remove_labelled,
    remove_stale_labelled,
    session_labels,
)
from tests.backends.dockerhost import LABEL, SESSION_ID
from tests.backends.fixtures import RUN_STARTED

pytestmark = pytest.mark.real

FAKE_NVIDIA_SMI = """#!/bin/sh
# stands in for the real nvidia-smi: one fake GPU, CSV as --format=csv,noheader prints it
echo "0, Fake GPU 80GB, 81559 MiB, $*"
"""


@pytest.fixture(autouse=True)
def _nothing_labelled_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used Docker, none of this session's labelled objects may remain."""
    yield
    if "docker_client" in request.fixturenames:
        client: docker.DockerClient = request.getfixturevalue("docker_client")
        assert not list_labelled(client, SESSION_ID), "the test left labelled docker objects"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_tiny_image_container_runs_and_is_removed(
    docker_client: docker.DockerClient, tiny_image: str, docker_labels: dict[str, str]
) -> None:
    container = docker_client.containers.run(
        tiny_image,
        ["sh", "-c", "id -u user && echo hello > /tmp/greeting && cat /tmp/greeting"],
        labels=docker_labels,
        detach=True,
    )
    try:
        assert container.wait(timeout=30)["StatusCode"] == 0
        assert container.logs().decode().split() == ["1000", "hello"]
    finally:
        container.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(container.id)


def test_tiny_image_is_cached_by_recipe_hash(
    docker_client: docker.DockerClient, tiny_image: str
) -> None:
    repository, _, digest = tiny_image.partition(":")
    assert repository == "stellars-test-tiny"
    assert len(digest) == 12
    assert image_exists(docker_client, tiny_image)


def test_cleanup_removes_labelled_volume_with_data(
    docker_client: docker.DockerClient, tiny_image: str
) -> None:
    crashed_run = {LABEL: f"{_dead_pid()}-deadbeef"}
    volume = docker_client.volumes.create(labels=crashed_run)
    docker_client.containers.run(
        tiny_image,
        ["sh", "-c", "head -c 4096 /dev/zero > /data/blob"],
        volumes={volume.name: {"bind": "/data", "mode": "rw"}},
        labels=crashed_run,
        remove=True,
    )
    sizes = {v["Name"]: v["UsageData"]["Size"] for v in docker_client.df()["Volumes"]}
    assert sizes[volume.name] >= 4096

    live = docker_client.volumes.create(labels=session_labels())
    # A sibling worker's clean-up at its start keeps what was made since the run began.
    sibling = remove_stale_labelled(docker_client, created_before=RUN_STARTED)
    assert volume.name not in sibling.volumes
    removed = remove_stale_labelled(docker_client)
    assert volume.name in removed.volumes
    assert live.name not in removed.volumes  # this session is alive: not stale
    assert volume.name not in list_labelled(docker_client).volumes

    assert remove_labelled(docker_client, SESSION_ID).volumes == [live.name]
    with pytest.raises(docker.errors.NotFound):
        docker_client.volumes.get(live.name)


def test_cleanup_removes_labelled_container_and_network(
    docker_client: docker.DockerClient, tiny_image: str, docker_labels: dict[str, str]
) -> None:
    network = docker_client.networks.create("stellars-test-net-" + SESSION_ID, labels=docker_labels)
    container = docker_client.containers.run(
        tiny_image, labels=docker_labels, network=network.name, detach=True
    )
    assert container.status in {"created", "running"}
    removed = remove_labelled(docker_client, SESSION_ID)
    assert removed.containers == [container.name]
    assert removed.networks == [network.name]


def test_lab_image_has_the_venv_jupyterhub(
    docker_client: docker.DockerClient, lab_image: str, docker_labels: dict[str, str]
) -> None:
    output = docker_client.containers.run(
        lab_image,
        ["jupyterhub-singleuser", "--version"],
        network_mode="none",
        labels=docker_labels,
        remove=True,
    )
    assert output.decode().strip().splitlines()[-1] == jupyterhub.__version__
    user = docker_client.containers.run(
        lab_image, ["id", "-un"], network_mode="none", labels=docker_labels, remove=True
    )
    assert user.decode().strip() == "jovyan"


def test_fake_cuda_image_runs_the_given_script(
    docker_client: docker.DockerClient,
    fake_cuda_image: Callable[[str], str],
    docker_labels: dict[str, str],
) -> None:
    tag = fake_cuda_image(FAKE_NVIDIA_SMI)
    assert tag.startswith("stellars-test-fakecuda:")
    assert fake_cuda_image(FAKE_NVIDIA_SMI) == tag
    assert fake_cuda_image("echo other\n") != tag
    output = docker_client.containers.run(
        tag,
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
        network_mode="none",
        labels=docker_labels,
        remove=True,
    )
    assert output.decode().strip() == (
        "0, Fake GPU 80GB, 81559 MiB, --query-gpu=name --format=csv,noheader"
    )


def test_chp_routes_through_rest_api(chp: ConfigurableHttpProxy) -> None:
    routes = f"{chp.api_url}/api/routes"
    created = requests.post(
        f"{routes}/user/foo",
        json={"target": "http://127.0.0.1:9"},
        headers=chp.auth_headers(),
        timeout=5,
    )
    assert created.status_code == 201
    listed = requests.get(routes, headers=chp.auth_headers(), timeout=5)
    assert listed.status_code == 200
    assert listed.json()["/user/foo"]["target"] == "http://127.0.0.1:9"
    deleted = requests.delete(f"{routes}/user/foo", headers=chp.auth_headers(), timeout=5)
    assert deleted.status_code == 204
    assert "/user/foo" not in requests.get(routes, headers=chp.auth_headers(), timeout=5).json()
    assert requests.get(routes, timeout=5).status_code == 403


def test_chp_stop_leaves_no_process(chp: ConfigurableHttpProxy) -> None:
    assert chp.process is not None
    pid = chp.process.pid
    assert is_alive(pid)
    chp.stop()
    assert not is_alive(pid)
    chp.stop()  # idempotent: the fixture stops it again


def test_postgres_accepts_sqlalchemy_connections(
    postgres: PostgresCluster, postgres_url: str
) -> None:
    other_url = postgres.create_database()
    names = []
    for url in (postgres_url, other_url):
        engine = sqlalchemy.create_engine(url)
        try:
            with engine.connect() as connection:
                names.append(
                    connection.execute(sqlalchemy.text("select current_database()")).scalar()
                )
                tables = connection.execute(
                    sqlalchemy.text("select count(*) from pg_tables where schemaname = 'public'")
                ).scalar()
                assert tables == 0
        finally:
            engine.dispose()
    assert names[0] != names[1]
    assert postgres_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")


def test_minimal_jupyterhub_answers_behind_chp(
    jupyterhub_factory: Callable[..., JupyterHubProcess], minimal_hub_config: Path
) -> None:
    hub = jupyterhub_factory(minimal_hub_config)
    info = requests.get(f"{hub.api_url}/", timeout=5)
    assert info.status_code == 200
    assert info.json()["version"] == jupyterhub.__version__
    users = requests.get(f"{hub.api_url}/users", headers=hub.admin_headers(), timeout=5)
    assert users.status_code == 200
    assert isinstance(users.json(), list)
    assert requests.get(f"{hub.api_url}/users", timeout=5).status_code == 403

    assert hub.process is not None
    tree = [hub.process.pid, *hub.child_pids]
    assert hub.child_pids  # at least its CHP
    hub.stop()
    assert not any(is_alive(pid) for pid in tree)
