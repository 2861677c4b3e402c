"""Docker engine adapters (docker SDK): volumes, container control (with the GPUs containers
were created with), container stats, the container GPU probe and the free disk of the engine's
data directory, all on one `DockerEngine` (thread pool, deadlines, error map)."""

from .containers import (
    DockerContainerControl,
    DockerContainerStats,
    gpus_of,
    readings_from_stats,
    running_names,
)
from .engine import DEFAULT_SOCKET, DockerEngine, EngineProbe, connect, probe_engine
from .gpu_probe import ContainerNvidiaSmiProbe
from .host_disk import EngineDataDisk, space_from_stat
from .services import SwarmServiceControl
from .volumes import DockerVolumeStore, volumes_from_disk_usage

__all__ = [
    "DEFAULT_SOCKET",
    "ContainerNvidiaSmiProbe",
    "DockerContainerControl",
    "DockerContainerStats",
    "DockerEngine",
    "DockerVolumeStore",
    "EngineDataDisk",
    "EngineProbe",
    "SwarmServiceControl",
    "connect",
    "gpus_of",
    "probe_engine",
    "readings_from_stats",
    "running_names",
    "space_from_stat",
    "volumes_from_disk_usage",
]
