"""Every policy knob of the platform as frozen, validated values.

deploy/jupyterhub_config.py parses the environment into these once, at hub start; a bad value
stops the hub with a message naming the variable (the original fell back to defaults silently).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from .activity import ActivityPolicy
from .credentials import PassphrasePolicy, VaultPolicy
from .docker_access import DockerAccessGroups
from .gpu import GpuMode
from .sessions import SessionPolicy
from .validation import int_in_range, non_empty_text
from .volumes import DockerNaming


class OrphanVolumePolicy(str, Enum):
    """What happens to a deleted or renamed user's volumes."""

    KEEP = "keep"  # kept and listed as orphaned, never silently reused by a new user
    DELETE = "delete"


@dataclass(frozen=True, slots=True, kw_only=True)
class BroadcastPolicy:
    """Delivery bounds: servers contacted at once, and seconds allowed per server."""

    concurrency: int = 10
    timeout_seconds: int = 5

    def __post_init__(self) -> None:
        int_in_range("concurrency", self.concurrency, 1, 200)
        int_in_range("timeout_seconds", self.timeout_seconds, 1, 120)


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuSettings:
    mode: GpuMode = GpuMode.AUTO
    probe_image: str = ""
    probe_timeout_seconds: int = 20

    def __post_init__(self) -> None:
        if not isinstance(self.mode, GpuMode):
            raise TypeError("mode must be a GpuMode; parse it with GpuMode.parse")
        int_in_range("probe_timeout_seconds", self.probe_timeout_seconds, 1, 600)


@dataclass(frozen=True, slots=True, kw_only=True)
class StatsSettings:
    """Background refresh periods, so no web request waits on Docker."""

    container_stats_seconds: int = 10
    volume_sizes_seconds: int = 3600

    def __post_init__(self) -> None:
        int_in_range("container_stats_seconds", self.container_stats_seconds, 2, 3600)
        int_in_range("volume_sizes_seconds", self.volume_sizes_seconds, 10, 86_400)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformSettings:
    """Everything configurable, in one value handed to the composition root's builders."""

    admin_username: str = "admin"
    activity: ActivityPolicy = field(default_factory=ActivityPolicy)
    sessions: SessionPolicy = field(default_factory=SessionPolicy)
    passphrases: PassphrasePolicy = field(default_factory=PassphrasePolicy)
    vault: VaultPolicy = field(default_factory=VaultPolicy)
    docker_access: DockerAccessGroups = field(default_factory=DockerAccessGroups)
    naming: DockerNaming = field(default_factory=DockerNaming)
    gpu: GpuSettings = field(default_factory=GpuSettings)
    broadcast: BroadcastPolicy = field(default_factory=BroadcastPolicy)
    stats: StatsSettings = field(default_factory=StatsSettings)
    orphan_volumes: OrphanVolumePolicy = OrphanVolumePolicy.KEEP

    def __post_init__(self) -> None:
        non_empty_text("admin_username", self.admin_username)
