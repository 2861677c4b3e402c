"""In-memory implementations of every port: small, obvious, and verified by the same contract
suites as the real adapters (tests/contract). Their state is public so tests can arrange it."""

from .activity_store import InMemoryActivityStore
from .audit import InMemoryAuditLog
from .busy_store import InMemoryBusyStore
from .clock import ManualClock
from .containers import InMemoryContainers
from .credentials import InMemoryCredentialStore, SequencePasswordGenerator
from .event_log import InMemoryEventLog
from .gpu import StaticGpuProbe
from .host_disk import StaticHostDisk
from .hub_directory import InMemoryHubDirectory
from .node_reports import InMemoryNodeReportStore
from .notifications import RecordingTransport
from .policies import InMemoryPolicyStore
from .proxy import InMemoryProxyRoutes
from .server_stops import InMemoryServerStopStore
from .servers import ScriptedLabServers
from .session_store import InMemorySessionStore
from .static_assets import InMemoryStaticAssets
from .volumes import InMemoryVolumeStore

__all__ = [
    "InMemoryActivityStore",
    "InMemoryAuditLog",
    "InMemoryBusyStore",
    "InMemoryContainers",
    "InMemoryCredentialStore",
    "InMemoryEventLog",
    "InMemoryHubDirectory",
    "InMemoryNodeReportStore",
    "InMemoryPolicyStore",
    "InMemoryProxyRoutes",
    "InMemoryServerStopStore",
    "InMemorySessionStore",
    "InMemoryStaticAssets",
    "InMemoryVolumeStore",
    "ManualClock",
    "RecordingTransport",
    "ScriptedLabServers",
    "SequencePasswordGenerator",
    "StaticGpuProbe",
    "StaticHostDisk",
]
