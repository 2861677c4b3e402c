"""The swarm-mode suite: one real two-node swarm per test session (tests.backends.swarm).

Every test in this directory is marked `swarm` (run the single-host suite alone with
`-m "not swarm"`); the cluster is started once, by the first test that asks for it, and torn
down at the end of the session, which fails when anything under its prefix is left behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from tooling.images import ensure_image, postgres_recipe, swarm_node_recipe

from tests.backends.fixtures import _ensure, backend
from tests.backends.swarm import SwarmCluster, start_swarm
from tests.swarm.sampling import hub_image_of

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.swarm)
            item.add_marker(pytest.mark.real)


@pytest.fixture(scope="session")
def swarm_node_image(docker_client: docker.DockerClient) -> str:
    """Tag of the node image (a Docker engine on Debian), built offline when missing."""
    with backend("swarm node image"):
        return ensure_image(docker_client, swarm_node_recipe()).tag


@pytest.fixture(scope="session")
def swarm(
    docker_client: docker.DockerClient, swarm_node_image: str, tiny_image: str
) -> Iterator[SwarmCluster]:
    """A two-node swarm (node 1 the manager), the tiny image loaded into both nodes, an
    attachable overlay network on it; removed completely at the end of the session."""
    with backend("docker swarm"):
        cluster = start_swarm(docker_client, swarm_node_image, nodes=2, images=[tiny_image])
    try:
        cluster.create_overlay()
        yield cluster
    finally:
        cluster.teardown()
    left = cluster.leftovers()
    if left:
        pytest.fail(f"the swarm's teardown left {left}", pytrace=False)


@pytest.fixture(scope="session")
def hub_image_on_nodes(request: pytest.FixtureRequest, swarm: SwarmCluster) -> str:
    """The hub image of this tree (as tests/e2e/test_container.py builds it), loaded into every
    node: the image of the node samplers and of the volume jobs."""
    image = hub_image_of(request, swarm.host)
    swarm.load_image(image)
    return image


@pytest.fixture(scope="session")
def postgres_image(request: pytest.FixtureRequest, docker_client: docker.DockerClient) -> str:
    """Tag of the PostgreSQL image made offline (tooling/images.py, `postgres_recipe`): the
    database of deploy/stack.yml where no registry serves the official one."""
    return _ensure(request, docker_client, postgres_recipe())
