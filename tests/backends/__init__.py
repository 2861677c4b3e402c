"""Test tooling that brings up real backends: Docker images, CHP, PostgreSQL, JupyterHub.

Plain functions and classes (no pytest); ``tests.backends.fixtures`` wraps them as fixtures.
Every helper raises ``BackendMissing`` when its backend is not installed.
"""

from tests.backends.dockerhost import (
    LABEL,
    SESSION_ID,
    Labelled,
    docker_client,
    list_labelled,
    remove_labelled,
    remove_stale_labelled,
    session_labels,
)
from tests.backends.errors import BackendMissing
from tests.backends.hub import (
    ADMIN_SCOPES,
    HubPorts,
    JupyterHubProcess,
    render_minimal_config,
)
from tests.backends.images import (
    EnsuredImage,
    ImageRecipe,
    ensure_fake_cuda_image,
    ensure_image,
    ensure_lab_image,
    ensure_tiny_image,
    fake_cuda_recipe,
    image_exists,
    lab_recipe,
    tiny_recipe,
)
from tests.backends.postgres import PostgresCluster
from tests.backends.processes import free_port, free_ports, is_alive
from tests.backends.proxy import ConfigurableHttpProxy

__all__ = [
    "ADMIN_SCOPES",
    "LABEL",
    "SESSION_ID",
    "BackendMissing",
    "ConfigurableHttpProxy",
    "EnsuredImage",
    "HubPorts",
    "ImageRecipe",
    "JupyterHubProcess",
    "Labelled",
    "PostgresCluster",
    "docker_client",
    "ensure_fake_cuda_image",
    "ensure_image",
    "ensure_lab_image",
    "ensure_tiny_image",
    "fake_cuda_recipe",
    "free_port",
    "free_ports",
    "image_exists",
    "is_alive",
    "lab_recipe",
    "list_labelled",
    "remove_labelled",
    "remove_stale_labelled",
    "render_minimal_config",
    "session_labels",
    "tiny_recipe",
]
