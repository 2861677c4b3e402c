"""JupyterHub adapters: the REST API directory used by managed services."""

from .models import parse_timestamp, server_from_model, user_from_model
from .rest_directory import PAGINATION_MEDIA_TYPE, RestHubDirectory

__all__ = [
    "PAGINATION_MEDIA_TYPE",
    "RestHubDirectory",
    "parse_timestamp",
    "server_from_model",
    "user_from_model",
]
