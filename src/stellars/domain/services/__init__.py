"""Domain services: use cases orchestrated over ports, with every rule taken from the domain.

They are plain classes whose constructors take ports and policies; nothing here knows about
Docker, SQL, Tornado or JupyterHub.
"""

from .activity import ActivityService, TickSummary, UsageHistory, UserActivity
from .audit import AuditTrail
from .branding import BrandingService
from .broadcast import BroadcastService
from .busy import BusySample, BusyService
from .credentials import CredentialService
from .dashboard import (
    Dashboard,
    DashboardRow,
    DashboardService,
    NodeState,
    SamplingStatus,
    ServerStatus,
    SnapshotState,
)
from .favicon_routes import FaviconRoutes
from .gpu import GpuService
from .lookup import existing_user
from .monitoring import EventCounter, EventTotals, users_by_level
from .policies import (
    PolicyOverview,
    PolicyResolver,
    PolicyService,
    UserResources,
    platform_defaults,
)
from .quotas import QuotaService, QuotaWarning, UserStorage
from .refresh import Refresher, Snapshot
from .servers import RestartReport, ServerService
from .sessions import ExtendedSession, SessionService, SessionStatus
from .stops import LastStop, ServerStopService
from .users import FollowUp, UserLifecycleService
from .volumes import (
    OrphanRemoval,
    OrphansListing,
    UserVolumes,
    UserVolumeState,
    VolumeService,
    VolumesOverview,
)
from .warnings import CullWarner, CullWarning

__all__ = [
    "ActivityService",
    "AuditTrail",
    "BrandingService",
    "BroadcastService",
    "BusySample",
    "BusyService",
    "CredentialService",
    "CullWarner",
    "CullWarning",
    "Dashboard",
    "DashboardRow",
    "DashboardService",
    "EventCounter",
    "EventTotals",
    "ExtendedSession",
    "FaviconRoutes",
    "FollowUp",
    "GpuService",
    "LastStop",
    "NodeState",
    "OrphanRemoval",
    "OrphansListing",
    "PolicyOverview",
    "PolicyResolver",
    "PolicyService",
    "QuotaService",
    "QuotaWarning",
    "Refresher",
    "RestartReport",
    "SamplingStatus",
    "ServerService",
    "ServerStatus",
    "ServerStopService",
    "SessionService",
    "SessionStatus",
    "Snapshot",
    "SnapshotState",
    "TickSummary",
    "UsageHistory",
    "UserActivity",
    "UserLifecycleService",
    "UserResources",
    "UserStorage",
    "UserVolumeState",
    "UserVolumes",
    "VolumeService",
    "VolumesOverview",
    "existing_user",
    "platform_defaults",
    "users_by_level",
]
