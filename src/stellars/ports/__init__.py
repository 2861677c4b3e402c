"""The interfaces the domain needs from the world, as `typing.Protocol` classes.

Each port has a small in-memory fake in `stellars.adapters.memory` and one contract suite in
tests/contract that every implementation, fake or real, must pass. Port methods raise only the
errors of `stellars.domain.errors`.
"""

from .activity_store import ActivityStore
from .audit import AuditLog
from .busy_store import BusyStore
from .clock import Clock
from .containers import ContainerControl, ContainerStats, GpuReadBack
from .credentials import CredentialStore, CredentialVault, PasswordGenerator
from .event_log import EventLog
from .gpu import GpuProbe
from .host_disk import HostDisk
from .hub_directory import HubDirectory
from .node_reports import NodeReportStore
from .notifications import NotificationTransport
from .policies import PolicyReader, PolicyStore
from .proxy import ProxyRoutes
from .server_stops import ServerStopStore
from .servers import LabServers
from .session_store import SessionStore
from .static_assets import StaticAssets
from .volumes import VolumeStore

__all__ = [
    "ActivityStore",
    "AuditLog",
    "BusyStore",
    "Clock",
    "ContainerControl",
    "ContainerStats",
    "CredentialStore",
    "CredentialVault",
    "EventLog",
    "GpuProbe",
    "GpuReadBack",
    "HostDisk",
    "HubDirectory",
    "LabServers",
    "NodeReportStore",
    "NotificationTransport",
    "PasswordGenerator",
    "PolicyReader",
    "PolicyStore",
    "ProxyRoutes",
    "ServerStopStore",
    "SessionStore",
    "StaticAssets",
    "VolumeStore",
]
