"""The composition function: every domain service of the platform, built from one settings value
and the adapters that implement the ports.

deploy/jupyterhub_config.py calls `build` once with the real adapters and hands the result to
the hub (`c.JupyterHub.tornado_settings["stellars"]`); tests call it with the in-memory fakes of
`stellars.adapters.memory`. No adapter is built here, in a default argument or at import: the
caller decides every one.

    platform = build(settings, clock=SystemClock(), directory=..., activity_store=..., ...)
    await platform.start()   # GPU probe and background refreshers, on the running loop
    ...
    await platform.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from stellars.domain.activity import ActivityLevel
from stellars.domain.containers import ContainerUsage
from stellars.domain.errors import InvalidValue
from stellars.domain.hub import HubUser
from stellars.domain.services import (
    ActivityService,
    BrandingService,
    BroadcastService,
    CredentialService,
    CullWarner,
    CullWarning,
    DashboardService,
    EventCounter,
    EventTotals,
    GpuService,
    Refresher,
    ServerService,
    SessionService,
    UserLifecycleService,
    VolumeService,
    users_by_level,
)
from stellars.domain.settings import PlatformSettings
from stellars.domain.volumes import VolumeInfo, container_name
from stellars.ports import (
    ActivityStore,
    Clock,
    ContainerControl,
    ContainerStats,
    CredentialStore,
    CredentialVault,
    EventLog,
    GpuProbe,
    HubDirectory,
    LabServers,
    NotificationTransport,
    PasswordGenerator,
    ProxyRoutes,
    SessionStore,
    StaticAssets,
    VolumeStore,
)

log = logging.getLogger(__name__)

#: How often the metrics' background figures (activity levels, event totals) are refreshed.
METRICS_INTERVAL = timedelta(seconds=30)
#: How often running servers are checked for a warning before they are stopped.
WARNING_INTERVAL = timedelta(seconds=20)
#: How long one dashboard build answers the polls that follow it. A burst of polls (admin tabs,
#: scripts) then costs one build a second, while what the platform changes itself (a reset, a
#: sample, an extension, a user) still shows at once; a server started or stopped, within it.
DASHBOARD_REUSE = timedelta(seconds=1)

ContainerUsages = Mapping[str, ContainerUsage]
VolumeSizes = Mapping[str, VolumeInfo]


@dataclass(frozen=True, kw_only=True)
class Platform:
    """The services of one hub, and the adapters handlers reach directly (container restarts,
    proxy routes, branding assets). Built by `build`; started and stopped by the hub."""

    settings: PlatformSettings
    clock: Clock
    directory: HubDirectory
    activity: ActivityService
    dashboard: DashboardService
    sessions: SessionService
    volumes: VolumeService
    broadcast: BroadcastService
    credentials: CredentialService
    gpu: GpuService
    container_stats: Refresher[ContainerUsages]
    volume_sizes: Refresher[VolumeSizes]
    activity_levels: Refresher[Mapping[ActivityLevel, int]]
    event_totals: Refresher[EventTotals]
    warner: CullWarner
    cull_warnings: Refresher[tuple[CullWarning, ...]]
    containers: ContainerControl
    proxy: ProxyRoutes
    assets: StaticAssets
    servers: ServerService
    users: UserLifecycleService
    branding: BrandingService
    facts: Mapping[str, str] = field(default_factory=dict)
    _tasks: list[asyncio.Task[object]] = field(default_factory=list, repr=False)

    def __deepcopy__(self, memo: dict[int, object]) -> Platform:
        # traitlets deep-copies config values (tornado_settings included): the hub must get this
        # very platform, not a clone with its own thread pools and caches.
        return self

    @property
    def background(self) -> tuple[Refresher[Any], ...]:
        """Every refresher the platform keeps running while the hub runs."""
        return (
            self.container_stats,
            self.volume_sizes,
            self.activity_levels,
            self.event_totals,
            self.cull_warnings,
        )

    def bootstrap(self) -> None:
        """What must hold before the hub serves its first request: the admin's password, when
        the deployer set one, is the stored one (so nobody can sign up under that name)."""
        hub = self.settings.hub
        if hub.admin_password:
            self.credentials.set_known_password(hub.admin_username, hub.admin_password)
            log.info("the admin %r has the password the deployer set", hub.admin_username)

    async def start(self) -> None:
        """Start the background work on the running loop: the GPU probe (never awaited here, so
        a slow probe cannot hold up the hub) and the refreshers."""
        self._tasks.append(asyncio.get_running_loop().create_task(self._detect_gpu()))
        for refresher in self.background:
            refresher.start()

    async def _detect_gpu(self) -> None:
        decision = await self.gpu.detect()
        log.info("GPU decision: %s", decision.reason)

    async def stop(self) -> None:
        """Stop the refreshers and any probe still running; let user follow-ups finish."""
        await self.users.stop()
        for refresher in self.background:
            await refresher.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()


def running_container_names(users: list[HubUser], settings: PlatformSettings) -> list[str]:
    """The containers DockerSpawner runs for the running servers of `users`."""
    naming = settings.spawner.naming
    return [
        container_name(user.name, naming, server.name)
        for user in users
        for server in user.servers.values()
        if server.running
    ]


def build(
    settings: PlatformSettings,
    *,
    clock: Clock,
    directory: HubDirectory,
    activity_store: ActivityStore,
    session_store: SessionStore,
    volume_store: VolumeStore,
    containers: ContainerControl,
    container_stats: ContainerStats,
    gpu_probe: GpuProbe,
    transport: NotificationTransport,
    passwords: PasswordGenerator,
    accounts: CredentialStore,
    vault: CredentialVault,
    assets: StaticAssets,
    proxy: ProxyRoutes,
    lab_servers: LabServers,
    event_log: EventLog,
    facts: Mapping[str, str] | None = None,
) -> Platform:
    """Every service of the platform from `settings` and one adapter per port.

    `facts` are what the composition root found at start (the spawner in use and why, the lab
    image); the settings page shows them beside the settings.

    Raises InvalidValue naming the settings field ("passphrases.words") for settings the
    adapters reveal to be unusable, such as a passphrase policy too weak for the word list.
    """

    try:
        credentials = CredentialService(
            generator=passwords,
            accounts=accounts,
            vault=vault,
            policy=settings.passphrases,
            exempt={settings.hub.admin_username},
        )
    except InvalidValue as error:  # name the setting, not just the policy's field
        raise InvalidValue(f"passphrases.{error.field}", error.message) from None

    async def usage() -> ContainerUsages:
        names = running_container_names(await directory.list_users(), settings)
        return MappingProxyType(dict(await container_stats.usage(names)))

    async def sizes() -> VolumeSizes:
        return MappingProxyType({info.name: info for info in await volume_store.volumes()})

    activity = ActivityService(
        store=activity_store, directory=directory, clock=clock, policy=settings.activity
    )
    sessions = SessionService(
        store=session_store, directory=directory, clock=clock, policy=settings.sessions
    )
    volumes = VolumeService(
        store=volume_store,
        directory=directory,
        volumes=settings.spawner.user_volumes,
        naming=settings.spawner.naming,
    )
    container_stats_cache: Refresher[ContainerUsages] = Refresher(
        usage,
        empty=MappingProxyType({}),
        interval=timedelta(seconds=settings.stats.container_stats_seconds),
        clock=clock,
        name="container stats",
    )
    volume_sizes_cache: Refresher[VolumeSizes] = Refresher(
        sizes,
        empty=MappingProxyType({}),
        interval=timedelta(seconds=settings.stats.volume_sizes_seconds),
        clock=clock,
        name="volume sizes",
    )
    servers = ServerService(
        directory=directory,
        containers=containers,
        lab=lab_servers,
        clock=clock,
        naming=settings.spawner.naming,
        serve_timeout=timedelta(seconds=settings.spawner.start_timeout_seconds),
    )
    dashboard = DashboardService(
        directory=directory,
        activity=activity,
        sessions=sessions,
        volumes=volumes,
        accounts=accounts,
        container_stats=container_stats_cache,
        volume_sizes=volume_sizes_cache,
        clock=clock,
        reuse_for=DASHBOARD_REUSE,
    )
    users = UserLifecycleService(
        credentials=credentials,
        activity=activity_store,
        sessions=session_store,
        volumes=volumes,
        orphan_policy=settings.orphan_volumes,
        on_volumes_changed=volume_sizes_cache.request_refresh,
        on_users_changed=dashboard.invalidate,
    )
    events = EventCounter(event_log)
    warner = CullWarner(
        directory=directory,
        sessions=sessions,
        transport=transport,
        clock=clock,
        extend_url=f"{settings.hub.base_path}hub/home",
    )

    async def levels() -> Mapping[ActivityLevel, int]:
        return await users_by_level(directory, activity)

    return Platform(
        settings=settings,
        clock=clock,
        directory=directory,
        activity=activity,
        dashboard=dashboard,
        sessions=sessions,
        volumes=volumes,
        broadcast=BroadcastService(
            directory=directory, transport=transport, policy=settings.broadcast
        ),
        credentials=credentials,
        gpu=GpuService(probe=gpu_probe, mode=settings.gpu.mode),
        container_stats=container_stats_cache,
        volume_sizes=volume_sizes_cache,
        activity_levels=Refresher(
            levels,
            empty=MappingProxyType({}),
            interval=METRICS_INTERVAL,
            clock=clock,
            name="activity levels",
        ),
        event_totals=Refresher(
            events.refresh,
            empty=EventTotals(),
            interval=METRICS_INTERVAL,
            clock=clock,
            name="event totals",
        ),
        warner=warner,
        cull_warnings=Refresher(
            warner.check,
            empty=(),
            interval=WARNING_INTERVAL,
            clock=clock,
            name="cull warnings",
        ),
        containers=containers,
        proxy=proxy,
        assets=assets,
        servers=servers,
        users=users,
        branding=BrandingService(assets=assets, plan=settings.branding.plan),
        facts=MappingProxyType(dict(facts or {})),
    )
