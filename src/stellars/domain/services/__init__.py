"""Domain services: use cases orchestrated over ports, with every rule taken from the domain.

They are plain classes whose constructors take ports and policies; nothing here knows about
Docker, SQL, Tornado or JupyterHub.
"""

from .activity import ActivityService, TickSummary, UserActivity
from .broadcast import BroadcastService
from .credentials import CredentialService
from .gpu import GpuService
from .refresh import Refresher, Snapshot
from .sessions import SessionService, SessionStatus
from .volumes import UserVolumeState, VolumeService

__all__ = [
    "ActivityService",
    "BroadcastService",
    "CredentialService",
    "GpuService",
    "Refresher",
    "SessionService",
    "SessionStatus",
    "Snapshot",
    "TickSummary",
    "UserActivity",
    "UserVolumeState",
    "VolumeService",
]
