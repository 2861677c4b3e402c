"""One building block for "do this every interval, keep the latest result, survive failures".

The container-stats and volume-size caches of the hub and the activity sampler's loop are all
`Refresher`s around a different `fetch`; a web request reads `snapshot()` and never waits on a
backend. Behaviour comes from the callable passed in, not from subclass hooks:

    stats = Refresher(lambda: port.usage(names()), empty={}, interval=timedelta(seconds=10),
                      clock=clock, name="container stats")
    stats.start()                # on the running loop: first pass at once
    stats.snapshot().value       # in a handler: a plain read
    await stats.stop()           # at shutdown
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Generic, TypeAlias, TypeVar

from stellars.domain.errors import InvalidValue
from stellars.ports.clock import Clock

T = TypeVar("T")

Timer: TypeAlias = Callable[[float], Coroutine[Any, Any, None]]

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Snapshot(Generic[T]):
    """The outcome of the last complete pass and how the latest pass went.

    `refreshed_at` is None until a pass has completed. After a failed pass `value` and
    `refreshed_at` stay those of the last complete pass, `error` says why it failed and
    `failures` counts the failed passes since the last success.
    """

    value: T
    refreshed_at: datetime | None = None
    error: str | None = None
    failures: int = 0

    @property
    def ready(self) -> bool:
        return self.refreshed_at is not None

    def age(self, now: datetime) -> timedelta | None:
        """How old the value is at `now` (None before the first complete pass)."""
        return None if self.refreshed_at is None else now - self.refreshed_at


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


class Refresher(Generic[T]):
    """Runs `fetch` every `interval` on the event loop and keeps its latest result.

    Passes never overlap: asking for one while one runs joins it, except `request_refresh`,
    whose caller has just changed what the backend holds: the pass in flight may have read it
    before the change, so one more pass follows it. Passes are scheduled from the start of the
    previous one, so a slow pass does not shift the rhythm. A pass that raises is
    logged (or handed to `on_failure`) and counted; the refresher keeps going. `timer` waits
    between passes (a test passes one that does not really sleep).
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[T]],
        *,
        empty: T,
        interval: timedelta,
        clock: Clock,
        name: str,
        log: logging.Logger | None = None,
        timer: Timer = _sleep,
        on_failure: Callable[[Exception], None] | None = None,
    ) -> None:
        if interval <= timedelta(0):
            raise InvalidValue("interval", f"must be positive, got {interval}")
        self.name = name
        self.interval = interval
        self.passes = 0
        self.failed_passes = 0
        self._fetch = fetch
        self._clock = clock
        self._log = log or _LOG
        self._timer = timer
        self._on_failure = on_failure
        self._snapshot: Snapshot[T] = Snapshot(empty)
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._pass_task: asyncio.Task[None] | None = None
        self._pass_again = False  # a pass is owed once the one in flight ends

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
            self._stopping = False
            self._loop_task = asyncio.get_running_loop().create_task(self.run())

    async def run(self) -> None:
        """Pass now and then every interval until `stop()`."""
        loop = asyncio.get_running_loop()
        interval = self.interval.total_seconds()
        while not self._stopping:
            started = loop.time()
            await self.refresh_now()
            if self._stopping:
                break
            delay = max(0.0, started + interval - loop.time())
            timer = loop.create_task(self._timer(delay))
            woken = loop.create_task(self._wake.wait())
            try:
                await asyncio.wait({timer, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (timer, woken):
                    task.cancel()
                self._wake.clear()

    def wake(self) -> None:
        """Start the next pass now instead of at the end of the interval."""
        self._wake.set()

    async def stop(self, *, finish_pass: bool = False) -> None:
        """End the periodic task; a pass in flight is cancelled, or awaited with `finish_pass`."""
        self._stopping = True
        self._wake.set()
        running_pass = self._pass_task
        if finish_pass and running_pass is not None and not running_pass.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(running_pass)
        tasks = [task for task in (self._loop_task, self._pass_task) if task is not None]
        self._loop_task = self._pass_task = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def request_refresh(self) -> None:
        """Start a pass now without waiting for it. When one is running, it may have read the
        backend before the caller's change (a volume just created may be missing from it), so
        another pass starts when it ends: one, however many requests come meanwhile."""
        running = self._pass_task
        if running is None or running.done():
            self._current_pass()
        elif not self._pass_again:
            self._pass_again = True
            running.add_done_callback(self._pass_owed)

    def _pass_owed(self, _ended: asyncio.Task[None]) -> None:
        self._pass_again = False
        if not self._stopping:
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
        self.passes += 1
        try:
            value = await self._fetch()
        except Exception as exc:  # a failed pass must not end the refresher
            self.failed_passes += 1
            reason = str(exc) or type(exc).__name__
            if self._on_failure is not None:
                self._on_failure(exc)
            else:
                self._log.warning("%s: refresh failed: %s", self.name, reason)
            self._snapshot = replace(
                self._snapshot, error=reason, failures=self._snapshot.failures + 1
            )
            return
        self._snapshot = Snapshot(value, self._clock.now(), None, 0)
