"""GPUs for user servers: the decision for every spawn (from one probe at most), and in auto
mode the GPUs given out one by one (`stellars.domain.gpu_allocation` has the rules).

Mode 0 gives no server a GPU; mode 1 gives every server every GPU without asking (no probe, so
no inventory to name GPUs from); mode 2 probes once and, when it finds GPUs, gives each server
the GPUs it asks for: `per_server` of them by default, `sharing` as the deployer set it (group
policies may ask for others). A start that cannot get its GPUs is refused, naming who holds
each one; a stopped server's GPUs are free again.

The holdings live in the hub's memory and follow the servers' own record of what they were
started with: at hub start they are read back from the servers the hub runs (`restore`, so a
restart loses none), and then regularly from the servers that hold GPUs (`reconcile`, so a hold
never outlives its container). No GPU is given out before the first read-back is done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

from stellars.domain.errors import InvalidValue
from stellars.domain.gpu import (
    Gpu,
    GpuDecision,
    GpuMode,
    GpuProbeResult,
    GpuReading,
    GpuUseResult,
    decide_gpu,
)
from stellars.domain.gpu_allocation import (
    ContainerGpus,
    GpuAssignment,
    GpuUse,
    Holding,
    ServerKey,
    allocate,
    check_holdings,
    gpu_use,
    reconcile,
)
from stellars.domain.policies import GpuSharing
from stellars.domain.validation import whole_number
from stellars.domain.volumes import DockerNaming, container_name
from stellars.ports.containers import GpuReadBack
from stellars.ports.gpu import GpuProbe
from stellars.ports.hub_directory import HubDirectory

from .refresh import Refresher, Snapshot

_LOG = logging.getLogger(__name__)

#: The most GPUs one server may ask for (the bound of group policies too).
MAX_GPUS_PER_SERVER = 64


@dataclass(frozen=True, slots=True)
class GpuRow:
    """One GPU as the activity page shows it: who holds it, and its latest reading (None
    before the first, or when nvidia-smi did not report this GPU)."""

    use: GpuUse
    reading: GpuReading | None


@dataclass(frozen=True, slots=True)
class GpuOverview:
    """Every GPU given out one by one (none when the host has none, or GPUs are not given out
    one by one), the decision, and how fresh the readings are."""

    decision: GpuDecision
    rows: tuple[GpuRow, ...]
    readings_age: timedelta | None
    readings_error: str | None


class GpuService:
    """The GPU decision and the GPUs held by the servers that run.

    `current` says GPUs are off until the probe has answered, so a slow probe never blocks the
    hub's start; a spawn waits for it (`assign`) instead of going without. `read_back` and
    `directory` read the holdings back (without them, holdings start empty); `naming` maps a
    server to the container name they are read back by; `readings` is the refresher of the
    GPUs' use, started once the probe has found GPUs.
    """

    def __init__(
        self,
        *,
        probe: GpuProbe,
        mode: GpuMode,
        per_server: int = 1,
        sharing: GpuSharing = GpuSharing.SHARED,
        read_back: GpuReadBack | None = None,
        directory: HubDirectory | None = None,
        naming: DockerNaming | None = None,
        readings: Refresher[GpuUseResult] | None = None,
    ) -> None:
        if (read_back is None) != (directory is None):
            raise InvalidValue("read_back", "reading holdings back needs the hub's directory too")
        self._probe = probe
        self.mode = mode
        self.per_server = whole_number("per_server", per_server, 0, MAX_GPUS_PER_SERVER)
        self.sharing = sharing
        self.naming = naming or DockerNaming()
        self.readings = readings
        self.read_back = read_back
        self._directory = directory
        self._result: GpuProbeResult | None = None
        self._lock = asyncio.Lock()
        self._holdings: dict[ServerKey, Holding] = {}
        self._restored = read_back is None
        self._reading_back = asyncio.Lock()
        # Servers whose holding changed since the read-back in flight began (rule 9).
        self._changed: set[ServerKey] = set()

    @property
    def current(self) -> GpuDecision:
        return decide_gpu(self.mode, self._result)

    async def detect(self) -> GpuDecision:
        """Probe once if the mode needs it, then decide."""
        if self.mode is GpuMode.AUTO:
            async with self._lock:
                if self._result is None:
                    self._result = await self._probe.probe()
        return self.current

    @property
    def inventory(self) -> tuple[Gpu, ...]:
        """The GPUs given out one by one: what auto mode's probe found (none otherwise)."""
        decision = self.current
        return decision.gpus if self.mode is GpuMode.AUTO and decision.enabled else ()

    @property
    def holdings(self) -> Mapping[ServerKey, Holding]:
        """The GPUs each server holds now."""
        return MappingProxyType(dict(self._holdings))

    @property
    def restored(self) -> bool:
        """Whether the holdings have been read back since the hub started."""
        return self._restored

    async def assign(
        self, server: ServerKey, count: int | None = None, sharing: GpuSharing | None = None
    ) -> GpuAssignment:
        """The GPUs a starting `server` gets: `count` (default `per_server`) GPUs, `sharing`
        (default the service's). Waits for the probe and the first read-back. Raises Refused
        naming every GPU's holders when too few are free, InvalidValue for a bad count,
        BackendUnavailable when the holdings cannot be read back yet."""
        wanted = self.per_server if count is None else count
        how = self.sharing if sharing is None else sharing
        whole_number("gpus", wanted, 0, MAX_GPUS_PER_SERVER)
        decision = await self.detect()
        if not decision.enabled:
            return GpuAssignment(detected=decision.detected)
        inventory = self.inventory
        if not inventory:  # mode 1 without a probe's list: every GPU, or none
            return GpuAssignment(enabled=True, detected=decision.detected, every_gpu=wanted > 0)
        await self.restore()
        holding = allocate(inventory, self._holdings, server, wanted, how)
        self._hold(server, holding if holding.devices else None)
        return GpuAssignment(
            enabled=True, detected=True, devices=holding.devices, sharing=holding.sharing
        )

    def release(self, server: ServerKey) -> bool:
        """A stopped server's GPUs are free again; whether it held any."""
        held = server in self._holdings
        self._hold(server, None)
        return held

    def _hold(self, server: ServerKey, holding: Holding | None) -> None:
        if holding is None:
            self._holdings.pop(server, None)
        else:
            self._holdings[server] = holding
        self._changed.add(server)

    async def restore(self) -> None:
        """Read the holdings back from every server the hub runs, once (the first call does it,
        later ones return at once). Raises BackendUnavailable; the next call tries again."""
        if self._restored:
            return
        await self.reconcile()

    async def reconcile(self) -> int:
        """Bring the holdings in line with the servers the hub runs and what they were started
        with: before the first read-back succeeded, every running or pending server's; after
        it, only the holders'. Returns how many servers' holdings changed. Raises
        BackendUnavailable."""
        inventory = self.inventory
        read_back, directory = self.read_back, self._directory
        if not inventory or read_back is None or directory is None:
            return 0
        async with self._reading_back:
            full = not self._restored
            self._changed.clear()
            users = await directory.list_users()
            servers = {
                (snapshot.username, snapshot.name): snapshot.running
                for user in users
                for snapshot in user.servers.values()
                if snapshot.active
            }
            asked = [key for key in servers if full or key in self._holdings]
            by_name = {
                container_name(user, self.naming, name): (user, name) for user, name in asked
            }
            found = await read_back.gpu_devices(list(by_name))
            read: dict[ServerKey, ContainerGpus | None] = {
                key: found.get(name) for name, key in by_name.items()
            }
            before = dict(self._holdings)
            after = reconcile(inventory, before, servers, read, self._changed)
            self._holdings = after
            self._restored = True
        changed = sorted(key for key in {*before, *after} if before.get(key) != after.get(key))
        for problem in check_holdings(inventory, after):
            _LOG.warning("GPU holdings: %s", problem)
        if full:
            _LOG.info("GPU holdings read back: %d server(s) hold GPUs", len(after))
        elif changed:
            _LOG.info("GPU holdings brought in line with the servers: %s", _names(changed))
        return len(changed)

    def overview(self, now: datetime) -> GpuOverview:
        """Every GPU given out one by one with its holders and latest reading (for the
        activity page); `now` dates the readings."""
        snapshot = self.readings.snapshot() if self.readings is not None else None
        by_device = snapshot.value.by_device() if snapshot is not None else {}
        rows = tuple(
            GpuRow(use, by_device.get(use.device.uuid))
            for use in gpu_use(self.inventory, self._holdings)
        )
        return GpuOverview(
            decision=self.current,
            rows=rows,
            readings_age=snapshot.age(now) if snapshot is not None else None,
            readings_error=_readings_error(snapshot),
        )


def _readings_error(snapshot: Snapshot[GpuUseResult] | None) -> str | None:
    """Why the latest readings are missing or old: the refresh failed, or the probe said why."""
    if snapshot is None:
        return None
    if snapshot.error:
        return snapshot.error
    return snapshot.value.reason or None


def _names(servers: Collection[ServerKey]) -> str:
    return ", ".join(f"{user}/{name}" if name else user for user, name in servers)
