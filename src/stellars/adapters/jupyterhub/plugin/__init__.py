"""The platform as a JupyterHub plug-in: attached through the authenticator's handlers, the
pre-spawn and post-stop hooks, the DockerSpawner it runs, and the listeners and objects it
keeps in the hub (roles, groups, user events, the lab favicon handler)."""

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
from .spawn_hook import (
    ALL_GPUS_REQUEST,
    ImageOptions,
    PreSpawnHook,
    SpawnBase,
    gpus_request,
    spawn_settings,
)
from .stop_hook import PostStopHook

__all__ = [
    "ALL_GPUS_REQUEST",
    "PLUGIN_SETTING",
    "HubPlugin",
    "ImageOptions",
    "LabFavicon",
    "PlatformRoutes",
    "PostStopHook",
    "PreSpawnHook",
    "SpawnBase",
    "attach_platform",
    "bind",
    "favicon_pattern",
    "gpus_request",
    "spawn_settings",
    "start_background",
    "sync_hub_objects",
    "tune_process",
    "with_platform",
]
