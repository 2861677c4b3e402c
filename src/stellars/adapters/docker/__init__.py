"""Docker engine adapters (docker SDK): volumes, container control (with the GPUs containers
were created with), container stats, the container GPU probe and the free disk of the engine's
data directory, all on one `DockerEngine` (thread pool, deadlines, error map); in swarm mode,
lab services, volume jobs on the nodes, and stats and volumes from the nodes' reports."""

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
from .node_jobs import SwarmVolumeJobs
from .node_reports import NodeReportStats, NodeReportVolumes
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
    "NodeReportStats",
    "NodeReportVolumes",
    "SwarmServiceControl",
    "SwarmVolumeJobs",
    "connect",
    "gpus_of",
    "probe_engine",
    "readings_from_stats",
    "running_names",
    "space_from_stat",
    "volumes_from_disk_usage",
]
