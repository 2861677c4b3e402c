"""The node sampler: one per swarm node (a global service), reading only its own Docker engine
and writing one report per sampling slot to the shared database (stellars.domain.node_reports).

    STELLARS_DB_URL=postgresql+psycopg://... stellars-node-sampler --interval-seconds 10
    python -m stellars.entrypoints.node_sampler --once

In swarm mode each node's engine answers only for the containers and volumes on that node, so
the hub cannot measure the labs itself: every node runs this process, which reports

- the running labs of its node: the task containers that carry the lab label (`stellars.lab`),
  each named after its service (`com.docker.swarm.service.name`, the server's name in the
  hub's naming; a container without it, as in single-host mode, by its own name), with the
  usage and raw reading `DockerContainerStats` measures;
- the platform's volumes on its node (label `stellars.user`, which the swarm spawner's mounts
  give the volumes the node's engine creates), with sizes from `DockerVolumeStore`. Sizes cost
  the engine a disk-usage walk, so they are measured every `--volume-sizes-seconds` (and at
  once for a volume not measured yet); the reports in between carry the last sizes measured.

`main()` is the composition root of this process. From the environment it reads only the
database URL in STELLARS_DB_URL (never on the command line, which `docker service inspect` and
ps show; `--db-url` wins over it when the sampler is run by hand) and DOCKER_HOST (default: the
local socket). It needs no hub token: it never talks to the hub. The node's name is the
engine's host name (`docker info`, the name the swarm's placement constraints use), or
`--node`.

The first report is taken at once, then one in the middle of each slot
(`stellars.domain.node_reports.next_report_at`). A failed tick (engine or database down) is
logged and retried at the next one; the process never exits for it. SIGTERM and SIGINT stop
it after the tick in progress. Every hour it forgets the reports older than
`--retention-hours` (each node's newest stays): the hub reads only each node's newest, and a
few hours of history are enough to check a node's reports for gaps (a restarted sampler) while
keeping the table small (at a 10 s interval, 360 rows per node and hour).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from stellars.adapters.docker import (
    DEFAULT_SOCKET,
    DockerContainerStats,
    DockerEngine,
    DockerVolumeStore,
    connect,
)
from stellars.adapters.docker.volumes import volume_info
from stellars.adapters.sql import SqlDatabase
from stellars.adapters.sql.node_reports import SqlNodeReportStore
from stellars.adapters.system import SystemClock
from stellars.domain.containers import ContainerReading, ContainerUsage, usage_between
from stellars.domain.errors import BackendUnavailable, InvalidValue
from stellars.domain.node_reports import LabReport, NodeReport, next_report_at, report_slot
from stellars.domain.settings import StatsSettings
from stellars.domain.volumes import VolumeInfo
from stellars.ports import Clock
from stellars.ports.containers import ContainerStats
from stellars.ports.node_reports import NodeReportStore
from stellars.ports.volumes import VolumeStore

from .service_options import add_db_url_option, database_url, open_database

log = logging.getLogger("stellars.node_sampler")

LOG_FORMAT = "[%(levelname)1.1s %(asctime)s.%(msecs)03d %(name)s] %(message)s"
#: The label of a lab (PlatformSwarmSpawner's; its value is the user's name).
LAB_LABEL = "stellars.lab"
#: The label the swarm gives a task's container: its service's name.
SERVICE_NAME_LABEL = "com.docker.swarm.service.name"
#: The label the node's engine gives the volumes it creates for a lab (the user's name).
VOLUME_LABEL = "stellars.user"
#: How often the old reports are pruned.
PRUNE_EVERY = timedelta(hours=1)
DEFAULT_RETENTION_HOURS = 3
#: Stats requests at a time: each mostly waits about a second on the engine (dockerd 20.10), so
#: a node's labs are read in one round, as the hub reads them on one host
#: (CONTAINER_STATS_PARALLEL in deploy/jupyterhub_config.py; 8 at a time, 20 labs took 3 s).
STATS_PARALLEL = 100


def lab_names(listing: Collection[Mapping[str, Any]]) -> dict[str, str]:
    """container name -> lab name for the containers of a `GET /containers/json` answer: a
    swarm task's lab is its service's name, any other container's its own name."""
    found: dict[str, str] = {}
    for entry in listing:
        own = [name[1:] for name in entry.get("Names") or () if name.count("/") == 1]
        if not own:
            continue
        service = (entry.get("Labels") or {}).get(SERVICE_NAME_LABEL)
        found[own[0]] = service if isinstance(service, str) and service else own[0]
    return found


def node_name_of(info: Mapping[str, Any]) -> str:
    """The node's name in a `docker info` answer: the engine's host name, which is the swarm
    node's hostname. Raises BackendUnavailable when the answer has none."""
    name = info.get("Name")
    if not isinstance(name, str) or not name:
        raise BackendUnavailable("the Docker engine did not say its host name (docker info)")
    return name


class NodeListing(Protocol):
    """What the sampler asks its node's engine besides the stats: its name, its labs, and
    the platform's volumes on it (without sizes)."""

    async def node_name(self) -> str: ...

    async def labs(self) -> Mapping[str, str]:
        """container name -> lab name of the running labs."""
        ...

    async def volumes(self) -> list[VolumeInfo]:
        """The platform's volumes, without sizes, by name."""
        ...


class DockerNodeListing:
    """The NodeListing of one Docker engine: three cheap list requests, no disk usage."""

    def __init__(self, engine: DockerEngine) -> None:
        self._engine = engine

    async def node_name(self) -> str:
        info = await self._engine.run(lambda: self._engine.api.info(), what="docker info")
        return node_name_of(info)

    async def labs(self) -> dict[str, str]:
        listing = await self._engine.run(
            lambda: self._engine.api.containers(filters={"label": LAB_LABEL, "status": "running"}),
            what="the lab containers",
        )
        return lab_names(listing)

    async def volumes(self) -> list[VolumeInfo]:
        answer = await self._engine.run(
            lambda: self._engine.api.volumes(filters={"label": VOLUME_LABEL}),
            what="the platform's volumes",
        )
        found = [volume_info(entry, with_size=False) for entry in answer.get("Volumes") or ()]
        return sorted((info for info in found if info is not None), key=lambda info: info.name)


@dataclass(frozen=True, slots=True)
class TickOutcome:
    """What one tick did: its report, whether it was stored (False: the node had one for
    that slot already), how many old reports it pruned (None: no prune due) and how long it
    took."""

    report: NodeReport
    stored: bool
    pruned: int | None
    seconds: float

    @property
    def line(self) -> str:
        report = self.report
        stored = "stored" if self.stored else "already reported"
        pruned = "" if self.pruned is None else f", {self.pruned} old reports pruned"
        return (
            f"node {report.node} slot {report.slot:%Y-%m-%d %H:%M:%S}: {len(report.labs)} labs, "
            f"{len(report.volumes)} volumes, {stored} in {self.seconds:.2f} s{pruned}"
        )


class NodeSampler:
    """Takes one node's report per slot and records it (see the module's docstring)."""

    def __init__(
        self,
        *,
        listing: NodeListing,
        stats: ContainerStats,
        volumes: VolumeStore,
        store: NodeReportStore,
        clock: Clock,
        interval: timedelta,
        volume_sizes_every: timedelta,
        retention: timedelta,
        node: str | None = None,
        monotonic: Callable[[], float] = time.perf_counter,
    ) -> None:
        if interval <= timedelta(0):
            raise InvalidValue("interval", f"must be positive, got {interval}")
        self.interval = interval
        self.node = node
        self.ticks = 0
        self.failed_ticks = 0
        self._listing = listing
        self._stats = stats
        self._volumes = volumes
        self._store = store
        self._clock = clock
        self._sizes_every = volume_sizes_every
        self._retention = retention
        self._monotonic = monotonic
        self._readings: dict[str, ContainerReading] = {}  # each lab's, of the last tick
        self._sized: dict[str, VolumeInfo] = {}
        self._sized_at: datetime | None = None
        self._pruned_at: datetime | None = None

    async def tick(self) -> TickOutcome:
        """Read the node, record its report for the current slot, prune when due."""
        started = self._monotonic()
        now = self._clock.now()
        if self.node is None:
            self.node = await self._listing.node_name()
        labs, volumes = await asyncio.gather(self._labs(), self._sized_volumes(now))
        report = NodeReport(
            node=self.node,
            slot=report_slot(now, self.interval),
            taken_at=now,
            labs=labs,
            volumes=volumes,
        )
        stored = await self._store.record(report)
        pruned = None
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
            pruned = await self._store.prune(now - self._retention)
            self._pruned_at = now
        return TickOutcome(report, stored, pruned, self._monotonic() - started)

    async def _labs(self) -> tuple[LabReport, ...]:
        """One raw reading per running lab; its usage is the domain's `usage_between` this
        reading and the one of the tick before (CPU over the interval, as the hub's refresher
        measures it). A lab seen for the first time is also measured by the stats' own
        `usage` (two samples of the engine), at the same time, this once."""
        containers = await self._listing.labs()
        if not containers:
            self._readings = {}
            return ()
        new = [name for name in containers if name not in self._readings]
        readings, first = await asyncio.gather(
            self._stats.readings(containers), self._stats.usage(new) if new else _nothing()
        )
        labs = []
        for name, reading in readings.items():
            previous = self._readings.get(name)
            usage = first.get(name) if previous is None else usage_between(previous, reading)
            if usage is not None:  # None: stopped between the reading and the usage
                labs.append(LabReport(containers[name], usage, reading))
        # Only the labs running now are remembered: a restarted task is a new container.
        self._readings = dict(readings)
        return tuple(sorted(labs, key=lambda lab: lab.name))

    async def _sized_volumes(self, now: datetime) -> tuple[VolumeInfo, ...]:
        listed = await self._listing.volumes()
        names = [volume.name for volume in listed]
        due = self._sized_at is None or now - self._sized_at >= self._sizes_every
        if names and (due or any(name not in self._sized for name in names)):
            measured = await self._volumes.volumes(names)
            self._sized = {volume.name: volume for volume in measured}
            self._sized_at = now
        # A volume the disk usage missed (created since) is reported without a size.
        return tuple(self._sized.get(volume.name, volume) for volume in listed)

    async def run(self, stopping: asyncio.Event, *, pause: Pause | None = None) -> None:
        """Tick at once, then in the middle of each slot, until `stopping` is set; a tick in
        progress when it is set is finished. A failed tick is logged and counted."""
        wait = pause or _pause
        while not stopping.is_set():
            self.ticks += 1
            started = self._clock.now()
            try:
                log.info((await self.tick()).line)
            except Exception as error:  # a failed tick must not end the sampler
                self.failed_ticks += 1
                log_tick_failure(error)
            if stopping.is_set():
                break
            # From the slot just reported: a tick that ran into the next slot is followed at
            # once by that slot's, not by the one after.
            delay = next_report_at(started, self.interval) - self._clock.now()
            await wait(max(delay.total_seconds(), 0.0), stopping)


Pause = Callable[[float, asyncio.Event], Awaitable[None]]


async def _nothing() -> Mapping[str, ContainerUsage]:
    return {}


async def _pause(seconds: float, stopping: asyncio.Event) -> None:
    """Wait `seconds`, or less when `stopping` is set meanwhile."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)


def log_tick_failure(error: Exception) -> None:
    """A failed tick is retried at the next one; only an unexpected error gets a traceback."""
    if isinstance(error, BackendUnavailable):
        log.error("Tick failed, retrying at the next tick: %s", error)
    else:
        log.error("Tick failed unexpectedly, retrying at the next tick", exc_info=error)


@dataclass(frozen=True, slots=True)
class NodeSamplerSettings:
    """Everything the node sampler needs, parsed and validated."""

    db_url: str
    engine_url: str
    interval: timedelta
    volume_sizes_every: timedelta
    retention: timedelta
    node: str | None = None
    once: bool = False
    db_url_origin: str = "argument --db-url"


def build_parser() -> argparse.ArgumentParser:
    """The command line of the node sampler."""
    defaults = StatsSettings()
    parser = argparse.ArgumentParser(
        prog="stellars-node-sampler",
        description=(
            "Report this node's labs (usage) and the platform's volumes on it (sizes) to the "
            "stellars database once per interval: one per swarm node, as a global service. "
            "Reads STELLARS_DB_URL and DOCKER_HOST (default: the local socket). SIGTERM stops "
            "after the tick in progress."
        ),
    )
    add_db_url_option(parser, "postgresql+psycopg://user:pass@host/db")
    parser.add_argument(
        "--node",
        default=None,
        help="the node's name in the reports (default: the engine's host name, docker info)",
    )
    parser.add_argument(
        "--interval-seconds",
        type=int,
        default=defaults.container_stats_seconds,
        help="seconds between reports: the hub's container-stats interval "
        f"(default {defaults.container_stats_seconds})",
    )
    parser.add_argument(
        "--volume-sizes-seconds",
        type=int,
        default=defaults.volume_sizes_seconds,
        help="seconds between measurements of the volumes' sizes "
        f"(default {defaults.volume_sizes_seconds})",
    )
    parser.add_argument(
        "--retention-hours",
        type=int,
        default=DEFAULT_RETENTION_HOURS,
        help=f"hours of reports kept (default {DEFAULT_RETENTION_HOURS}; each node's newest "
        "is always kept)",
    )
    parser.add_argument(
        "--once", action="store_true", help="take one report, then exit (1 if it failed)"
    )
    return parser


def parse_settings(
    argv: Sequence[str] | None,
    environ: Mapping[str, str],
    parser: argparse.ArgumentParser | None = None,
) -> NodeSamplerSettings:
    """Validate the command line and the environment; exits with a message naming the
    offending option (status 2) on a bad value."""
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    try:
        stats = StatsSettings(
            container_stats_seconds=args.interval_seconds,
            volume_sizes_seconds=args.volume_sizes_seconds,
        )
    except InvalidValue as error:
        option = {
            "container_stats_seconds": "--interval-seconds",
            "volume_sizes_seconds": "--volume-sizes-seconds",
        }.get(error.field, error.field)
        parser.error(f"argument {option}: {error.message}")
    if args.retention_hours < 1:
        parser.error("argument --retention-hours: must be at least 1")
    if args.node is not None and not args.node.strip():
        parser.error("argument --node: must not be empty")
    db_url, db_url_origin = database_url(args, environ, parser)
    return NodeSamplerSettings(
        db_url=db_url,
        engine_url=environ.get("DOCKER_HOST", "").strip() or DEFAULT_SOCKET,
        interval=timedelta(seconds=stats.container_stats_seconds),
        volume_sizes_every=timedelta(seconds=stats.volume_sizes_seconds),
        retention=timedelta(hours=args.retention_hours),
        node=args.node.strip() if args.node else None,
        once=args.once,
        db_url_origin=db_url_origin,
    )


async def run_node_sampler(settings: NodeSamplerSettings, database: SqlDatabase) -> int:
    """Wire the adapters into a NodeSampler and report until a signal (or once)."""
    engine = DockerEngine(
        lambda: connect(settings.engine_url, max_pool_size=STATS_PARALLEL),
        max_workers=STATS_PARALLEL,
        timeout_seconds=30,
    )
    try:
        sampler = NodeSampler(
            listing=DockerNodeListing(engine),
            stats=DockerContainerStats(engine, max_parallel=STATS_PARALLEL),
            volumes=DockerVolumeStore(engine),
            store=SqlNodeReportStore(database),
            clock=SystemClock(),
            interval=settings.interval,
            volume_sizes_every=settings.volume_sizes_every,
            retention=settings.retention,
            node=settings.node,
        )
        if settings.once:
            try:
                log.info((await sampler.tick()).line)
            except Exception as error:
                log_tick_failure(error)
                return 1
            return 0
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stopping.set)
        loop.add_signal_handler(signal.SIGINT, stopping.set)
        log.info(
            "Node sampler started: every %d s, engine %s, database %s, volume sizes every %d s, "
            "retention %d h",
            settings.interval.total_seconds(),
            settings.engine_url,
            database.url_text,
            settings.volume_sizes_every.total_seconds(),
            settings.retention.total_seconds() // 3600,
        )
        await sampler.run(stopping)
        log.info(
            "Node sampler of %s stopped (%d ticks, %d failed)",
            sampler.node,
            sampler.ticks,
            sampler.failed_ticks,
        )
        return 0
    finally:
        engine.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `stellars-node-sampler`; returns the process exit status."""
    parser = build_parser()
    settings = parse_settings(argv, os.environ, parser)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S")
    database = open_database(settings.db_url, settings.db_url_origin, parser)
    try:
        return asyncio.run(run_node_sampler(settings, database))
    finally:
        database.close()


if __name__ == "__main__":
    sys.exit(main())
