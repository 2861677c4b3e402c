"""Busy servers: the hub reads every running server's load once a window and keeps its busy
record (`stellars.domain.busy`); the session rule asks for the activity busy-ness gives a
server, so the culler, the countdown and the warnings agree.

The readings are taken in the hub process, which already talks to the engine, knows the
containers' names and reads the GPUs; the culler process only reads the stored records when it
decides, so a decision never waits for a reading.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from stellars.domain.busy import (
    NOT_BUSY,
    BusyPolicy,
    BusyRecord,
    BusyVerdict,
    LoadReading,
    busy_activity,
    next_record,
)
from stellars.domain.containers import ContainerReading
from stellars.domain.gpu_allocation import ServerKey
from stellars.domain.hub import ServerSnapshot
from stellars.domain.volumes import DockerNaming, container_name
from stellars.ports.busy_store import BusyStore
from stellars.ports.clock import Clock
from stellars.ports.containers import ContainerStats
from stellars.ports.hub_directory import HubDirectory

from .gpu import GpuService


@dataclass(frozen=True, slots=True)
class BusySample:
    """What one pass of the busy sampler did, for its log."""

    servers: int
    read: int
    windows: int
    busy: int
    pruned: int

    @property
    def line(self) -> str:
        return (
            f"busy readings: {self.read} of {self.servers} running server(s) read, "
            f"{self.windows} window(s) closed, {self.busy} busy, {self.pruned} pruned"
        )


def gpu_percent_of(
    server: ServerKey, gpus: GpuService | None, now: datetime, max_age_seconds: float
) -> int | None:
    """The highest utilisation among the GPUs `server` holds, from the GPUs' latest reading
    when it is no older than `max_age_seconds`; None when it holds none or none was read."""
    if gpus is None or gpus.readings is None:
        return None
    holding = gpus.holdings.get(server)
    if holding is None or not holding.devices:
        return None
    snapshot = gpus.readings.snapshot()
    age = snapshot.age(now)
    if age is None or age.total_seconds() > max_age_seconds:
        return None
    by_device = snapshot.value.by_device()
    figures = [
        reading.utilization_percent
        for device in holding.devices
        if (reading := by_device.get(device)) is not None
        and reading.utilization_percent is not None
    ]
    return max(figures) if figures else None


class BusyService:
    """Keeps each running server's busy record and gives the session rule its verdicts.

    `directory`, `stats` and `naming` are what `sample` reads (the hub has them; the culler,
    which only asks for verdicts, does not); `gpus` gives the hub's GPU service, whose holdings
    and readings add the GPUs' utilisation (asked at each pass: the composition builds it
    later).
    """

    def __init__(
        self,
        *,
        store: BusyStore,
        clock: Clock,
        policy: BusyPolicy,
        directory: HubDirectory | None = None,
        stats: ContainerStats | None = None,
        naming: DockerNaming | None = None,
        gpus: Callable[[], GpuService | None] = lambda: None,
    ) -> None:
        self._store = store
        self._clock = clock
        self.policy = policy
        self._directory = directory
        self._stats = stats
        self._naming = naming
        self._gpus = gpus

    async def sample(self) -> BusySample:
        """Read every running server's counters once and keep what closes a window."""
        if self._directory is None or self._stats is None or self._naming is None:
            raise RuntimeError("BusyService.sample needs the directory, stats and naming")
        naming = self._naming
        servers = {
            container_name(user.name, naming, server.name): server
            for user in await self._directory.list_users()
            for server in user.servers.values()
            if server.running
        }
        counters = await self._stats.readings(list(servers))
        now = self._clock.now()
        previous = {(r.username, r.server_name): r for r in await self._store.all()}
        changed: list[BusyRecord] = []
        for name, server in servers.items():
            found = counters.get(name)
            if found is None:
                continue
            key = (server.username, server.name)
            before = previous.get(key)
            after = next_record(
                before,
                username=server.username,
                server_name=server.name,
                started=server.started,
                reading=self._load(key, found, now),
                policy=self.policy,
            )
            if after is not before:
                changed.append(after)
        await self._store.put(changed)
        pruned = await self._store.prune(older_than=now - self.policy.keep_for)
        closed = [r.window for r in changed if r.window is not None and r.window.end == now]
        return BusySample(
            servers=len(servers),
            read=len(counters),
            windows=len(closed),
            busy=sum(1 for window in closed if window.busy),
            pruned=pruned,
        )

    def _load(self, key: ServerKey, found: ContainerReading, now: datetime) -> LoadReading:
        return LoadReading(
            taken_at=now,
            cpu_total_ns=found.cpu_total_ns,
            system_cpu_ns=found.system_cpu_ns,
            online_cpus=max(found.online_cpus, 1),
            gpu_percent=gpu_percent_of(key, self._gpus(), now, self.policy.window_seconds),
        )

    async def verdict(self, server: ServerSnapshot) -> BusyVerdict:
        """What busy-ness says of one server now (nothing while the rule is off)."""
        if not self.policy.enabled:
            return NOT_BUSY
        record = await self._store.get(server.username, server.name)
        return busy_activity(record, server, now=self._clock.now(), policy=self.policy)

    async def verdicts(
        self, servers: Iterable[ServerSnapshot], *, now: datetime | None = None
    ) -> Mapping[ServerKey, BusyVerdict]:
        """The verdict of each of `servers` at `now` (default: the clock's), with one read of
        the records; empty while the rule is off."""
        if not self.policy.enabled:
            return {}
        if now is None:
            now = self._clock.now()
        records = {(r.username, r.server_name): r for r in await self._store.all()}
        return {
            (s.username, s.name): busy_activity(
                records.get((s.username, s.name)), s, now=now, policy=self.policy
            )
            for s in servers
        }
