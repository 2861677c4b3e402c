"""Adapters that run inside the JupyterHub process, one room per job:

- `hub_objects`: the ports over the hub's own objects (directory, proxy routes, lab servers,
  notification transport, group policies, local servers' GPUs), reached through a `HubHandle`;
- `plugin`: the platform as a hub plug-in (routes through any authenticator, the pre-spawn and
  post-stop hooks, the DockerSpawner it runs, roles, groups, user events, the lab favicon
  handler);
- `web`: the platform's routes and pages;
- `hub_process`: the process itself (loop-lag monitor and stall reports, scheduling priority,
  garbage collection, SQLite connections).
"""

from pathlib import Path

from .hub_objects import (
    HubHandle,
    HubLabServers,
    HubPolicyStore,
    HubProxyRoutes,
    InProcessHubDirectory,
    LabNotificationTransport,
    LocalProcessGpus,
)
from .hub_process import hub_db_kwargs
from .plugin import (
    PLUGIN_SETTING,
    HubPlugin,
    ImageOptions,
    PlatformRoutes,
    PostStopHook,
    PreSpawnHook,
    SpawnBase,
    attach_platform,
    spawn_settings,
    with_platform,
)
from .scopes import custom_scopes, platform_roles
from .web import branding_base

TEMPLATES_DIR = str(Path(__file__).resolve().parent / "templates")

__all__ = [
    "PLUGIN_SETTING",
    "TEMPLATES_DIR",
    "HubHandle",
    "HubLabServers",
    "HubPlugin",
    "HubPolicyStore",
    "HubProxyRoutes",
    "ImageOptions",
    "InProcessHubDirectory",
    "LabNotificationTransport",
    "LocalProcessGpus",
    "PlatformRoutes",
    "PostStopHook",
    "PreSpawnHook",
    "SpawnBase",
    "attach_platform",
    "branding_base",
    "custom_scopes",
    "hub_db_kwargs",
    "platform_roles",
    "spawn_settings",
    "with_platform",
]
