"""The composition function: every domain service of the platform, built from one settings value
and the adapters that implement the ports.

deploy/jupyterhub_config.py calls `build` once with the real adapters and hands the result to
the hub; tests call it with the in-memory fakes of `stellars.adapters.memory`. No adapter is
built here, in a default argument or at import: the caller decides every one.

    platform = build(settings, clock=SystemClock(), directory=..., activity_store=..., ...)
    await platform.start()          # GPU probe and background refreshers, on the running loop
    platform.start_route_keeping()  # once the hub's proxy runs
    ...
    await platform.stop()           # at the hub's shutdown
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any, TypeVar

from stellars.domain.activity import ActivityLevel
from stellars.domain.audit import AuditAction, AuditOutcome
from stellars.domain.containers import ContainerUsage
from stellars.domain.disk import DiskMeasurement
from stellars.domain.errors import InvalidValue
from stellars.domain.gpu import GpuUseResult
from stellars.domain.hub import HubUser
from stellars.domain.limits import ResolvedLimits
from stellars.domain.services import (
    ActivityService,
    AuditTrail,
    BrandingService,
    BroadcastService,
    BusySample,
    BusyService,
    CredentialService,
    CullWarner,
    CullWarning,
    DashboardService,
    EventCounter,
    EventTotals,
    FaviconRoutes,
    GpuService,
    PolicyService,
    QuotaService,
    QuotaWarning,
    Refresher,
    ServerService,
    ServerStopService,
    SessionService,
    UserLifecycleService,
    VolumeService,
    platform_defaults,
    users_by_level,
)
from stellars.domain.settings import PlatformSettings
from stellars.domain.volumes import VolumeInfo, container_name
from stellars.ports import (
    ActivityStore,
    AuditLog,
    BusyStore,
    Clock,
    ContainerControl,
    ContainerStats,
    CredentialStore,
    CredentialVault,
    EventLog,
    GpuProbe,
    GpuReadBack,
    HostDisk,
    HubDirectory,
    LabServers,
    NodeReportStore,
    NotificationTransport,
    PasswordGenerator,
    PolicyStore,
    ProxyRoutes,
    ServerStopStore,
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
#: How long after that a build is still served at once while the next is made behind it: a poll
#: waits for a build (10,000 users: a quarter of a second) only after an input changed or a
#: quiet spell, and a server started or stopped elsewhere shows within 5 s.
DASHBOARD_REFRESH_BEHIND = timedelta(seconds=4)

#: How often the GPUs held are checked against the servers that run and what their containers
#: hold (after the read-back at start, which covers every running server).
GPU_HOLDINGS_INTERVAL = timedelta(seconds=60)
#: How often the free disk of the engine's data directory is measured (a short-lived container
#: each time; disks fill over hours, not seconds).
HOST_DISK_INTERVAL = timedelta(minutes=5)
#: How often running users' storage is checked for a warning (against the last measured sizes).
QUOTA_WARNING_INTERVAL = timedelta(seconds=30)
#: How often running servers are checked for a missing favicon route.
FAVICON_ROUTES_INTERVAL = timedelta(seconds=10)
#: How often entries older than the audit feed's retention are pruned.
AUDIT_PRUNE_INTERVAL = timedelta(hours=1)
#: How long the hub's shutdown waits for user follow-ups still in flight.
SHUTDOWN_GRACE_SECONDS = 3.0

ContainerUsages = Mapping[str, ContainerUsage]
AuditCounts = Mapping[tuple[AuditAction, AuditOutcome], int]
VolumeSizes = Mapping[str, VolumeInfo]
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Platform:
    """The domain services of one hub and the refreshers that keep their data fresh in the
    background. Built by `build`; started and stopped with the hub."""

    settings: PlatformSettings
    clock: Clock
    activity: ActivityService
    dashboard: DashboardService
    sessions: SessionService
    volumes: VolumeService
    broadcast: BroadcastService
    credentials: CredentialService
    gpu: GpuService
    policies: PolicyService
    servers: ServerService
    stops: ServerStopService
    users: UserLifecycleService
    branding: BrandingService
    favicon_routes: FaviconRoutes
    warner: CullWarner
    container_stats: Refresher[ContainerUsages]
    activity_levels: Refresher[Mapping[ActivityLevel, int]]
    event_totals: Refresher[EventTotals]
    cull_warnings: Refresher[tuple[CullWarning, ...]]
    favicon_reconciler: Refresher[int]
    #: The memory, CPU and process limits every lab gets unless a group policy says otherwise.
    lab_limits: ResolvedLimits
    gpu_holdings: Refresher[int]
    #: The free disk of the engine's data directory, measured in the background.
    host_disk: Refresher[DiskMeasurement]
    #: Storage quotas: usage against quota, the check at spawn, and the warnings' pass.
    quotas: QuotaService
    quota_warnings: Refresher[tuple[QuotaWarning, ...]]
    #: The audit feed: recorded by the web layer, read by the admin page, API and metrics.
    audit: AuditTrail
    #: The feed's entries by (action, outcome), counted in the background for the metrics.
    audit_counts: Refresher[AuditCounts]
    #: The feed's periodic prune (entries older than the retention setting).
    audit_prune: Refresher[int]
    facts: Mapping[str, str] = field(default_factory=dict)
    #: Reads every running server's load once a busy window (only when culling spares busy
    #: servers: `settings.busy`, with the culler on).
    busy_sampler: Refresher[BusySample | None] | None = None
    _tasks: list[asyncio.Task[object]] = field(default_factory=list, repr=False)

    @property
    def background(self) -> tuple[Refresher[Any], ...]:
        """Every refresher the platform keeps running while the hub runs."""
        return (
            self.container_stats,
            self.volumes.sizes,
            self.activity_levels,
            self.event_totals,
            self.cull_warnings,
            self.favicon_reconciler,
            self.gpu_holdings,
            self.host_disk,
            self.quota_warnings,
            self.audit_counts,
            self.audit_prune,
            *((self.gpu.readings,) if self.gpu.readings is not None else ()),
            *((self.busy_sampler,) if self.busy_sampler is not None else ()),
        )

    @property
    def _started_later(self) -> tuple[Refresher[Any], ...]:
        """Refreshers `start` leaves alone: the favicon routes' (once the proxy runs) and the
        GPUs' (once the probe found GPUs to give out)."""
        return tuple(
            refresher
            for refresher in self.background
            if refresher is self.favicon_reconciler
            or refresher is self.gpu_holdings
            or refresher is self.gpu.readings
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
        a slow probe cannot hold up the hub; the GPUs' refreshers start once it found GPUs) and
        the refreshers that need only the hub's database (`start_route_keeping` starts the one
        that needs its proxy)."""
        self._tasks.append(asyncio.get_running_loop().create_task(self._detect_gpu()))
        for refresher in self.background:
            if refresher not in self._started_later:
                refresher.start()

    def start_route_keeping(self) -> None:
        """Keep the platform's proxy routes from now on (call once the hub's proxy runs)."""
        if self.favicon_routes.enabled:
            self.favicon_reconciler.start()

    async def _detect_gpu(self) -> None:
        decision = await self.gpu.detect()
        log.info("GPU decision: %s", decision.reason)
        if self.gpu.inventory:
            # The first pass reads the holdings back from every server the hub runs. JupyterHub
            # schedules its check of the servers it believes running right after the platform's
            # start and makes all their spawners (pending, "check") before its first await, so
            # they are all there by the time a probe has answered; spawns wait for this pass.
            self.gpu_holdings.start()
            if self.gpu.readings is not None:
                self.gpu.readings.start()

    async def stop(self, *, grace_seconds: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Stop the refreshers and any probe still running; give user follow-ups in flight
        (a rename's activity, a deletion's volumes) `grace_seconds` to finish."""
        await self.users.stop(timeout_seconds=grace_seconds)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.audit.settle(), grace_seconds)
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
    accounts: CredentialStore | None,
    vault: CredentialVault,
    assets: StaticAssets,
    proxy: ProxyRoutes,
    lab_servers: LabServers,
    event_log: EventLog,
    policy_store: PolicyStore,
    server_stops: ServerStopStore,
    audit_log: AuditLog,
    lab_limits: ResolvedLimits,
    host_disk: HostDisk,
    gpu_read_back: GpuReadBack | None = None,
    facts: Mapping[str, str] | None = None,
    busy_store: BusyStore | None = None,
    node_reports: NodeReportStore | None = None,
) -> Platform:
    """Every service of the platform from `settings` and one adapter per port.

    `accounts` None: users log in through an identity provider, which keeps their passwords
    (any authenticator but NativeAuthenticator); no passphrase is generated then.

    `lab_limits` are the limits every lab gets, resolved at start from the settings and the
    engine's host (`LabLimitSettings.resolve`).

    `host_disk` measures the free disk of the engine's data directory (the admin pages show
    it, measured every `HOST_DISK_INTERVAL`).

    `gpu_read_back` is where the GPUs of running servers are read back from: their containers
    (`containers`, the default) or, for servers that run as local processes, their processes.

    `busy_store` keeps the busy records (`settings.busy`); without it, or with the culler or
    the busy rule off, no server is read for busy-ness and none is spared for it.

    `node_reports` (swarm mode) are the nodes' reports: the dashboard then shows each lab's
    node and the age of each node's newest report (stale after a few stats intervals).

    `audit_log` keeps the audit feed (entries older than `settings.audit.retention_days` are
    pruned every `AUDIT_PRUNE_INTERVAL`).

    `facts` are what the composition root found at start (the spawner in use and why, the lab
    image, the lab limits); the settings page shows them beside the settings.

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

    def every(
        interval: timedelta, name: str, fetch: Callable[[], Awaitable[T]], empty: T
    ) -> Refresher[T]:
        return Refresher(fetch, empty=empty, interval=interval, clock=clock, name=name)

    async def usage() -> ContainerUsages:
        names = running_container_names(await directory.list_users(), settings)
        return MappingProxyType(dict(await container_stats.usage(names)))

    async def sizes() -> VolumeSizes:
        return MappingProxyType({info.name: info for info in await volume_store.volumes()})

    stats = settings.stats
    activity = ActivityService(
        store=activity_store, directory=directory, clock=clock, policy=settings.activity
    )
    gpu = GpuService(probe=gpu_probe, mode=settings.gpu.mode)
    policies = PolicyService(
        store=policy_store,
        directory=directory,
        defaults=lambda: platform_defaults(settings, gpu.current, lab_limits.limits),
        allowed_images=settings.spawner.allowed_image_list,
        volumes=settings.spawner.volumes,
        access_groups=settings.docker_access,
    )
    busy = (
        BusyService(
            store=busy_store,
            clock=clock,
            policy=settings.busy,
            directory=directory,
            stats=container_stats,
            naming=settings.spawner.naming,
            gpus=lambda: gpu,  # the GPU service built below
        )
        if busy_store is not None and settings.busy.enabled and settings.sessions.enabled
        else None
    )
    sessions = SessionService(
        store=session_store,
        directory=directory,
        clock=clock,
        policy=settings.sessions,
        policies=policies,
        busy=busy,
    )
    volumes = VolumeService(
        store=volume_store,
        directory=directory,
        volumes=settings.spawner.user_volumes,
        naming=settings.spawner.naming,
        sizes=every(
            timedelta(seconds=stats.volume_sizes_seconds),
            "volume sizes",
            sizes,
            MappingProxyType({}),
        ),
    )
    usage_refresher: Refresher[ContainerUsages] = every(
        timedelta(seconds=stats.container_stats_seconds),
        "container stats",
        usage,
        MappingProxyType({}),
    )
    dashboard = DashboardService(
        directory=directory,
        activity=activity,
        sessions=sessions,
        volumes=volumes,
        credentials=credentials,
        container_stats=usage_refresher,
        volume_sizes=volumes.sizes,
        clock=clock,
        reuse_for=DASHBOARD_REUSE,
        refresh_behind=DASHBOARD_REFRESH_BEHIND,
        node_reports=node_reports,
        report_interval=timedelta(seconds=stats.container_stats_seconds),
    )
    warner = CullWarner(
        directory=directory,
        sessions=sessions,
        transport=transport,
        clock=clock,
        extend_url=f"{settings.hub.base_path}hub/home",
    )
    branding = BrandingService(assets=assets, plan=settings.branding.plan)
    favicon_routes = FaviconRoutes(directory=directory, proxy=proxy, branding=branding)

    async def levels() -> Mapping[ActivityLevel, int]:
        return await users_by_level(directory, activity)

    gpu = GpuService(
        probe=gpu_probe,
        mode=settings.gpu.mode,
        per_server=settings.gpu.per_server,
        sharing=settings.gpu.sharing,
        read_back=gpu_read_back if gpu_read_back is not None else containers,
        directory=directory,
        naming=settings.spawner.naming,
        readings=every(
            timedelta(seconds=settings.gpu.use_seconds),
            "GPU use",
            gpu_probe.use,
            GpuUseResult(),
        ),
    )

    quotas = QuotaService(
        directory=directory,
        volumes=volumes,
        policies=policies,
        transport=transport,
        hub_url=f"{settings.hub.base_path}hub/",
    )

    audit = AuditTrail(log=audit_log, clock=clock, retention_days=settings.audit.retention_days)

    async def audit_counts() -> AuditCounts:
        return MappingProxyType(await audit.counts())

    return Platform(
        settings=settings,
        clock=clock,
        activity=activity,
        dashboard=dashboard,
        sessions=sessions,
        volumes=volumes,
        broadcast=BroadcastService(
            directory=directory, transport=transport, policy=settings.broadcast
        ),
        credentials=credentials,
        gpu=gpu,
        policies=policies,
        servers=ServerService(
            directory=directory,
            containers=containers,
            lab=lab_servers,
            clock=clock,
            naming=settings.spawner.naming,
            access_groups=settings.docker_access,
            serve_timeout=timedelta(seconds=settings.spawner.start_timeout_seconds),
            policies=policies,
        ),
        users=UserLifecycleService(
            credentials=credentials,
            activity=activity_store,
            sessions=session_store,
            volumes=volumes,
            orphan_policy=settings.orphan_volumes,
            stops=server_stops,
            on_users_changed=dashboard.invalidate,
        ),
        branding=branding,
        favicon_routes=favicon_routes,
        warner=warner,
        container_stats=usage_refresher,
        activity_levels=every(METRICS_INTERVAL, "activity levels", levels, MappingProxyType({})),
        event_totals=every(
            METRICS_INTERVAL, "event totals", EventCounter(event_log).refresh, EventTotals()
        ),
        cull_warnings=every(WARNING_INTERVAL, "cull warnings", warner.check, ()),
        favicon_reconciler=every(
            FAVICON_ROUTES_INTERVAL, "lab favicon routes", favicon_routes.reconcile, 0
        ),
        stops=ServerStopService(store=server_stops, directory=directory, clock=clock),
        lab_limits=lab_limits,
        gpu_holdings=every(GPU_HOLDINGS_INTERVAL, "GPU holdings", gpu.reconcile, 0),
        host_disk=every(
            HOST_DISK_INTERVAL,
            "host disk",
            host_disk.measure,
            DiskMeasurement.unknown("not measured yet"),
        ),
        quotas=quotas,
        quota_warnings=every(QUOTA_WARNING_INTERVAL, "storage warnings", quotas.check, ()),
        audit=audit,
        audit_counts=every(METRICS_INTERVAL, "audit counts", audit_counts, MappingProxyType({})),
        audit_prune=every(AUDIT_PRUNE_INTERVAL, "audit prune", audit.prune, 0),
        facts=MappingProxyType(dict(facts or {})),
        busy_sampler=None if busy is None else busy_refresher(busy, clock),
    )


def busy_refresher(busy: BusyService, clock: Clock) -> Refresher[BusySample | None]:
    """The busy sampler: a pass now and every busy window, each logged in one line."""

    async def sample() -> BusySample:
        summary = await busy.sample()
        log.info(summary.line)
        return summary

    return Refresher(
        sample, empty=None, interval=busy.policy.window, clock=clock, name="busy readings"
    )
