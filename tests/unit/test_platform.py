"""The composition function on the in-memory fakes: every service built from one settings
value, the names the services use equal to the spawner's, the background work started and
stopped, the admin's password set before the first request."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import MappingProxyType

import pytest

from stellars.adapters.memory import (
    InMemoryActivityStore,
    InMemoryAuditLog,
    InMemoryBusyStore,
    InMemoryContainers,
    InMemoryCredentialStore,
    InMemoryEventLog,
    InMemoryHubDirectory,
    InMemoryPolicyStore,
    InMemoryProxyRoutes,
    InMemoryServerStopStore,
    InMemorySessionStore,
    InMemoryStaticAssets,
    InMemoryVolumeStore,
    ManualClock,
    RecordingTransport,
    ScriptedLabServers,
    SequencePasswordGenerator,
    StaticGpuProbe,
    StaticHostDisk,
)
from stellars.adapters.vault import ProcessMemoryVault
from stellars.domain.busy import BusyPolicy
from stellars.domain.containers import ContainerUsage
from stellars.domain.credentials import PassphrasePolicy
from stellars.domain.disk import DiskMeasurement, DiskSpace
from stellars.domain.errors import InvalidValue
from stellars.domain.gpu import Gpu, GpuMode, GpuProbeResult, GpuReading, GpuUseResult
from stellars.domain.gpu_allocation import ContainerGpus, Holding
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.limits import HostResources
from stellars.domain.policies import GpuSharing
from stellars.domain.quotas import QuotaSettings, QuotaState
from stellars.domain.sessions import SessionPolicy
from stellars.domain.settings import (
    BrandingSettings,
    GpuSettings,
    HubSettings,
    PlatformSettings,
    SpawnerSettings,
)
from stellars.platform import (
    DASHBOARD_REFRESH_BEHIND,
    DASHBOARD_REUSE,
    FAVICON_ROUTES_INTERVAL,
    GPU_HOLDINGS_INTERVAL,
    HOST_DISK_INTERVAL,
    QUOTA_WARNING_INTERVAL,
    Platform,
    build,
    running_container_names,
)
from tests.strategies import EPOCH

VOLUMES = {"lab-{username}_home": "/home/jovyan", "shared": "/mnt/shared"}
HOST = HostResources(cpus=8, memory_bytes=32 * 2**30)


def settings(**sections) -> PlatformSettings:
    spawner = SpawnerSettings(prefix="lab", name_template="lab-{username}", volumes=VOLUMES)
    return PlatformSettings(**{"spawner": spawner, **sections})


class Fakes:
    def __init__(self) -> None:
        self.clock = ManualClock(EPOCH)
        self.directory = InMemoryHubDirectory()
        self.volume_store = InMemoryVolumeStore()
        self.containers = InMemoryContainers()
        self.accounts = InMemoryCredentialStore()
        self.probe = StaticGpuProbe(GpuProbeResult((Gpu(0, "H200", 143_771, "GPU-1"),)))
        self.events = InMemoryEventLog()
        self.policy_store = InMemoryPolicyStore()
        self.stops = InMemoryServerStopStore()
        self.audit = InMemoryAuditLog()
        self.disk = StaticHostDisk(DiskMeasurement("/var/lib/docker", DiskSpace(400, 38)))

    def build(self, value: PlatformSettings, **extra: object) -> Platform:
        return build(
            value,
            clock=self.clock,
            directory=self.directory,
            activity_store=InMemoryActivityStore(half_life=value.activity.half_life),
            session_store=InMemorySessionStore(),
            volume_store=self.volume_store,
            containers=self.containers,
            container_stats=self.containers,
            gpu_probe=self.probe,
            transport=RecordingTransport(),
            passwords=SequencePasswordGenerator(),
            accounts=self.accounts,
            vault=ProcessMemoryVault(clock=self.clock, policy=value.vault),
            assets=InMemoryStaticAssets(),
            proxy=InMemoryProxyRoutes(),
            lab_servers=ScriptedLabServers(),
            event_log=self.events,
            policy_store=self.policy_store,
            server_stops=self.stops,
            audit_log=self.audit,
            lab_limits=value.lab_limits.resolve(HOST),
            host_disk=self.disk,
            facts={"User servers": "docker"},
            **extra,
        )


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


def running(name: str, server: str = "") -> HubUser:
    snapshot = ServerSnapshot(username=name, name=server, ready=True, started=EPOCH)
    return HubUser(name=name, servers={server: snapshot})


def test_every_service_gets_its_policy_from_the_one_settings_value(fakes):
    value = settings()
    platform = fakes.build(value)
    assert platform.settings is value
    assert platform.activity.policy is value.activity
    assert platform.sessions.policy is value.sessions
    assert platform.broadcast.policy is value.broadcast
    assert platform.credentials.policy is value.passphrases
    assert platform.gpu.mode is value.gpu.mode
    assert platform.facts == {"User servers": "docker"}


def test_the_volume_service_names_volumes_as_the_spawner_is_configured(fakes):
    platform = fakes.build(settings())
    assert platform.volumes.naming.name_template == "lab-{username}"
    assert platform.volumes.names_for("ann.b") == {"home": "lab-ann-2eb_home"}


def test_running_container_names_follow_the_name_template():
    names = running_container_names([running("ann"), HubUser(name="bob")], settings())
    assert names == ["lab-ann"]


async def test_start_probes_the_gpu_and_fills_the_caches_and_stop_ends_them(fakes):
    fakes.directory.put(running("ann"))
    fakes.containers.start(
        "lab-ann", ContainerUsage(cpu_percent=12.5, memory_bytes=1, memory_limit_bytes=2)
    )
    fakes.volume_store.create("lab-ann_home", 4096)
    platform = fakes.build(settings(gpu=GpuSettings(mode=GpuMode.AUTO)))
    assert not platform.gpu.current.enabled  # nothing is handed out before the probe answers
    await platform.start()
    usage = await platform.container_stats.refresh_now()
    sizes = await platform.volumes.sizes.refresh_now()
    assert dict(usage.value) == {
        "lab-ann": ContainerUsage(cpu_percent=12.5, memory_bytes=1, memory_limit_bytes=2)
    }
    assert sizes.value["lab-ann_home"].size_bytes == 4096
    assert usage.refreshed_at == EPOCH
    await platform.stop()
    assert platform.gpu.current.enabled
    assert fakes.probe.calls == 1
    assert not any(refresher.running for refresher in platform.background)


async def test_the_host_disk_is_measured_in_the_background_and_unknown_until_then(fakes):
    platform = fakes.build(settings())
    before = platform.host_disk.snapshot()
    assert before.value == DiskMeasurement.unknown("not measured yet")
    assert not before.ready
    assert platform.host_disk.interval == HOST_DISK_INTERVAL
    assert platform.host_disk in platform.background
    await platform.start()
    for _ in range(5):  # the refresher's first pass runs at once, on the loop
        await asyncio.sleep(0)
    assert fakes.disk.calls == 1
    assert platform.host_disk.running
    assert platform.host_disk.snapshot().value == fakes.disk.measurement
    await platform.stop()
    assert not platform.host_disk.running


async def test_the_storage_quota_of_the_settings_is_checked_and_warned_in_the_background(fakes):
    fakes.directory.put(running("ann"))
    fakes.volume_store.create("lab-ann_home", 2 * 2**20)
    platform = fakes.build(settings(quotas=QuotaSettings(storage_quota=2**21)))
    assert platform.quota_warnings in platform.background
    assert platform.quota_warnings.interval == QUOTA_WARNING_INTERVAL
    assert platform.policies.defaults.storage_quota == 2**21
    await platform.start()
    assert platform.quota_warnings.running
    await platform.volumes.sizes.refresh_now()
    storage = await platform.quotas.for_user("ann")
    assert storage.usage.state is QuotaState.WARNING
    assert storage.home_url == "/hub/home"
    await platform.quota_warnings.refresh_now()  # the first pass may have run before
    assert platform.quotas.sent == 1
    await platform.stop()
    assert not platform.quota_warnings.running


def test_the_refresh_intervals_come_from_the_settings(fakes):
    platform = fakes.build(settings())
    assert platform.container_stats.interval == timedelta(seconds=10)
    assert platform.volumes.sizes.interval == timedelta(seconds=3600)
    assert platform.favicon_reconciler.interval == FAVICON_ROUTES_INTERVAL
    assert platform.container_stats.snapshot().value == MappingProxyType({})


async def test_the_busy_sampler_runs_only_with_its_store_the_rule_and_the_culler_on(fakes):
    spare = BusyPolicy(enabled=True, window_seconds=120)
    culling = SessionPolicy(enabled=True)
    store = InMemoryBusyStore()
    on = fakes.build(settings(busy=spare, sessions=culling), busy_store=store)
    assert on.busy_sampler is not None and on.busy_sampler in on.background
    assert on.busy_sampler.interval == timedelta(seconds=120)
    fakes.directory.put(running("ann"))
    fakes.containers.start("lab-ann")
    assert (await on.busy_sampler.refresh_now()).error is None
    kept = await store.get("ann")
    assert kept is not None and kept.reading.taken_at == EPOCH
    for off in (
        fakes.build(settings(busy=spare, sessions=culling)),  # no store
        fakes.build(settings(sessions=culling), busy_store=store),  # rule off
        fakes.build(settings(busy=spare), busy_store=store),  # culler off
    ):
        assert off.busy_sampler is None
        assert all(r.name != "busy readings" for r in off.background)


async def test_the_dashboard_reuses_a_build_until_a_user_comes_or_goes(fakes):
    fakes.directory.put(running("ann"))
    platform = fakes.build(settings())
    assert platform.dashboard.reuse_for == DASHBOARD_REUSE > timedelta(0)
    assert platform.dashboard.refresh_behind == DASHBOARD_REFRESH_BEHIND > timedelta(0)
    first = await platform.dashboard.page()
    assert (await platform.dashboard.page()).build == first.build
    fakes.directory.put(HubUser(name="bob"))
    platform.users.created("bob")  # what the hub's user events call after the commit
    second = await platform.dashboard.page()
    assert [row.username for row in second.rows] == ["ann", "bob"]
    await platform.users.stop()


def test_bootstrap_gives_the_admin_the_deployers_password(fakes):
    platform = fakes.build(
        settings(hub=HubSettings(admin_username="root", admin_password="pw-12345678"))
    )
    platform.bootstrap()
    assert fakes.accounts.passwords == {"root": "pw-12345678"}


def test_bootstrap_leaves_the_admin_to_sign_up_without_a_password(fakes):
    platform = fakes.build(settings())
    platform.bootstrap()
    assert fakes.accounts.passwords == {}


async def test_the_admin_never_gets_a_generated_passphrase(fakes):
    platform = fakes.build(settings(hub=HubSettings(admin_username="root")))
    assert await platform.credentials.issue("root") is False
    assert await platform.credentials.issue("ann") is True


def test_a_passphrase_policy_too_weak_for_the_word_list_names_the_setting(fakes):
    weak = PassphrasePolicy(words=3, min_word_length=4, max_word_length=4)
    with pytest.raises(InvalidValue) as error:
        fakes.build(settings(passphrases=weak))
    assert error.value.field == "passphrases.words"
    assert "bits" in error.value.message


def test_the_hub_gets_the_very_platform_through_traitlets_deep_copying_config_values(fakes):
    import copy

    from stellars.adapters.jupyterhub import HubHandle, HubPlugin

    plugin = HubPlugin(platform=fakes.build(settings()), hub=HubHandle())
    assert copy.deepcopy({"stellars": plugin})["stellars"] is plugin


async def test_lab_favicon_routes_are_kept_only_once_asked_and_only_for_a_favicon(fakes):
    stock = fakes.build(settings())
    await stock.start()
    stock.start_route_keeping()
    assert not stock.favicon_reconciler.running  # the stock favicon needs no route
    await stock.stop()
    branded = fakes.build(
        settings(branding=BrandingSettings(favicon_uri="https://example.org/fav.ico"))
    )
    await branded.start()
    assert not branded.favicon_reconciler.running  # not before the hub's proxy runs
    branded.start_route_keeping()
    assert branded.favicon_reconciler.running
    await branded.stop()
    assert not any(refresher.running for refresher in branded.background)


async def test_the_stop_service_and_the_lab_limits_are_the_ones_given(fakes):
    value = settings()
    platform = fakes.build(value)
    assert platform.lab_limits == value.lab_limits.resolve(HOST)
    assert platform.lab_limits.limits.cpu_limit == 7.0
    assert platform.stops.store is fakes.stops
    assert platform.stops.directory is fakes.directory
    assert platform.stops.clock is fakes.clock
    # and a deleted user's stops go with the user
    fakes.stops.stops[("ann", "")] = None  # type: ignore[assignment]
    assert (await platform.users.follow_delete("ann")).server_stops == 1


async def test_gpus_are_read_back_and_measured_once_the_probe_found_some(fakes):
    fakes.directory.put(running("ann"))
    fakes.containers.start("lab-ann", gpus=ContainerGpus(devices=("GPU-1",)))
    fakes.probe.use_result = GpuUseResult((GpuReading("GPU-1", 512, 20),))
    gpu = GpuSettings(mode=GpuMode.AUTO, per_server=2, sharing=GpuSharing.EXCLUSIVE)
    platform = fakes.build(settings(gpu=gpu))
    assert (platform.gpu.per_server, platform.gpu.sharing) == (2, GpuSharing.EXCLUSIVE)
    assert platform.gpu.naming.name_template == "lab-{username}"
    assert platform.gpu.readings is not None
    assert platform.gpu.readings.interval == timedelta(seconds=gpu.use_seconds)
    assert platform.gpu_holdings.interval == GPU_HOLDINGS_INTERVAL
    assert platform.gpu.readings in platform.background
    assert platform.gpu_holdings in platform.background
    await platform.start()
    for _ in range(100):  # the probe's task, then the refreshers' first passes
        if platform.gpu_holdings.snapshot().ready and platform.gpu.readings.snapshot().ready:
            break
        await asyncio.sleep(0)
    assert platform.gpu.holdings == {
        ("ann", ""): Holding(("ann", ""), ("GPU-1",), GpuSharing.EXCLUSIVE)
    }
    assert platform.gpu.readings.snapshot().value.readings == (GpuReading("GPU-1", 512, 20),)
    await platform.stop()
    assert not any(refresher.running for refresher in platform.background)
    assert fakes.probe.calls == 1


async def test_without_gpus_to_give_out_nothing_is_read_back_or_measured(fakes):
    fakes.probe.result = GpuProbeResult.none("no driver")
    platform = fakes.build(settings(gpu=GpuSettings(mode=GpuMode.AUTO)))
    await platform.start()
    await platform.gpu.detect()
    for _ in range(20):
        await asyncio.sleep(0)
    assert not platform.gpu_holdings.running
    assert platform.gpu.readings is not None and not platform.gpu.readings.running
    assert fakes.probe.use_calls == 0
    await platform.stop()


def test_gpus_of_local_servers_are_read_back_from_where_the_composition_root_says(fakes):
    class LocalProcesses(InMemoryContainers):
        pass

    local = LocalProcesses()
    platform = build(
        settings(),
        clock=fakes.clock,
        directory=fakes.directory,
        activity_store=InMemoryActivityStore(half_life=timedelta(hours=1)),
        session_store=InMemorySessionStore(),
        volume_store=fakes.volume_store,
        containers=fakes.containers,
        container_stats=fakes.containers,
        gpu_probe=fakes.probe,
        transport=RecordingTransport(),
        passwords=SequencePasswordGenerator(),
        accounts=fakes.accounts,
        vault=ProcessMemoryVault(clock=fakes.clock, policy=settings().vault),
        assets=InMemoryStaticAssets(),
        proxy=InMemoryProxyRoutes(),
        lab_servers=ScriptedLabServers(),
        event_log=fakes.events,
        policy_store=fakes.policy_store,
        server_stops=fakes.stops,
        audit_log=fakes.audit,
        lab_limits=settings().lab_limits.resolve(HOST),
        host_disk=fakes.disk,
        gpu_read_back=local,
    )
    assert platform.gpu.read_back is local
    assert fakes.build(settings()).gpu.read_back is fakes.containers
