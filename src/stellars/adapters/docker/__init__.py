"""Docker engine adapters (docker SDK): volumes, container control and container stats, plus
background refreshers that keep usage and sizes in memory for the web handlers."""

from .containers import (
    DockerContainerControl,
    DockerContainerStats,
    readings_from_stats,
    running_names,
)
from .engine import DEFAULT_SOCKET, DockerEngine, connect
from .refreshers import (
    ContainerStatsRefresher,
    PeriodicRefresher,
    Snapshot,
    VolumeSizeRefresher,
)
from .volumes import DockerVolumeStore, volumes_from_disk_usage

__all__ = [
    "DEFAULT_SOCKET",
    "ContainerStatsRefresher",
    "DockerContainerControl",
    "DockerContainerStats",
    "DockerEngine",
    "DockerVolumeStore",
    "PeriodicRefresher",
    "Snapshot",
    "VolumeSizeRefresher",
    "connect",
    "readings_from_stats",
    "running_names",
    "volumes_from_disk_usage",
]
