"""JupyterHub adapters: the REST API directory and policy reader used by managed services."""

from .models import parse_timestamp, server_from_model, user_from_model
from .rest_directory import PAGINATION_MEDIA_TYPE, RestHubDirectory
from .rest_policies import RestPolicyReader

__all__ = [
    "PAGINATION_MEDIA_TYPE",
    "RestHubDirectory",
    "RestPolicyReader",
    "parse_timestamp",
    "server_from_model",
    "user_from_model",
]
