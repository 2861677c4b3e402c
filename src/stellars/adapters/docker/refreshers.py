"""Background refreshers: keep container usage and volume sizes in memory, fresh at an interval,
so that a web request reads a snapshot and never waits on the Docker engine.

The hub builds one, calls `start()` from its event loop and `await stop()` at shutdown. They work
over the ports, so any ContainerStats or VolumeStore implementation can feed them::

    engine = DockerEngine(connect(), max_workers=8)
    usage = ContainerStatsRefresher(DockerContainerStats(engine), running_container_names)
    usage.start()                      # on the hub's running loop
    usage.snapshot().value             # in a handler: a dict read, no Docker call
    await usage.stop(); engine.close()  # at shutdown
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Generic, TypeVar

from stellars.domain.containers import ContainerUsage
from stellars.ports.clock import Clock
from stellars.ports.containers import ContainerStats
from stellars.ports.volumes import VolumeInfo, VolumeStore

T = TypeVar("T")

NamesSource = Callable[[], Collection[str] | Awaitable[Collection[str]]]

_log = logging.getLogger(__name__)


class _UtcClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True)
class Snapshot(Generic[T]):
    """The outcome of the last complete pass, and how the latest pass went.

    `refreshed_at` is None until a pass has completed; `error` says why the latest pass failed
    (the value then stays that of the last complete pass).
    """

    value: T
    refreshed_at: datetime | None = None
    error: str | None = None

    @property
    def ready(self) -> bool:
        return self.refreshed_at is not None


class PeriodicRefresher(ABC, Generic[T]):
    """Runs `_refresh()` every `interval_seconds` on the event loop and keeps its result.

    Passes never overlap: a refresh asked for while one runs waits for that one.
    """

    def __init__(
        self,
        *,
        empty: T,
        interval_seconds: float,
        clock: Clock | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        self.interval_seconds = interval_seconds
        self._clock: Clock = clock or _UtcClock()
        self._log = log or _log
        self._snapshot: Snapshot[T] = Snapshot(empty)
        self._loop_task: asyncio.Task[None] | None = None
        self._pass_task: asyncio.Task[None] | None = None

    @abstractmethod
    async def _refresh(self) -> T:
        """One pass: the new value, or an exception (the old value is then kept)."""

    def snapshot(self) -> Snapshot[T]:
        """The latest snapshot; never blocks, never touches a backend."""
        return self._snapshot

    @property
    def running(self) -> bool:
        """Whether the periodic task is scheduled."""
        return self._loop_task is not None and not self._loop_task.done()

    def start(self) -> None:
        """Schedule the periodic task on the running loop (first pass at once); idempotent."""
        if not self.running:
            self._loop_task = asyncio.get_running_loop().create_task(self._run_forever())

    async def stop(self) -> None:
        """Cancel the periodic task and any pass in flight, and wait until they have ended."""
        tasks = [task for task in (self._loop_task, self._pass_task) if task is not None]
        self._loop_task = self._pass_task = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def request_refresh(self) -> None:
        """Start a pass now without waiting for it (none if one is already running)."""
        self._current_pass()

    async def refresh_now(self) -> Snapshot[T]:
        """Run a pass (or join the one running) and return the snapshot after it."""
        await asyncio.shield(self._current_pass())
        return self._snapshot

    def _current_pass(self) -> asyncio.Task[None]:
        task = self._pass_task
        if task is None or task.done():
            task = self._pass_task = asyncio.get_running_loop().create_task(self._one_pass())
        return task

    async def _one_pass(self) -> None:
        try:
            value = await self._refresh()
        except Exception as exc:  # a failed pass must not end the refresher
            self._log.warning("%s: refresh failed: %s", type(self).__name__, exc)
            self._snapshot = Snapshot(
                self._snapshot.value, self._snapshot.refreshed_at, str(exc) or type(exc).__name__
            )
            return
        self._snapshot = Snapshot(value, self._clock.now(), None)

    async def _run_forever(self) -> None:
        while True:
            await self.refresh_now()
            await asyncio.sleep(self.interval_seconds)


async def _call_names(names: NamesSource) -> list[str]:
    found = names()
    if inspect.isawaitable(found):
        found = await found
    return list(found)


class ContainerStatsRefresher(PeriodicRefresher[Mapping[str, ContainerUsage]]):
    """Usage of the containers `names()` lists (a plain or async callable, e.g. the running user
    servers' container names), refreshed every `interval_seconds`.

    Each pass replaces the whole mapping, so containers that stopped drop out.
    """

    def __init__(
        self,
        stats: ContainerStats,
        names: NamesSource,
        *,
        interval_seconds: float = 10.0,
        clock: Clock | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        super().__init__(
            empty=MappingProxyType({}), interval_seconds=interval_seconds, clock=clock, log=log
        )
        self._stats = stats
        self._names = names

    async def _refresh(self) -> Mapping[str, ContainerUsage]:
        return MappingProxyType(dict(await self._stats.usage(await _call_names(self._names))))

    def usage(self, name: str) -> ContainerUsage | None:
        """The latest usage of one container, None when unknown or not running."""
        return self._snapshot.value.get(name)


class VolumeSizeRefresher(PeriodicRefresher[Mapping[str, VolumeInfo]]):
    """Sizes of the volumes on the engine (or of those `names()` lists), refreshed every
    `interval_seconds`; a failed pass keeps the last complete one."""

    def __init__(
        self,
        store: VolumeStore,
        *,
        names: NamesSource | None = None,
        interval_seconds: float = 300.0,
        clock: Clock | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        super().__init__(
            empty=MappingProxyType({}), interval_seconds=interval_seconds, clock=clock, log=log
        )
        self._store = store
        self._names = names

    async def _refresh(self) -> Mapping[str, VolumeInfo]:
        wanted = None if self._names is None else await _call_names(self._names)
        listed = await self._store.volumes(wanted)
        return MappingProxyType({volume.name: volume for volume in listed})

    def size_of(self, name: str) -> int | None:
        """The latest known size of a volume, None when unknown or not measured."""
        volume = self._snapshot.value.get(name)
        return None if volume is None else volume.size_bytes
