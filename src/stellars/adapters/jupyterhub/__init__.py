"""Adapters that run inside the JupyterHub process: the platform's routes and pages, the hub's
users and proxy as ports, and the pre-spawn hook."""

from pathlib import Path

from .app import HubHandle
from .directory import InProcessHubDirectory
from .extension import HUB_HANDLE_SETTING, PlatformRoutes, attach_platform
from .notifications import LabNotificationTransport
from .proxy import HubProxyRoutes
from .scopes import custom_scopes, platform_roles
from .spawner import PreSpawnHook, SpawnBase, spawn_settings
from .web import PLATFORM_SETTING

TEMPLATES_DIR = str(Path(__file__).resolve().parent / "templates")

__all__ = [
    "HUB_HANDLE_SETTING",
    "PLATFORM_SETTING",
    "TEMPLATES_DIR",
    "HubHandle",
    "HubProxyRoutes",
    "InProcessHubDirectory",
    "LabNotificationTransport",
    "PlatformRoutes",
    "PreSpawnHook",
    "SpawnBase",
    "attach_platform",
    "custom_scopes",
    "platform_roles",
    "spawn_settings",
]
