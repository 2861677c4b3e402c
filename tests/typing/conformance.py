"""Every adapter assigned to the port it implements, for mypy (`make lint`) to check.

Nothing here runs: Protocol conformance is structural, so only a type checker sees an adapter
drifting from its port. The contract suites check the behaviour.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from stellars.adapters.auth import NativeCredentialStore
from stellars.adapters.docker import (
    ContainerNvidiaSmiProbe,
    DockerContainerControl,
    DockerContainerStats,
    DockerEngine,
    DockerVolumeStore,
)
from stellars.adapters.files import StaticDirectoryAssets
from stellars.adapters.hub import RestHubDirectory
from stellars.adapters.jupyterhub import (
    HubHandle,
    HubLabServers,
    HubProxyRoutes,
    InProcessHubDirectory,
    LabNotificationTransport,
    LocalProcessGpus,
)
from stellars.adapters.memory import (
    InMemoryActivityStore,
    InMemoryContainers,
    InMemoryCredentialStore,
    InMemoryEventLog,
    InMemoryHubDirectory,
    InMemoryProxyRoutes,
    InMemorySessionStore,
    InMemoryStaticAssets,
    InMemoryVolumeStore,
    ManualClock,
    RecordingTransport,
    ScriptedLabServers,
    SequencePasswordGenerator,
    StaticGpuProbe,
)
from stellars.adapters.nvidia import HostNvidiaSmiProbe
from stellars.adapters.passwords import XkcdPasswordGenerator
from stellars.adapters.sql import SqlActivityStore, SqlDatabase, SqlEventLog, SqlSessionStore
from stellars.adapters.system import SystemClock
from stellars.adapters.vault import ProcessMemoryVault
from stellars.domain.credentials import VaultPolicy
from stellars.domain.gpu import GpuProbeResult
from stellars.domain.volumes import DockerNaming
from stellars.ports import (
    ActivityStore,
    Clock,
    ContainerControl,
    ContainerStats,
    CredentialStore,
    CredentialVault,
    EventLog,
    GpuProbe,
    GpuReadBack,
    HubDirectory,
    LabServers,
    NotificationTransport,
    PasswordGenerator,
    ProxyRoutes,
    SessionStore,
    StaticAssets,
    VolumeStore,
)


def conformance(database: SqlDatabase, engine: DockerEngine, hub: HubHandle, any_: Any) -> None:
    clocks: list[Clock] = [SystemClock(), ManualClock(any_)]
    activity: list[ActivityStore] = [
        SqlActivityStore(database, half_life=timedelta(hours=1)),
        InMemoryActivityStore(half_life=timedelta(hours=1)),
    ]
    sessions: list[SessionStore] = [SqlSessionStore(database), InMemorySessionStore()]
    events: list[EventLog] = [SqlEventLog(database), InMemoryEventLog()]
    directories: list[HubDirectory] = [
        RestHubDirectory("http://127.0.0.1:8081/hub/api", "token"),
        InProcessHubDirectory(hub),
        InMemoryHubDirectory(),
    ]
    volumes: list[VolumeStore] = [DockerVolumeStore(engine), InMemoryVolumeStore()]
    controls: list[ContainerControl] = [DockerContainerControl(engine), InMemoryContainers()]
    read_backs: list[GpuReadBack] = [
        DockerContainerControl(engine),
        InMemoryContainers(),
        LocalProcessGpus(hub, DockerNaming()),
    ]
    stats: list[ContainerStats] = [DockerContainerStats(engine), InMemoryContainers()]
    probes: list[GpuProbe] = [
        ContainerNvidiaSmiProbe(engine, "image"),
        HostNvidiaSmiProbe(),
        StaticGpuProbe(GpuProbeResult.none("test")),
    ]
    transports: list[NotificationTransport] = [
        LabNotificationTransport(hub),
        RecordingTransport(),
    ]
    generators: list[PasswordGenerator] = [XkcdPasswordGenerator(), SequencePasswordGenerator()]
    accounts: list[CredentialStore] = [
        NativeCredentialStore(lambda: any_),
        InMemoryCredentialStore(),
    ]
    vaults: list[CredentialVault] = [ProcessMemoryVault(clock=clocks[0], policy=VaultPolicy())]
    assets: list[StaticAssets] = [StaticDirectoryAssets(any_), InMemoryStaticAssets()]
    proxies: list[ProxyRoutes] = [HubProxyRoutes(lambda: any_), InMemoryProxyRoutes()]
    labs: list[LabServers] = [HubLabServers(hub), ScriptedLabServers()]
    del (clocks, activity, sessions, directories, volumes, controls, stats, probes)
    del (transports, generators, accounts, vaults, assets, proxies)
    del events
    del labs
    del read_backs
