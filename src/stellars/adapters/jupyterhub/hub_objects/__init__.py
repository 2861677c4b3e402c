"""The ports over the hub's own objects (its ORM, users and spawners, proxy and API tokens), for
the services that run inside the hub process. Each reaches the running JupyterHub application
through a `HubHandle`, bound when the hub starts."""

from .directory import InProcessHubDirectory
from .handle import HubHandle
from .lab_servers import HubLabServers
from .local_gpus import LocalProcessGpus
from .notifications import LabNotificationTransport
from .policies import HubPolicyStore
from .proxy import HubProxyRoutes
from .requester import Requester, acting_for, current_requester, requester_of

__all__ = [
    "HubHandle",
    "HubLabServers",
    "HubPolicyStore",
    "HubProxyRoutes",
    "InProcessHubDirectory",
    "LabNotificationTransport",
    "LocalProcessGpus",
    "Requester",
    "acting_for",
    "current_requester",
    "requester_of",
]
