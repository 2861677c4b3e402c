"""The platform as a JupyterHub plug-in: attached through the authenticator's handlers, the
pre-spawn hook, the DockerSpawner it runs, and the listeners and objects it keeps in the hub
(roles, groups, user events, the lab favicon handler)."""

from .attach import (
    PLUGIN_SETTING,
    HubPlugin,
    PlatformRoutes,
    attach_platform,
    bind,
    start_background,
    sync_hub_objects,
    tune_process,
    with_platform,
)
from .favicon import LabFavicon, favicon_pattern
from .spawn_hook import ALL_GPUS_REQUEST, ImageOptions, PreSpawnHook, SpawnBase, spawn_settings

__all__ = [
    "ALL_GPUS_REQUEST",
    "PLUGIN_SETTING",
    "HubPlugin",
    "ImageOptions",
    "LabFavicon",
    "PlatformRoutes",
    "PreSpawnHook",
    "SpawnBase",
    "attach_platform",
    "bind",
    "favicon_pattern",
    "spawn_settings",
    "start_background",
    "sync_hub_objects",
    "tune_process",
    "with_platform",
]
