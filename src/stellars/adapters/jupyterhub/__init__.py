"""Adapters that run inside the JupyterHub process: the platform's routes and pages, the hub's
users and proxy as ports, and the pre-spawn hook."""

from pathlib import Path

from .app import HubHandle
from .directory import InProcessHubDirectory
from .extension import HUB_HANDLE_SETTING, PlatformRoutes, attach_platform
from .favicon import LAB_FAVICON_SETTING, LabFavicon
from .hub_database import hub_db_kwargs
from .lab_servers import HubLabServers
from .notifications import LabNotificationTransport
from .proxy import HubProxyRoutes
from .scopes import custom_scopes, platform_roles
from .spawner import PreSpawnHook, SpawnBase, spawn_settings
from .web import PLATFORM_SETTING
from .web.branding import BRANDING_DIR_SETTING, branding_base

TEMPLATES_DIR = str(Path(__file__).resolve().parent / "templates")

__all__ = [
    "BRANDING_DIR_SETTING",
    "HUB_HANDLE_SETTING",
    "LAB_FAVICON_SETTING",
    "PLATFORM_SETTING",
    "TEMPLATES_DIR",
    "HubHandle",
    "HubLabServers",
    "HubProxyRoutes",
    "InProcessHubDirectory",
    "LabFavicon",
    "LabNotificationTransport",
    "PlatformRoutes",
    "PreSpawnHook",
    "SpawnBase",
    "attach_platform",
    "branding_base",
    "custom_scopes",
    "hub_db_kwargs",
    "platform_roles",
    "spawn_settings",
]
