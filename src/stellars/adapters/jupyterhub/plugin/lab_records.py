"""What both of the platform's spawners (one host: `docker_spawner`, swarm: `swarm_spawner`)
do alike around a lab's start and stop: the start's progress feed, the stop records, and who
asked for a stop.

- **progress**: a start's steps go into the spawner's `SpawnFeed` as they happen
  (`report_progress`; the pre-spawn hook reports the volumes and the GPUs, the spawner its own
  steps), and JupyterHub's progress stream (`Spawner.progress`) follows the feed from the
  start's first event, so a page reloaded mid-start sees them all. A stop begins an empty feed:
  a reader arriving before the next start's first step never sees the last one's steps.
- **who asked for a stop**: a stop the hub is asked for runs `stop` inside the API request that
  asked (`hub_objects.requester`); once the lab is stopped, the stop is recorded as its user's,
  an admin's or a service's. A stop outside any request (the hub's own shutdown) records
  nothing here; a restart is recorded by the platform through `record_restart`.
- **the stop records**: every record goes through the platform's stop service, reached through
  the hub's settings; a failure to record is logged, never raised (the hub must still learn that
  the server stopped). A new start forgets the last stop (`forget_last_stop`).
- **a failed start** is raised as an HTTP error carrying the platform's reason and a log tail
  (`start_failed`), which JupyterHub puts in the stream's failure event, the spawn page and the
  start API's answer, and logs without a traceback.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from tornado import web

from stellars.adapters.jupyterhub.hub_objects import current_requester
from stellars.domain.services import ServerStopService
from stellars.domain.spawn_progress import ProgressEvent, ProgressTrail, StartFailure
from stellars.domain.stops import ServerStop, StopReason

from .attach import PLUGIN_SETTING


class SpawnFeed:
    """The progress events of a server's current start, for every reader of its progress
    stream: a queue that many follow, each from the start's first event. `begin` starts a new
    start's events (a reader still following the previous one starts over with them)."""

    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []
        self.generation = 0
        self._trail = ProgressTrail()
        self._changed: asyncio.Event | None = None

    def begin(self) -> None:
        self.events = []
        self.generation += 1
        self._trail = ProgressTrail()
        self._wake()

    def report(self, event: ProgressEvent) -> None:
        """Add `event`, never showing a percentage below one already shown."""
        self._trail, shown = self._trail.shown(event)
        self.events.append(shown.as_jupyterhub_event())
        self._wake()

    @property
    def percent(self) -> int:
        return self._trail.percent

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def follow(self) -> AsyncIterator[dict[str, object]]:
        """Every event of the current start, then each new one as it comes; never ends by
        itself (JupyterHub stops reading when the start is over)."""
        generation, index = self.generation, 0
        while True:
            if generation != self.generation:
                generation, index = self.generation, 0
            while index < len(self.events):
                index += 1
                yield dict(self.events[index - 1])
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()


def failure_html(failure: StartFailure) -> str:
    """A failed start as the spawn page shows it: the reason, then the log lines in a
    preformatted block, every piece HTML-escaped."""
    reason = f'<p class="stellars-start-failure">{html.escape(failure.reason)}</p>'
    if not failure.log:
        return reason
    lines = html.escape("\n".join(failure.log))
    return (
        f"{reason}<p>{html.escape(failure.log_heading)}</p>"
        f'<pre class="stellars-log-tail">{lines}</pre>'
    )


def start_failed(failure: StartFailure, status: int = 502) -> web.HTTPError:
    """A failed start as JupyterHub relays it (logged without a traceback): the reason and the
    log tail as the message of the progress stream's failure event, the spawn page and the
    start API's answer; `status` 502 where the lab failed, 503 where the engine did."""
    # The whole message as the error's own too: JupyterHub 5's API answers with that one, not
    # with `jupyterhub_message`.
    error = web.HTTPError(status, "%s", failure.message)
    error.jupyterhub_message = failure.message  # type: ignore[attr-defined]
    error.jupyterhub_html_message = failure_html(failure)  # type: ignore[attr-defined]
    return error


class LabRecords:
    """The progress feed, the stop records and the stop's requester of a DockerSpawner
    subclass (listed before DockerSpawner or SwarmSpawner among its bases; module docstring).
    """

    # What the spawner class provides (JupyterHub's Spawner, DockerSpawner).
    user: Any
    name: str
    log: logging.Logger | logging.LoggerAdapter[logging.Logger]
    _log_name: str

    # --- progress ---------------------------------------------------------------------------

    _feed: SpawnFeed | None = None

    @property
    def feed(self) -> SpawnFeed:
        """The events of this server's current start (one feed for the spawner's life)."""
        if self._feed is None:
            self._feed = SpawnFeed()
        return self._feed

    def report_progress(self, event: ProgressEvent) -> None:
        """Tell the readers of the progress stream that a step happened (the pre-spawn hook
        and `start` call it as they go)."""
        self.feed.report(event)

    def run_pre_spawn_hook(self) -> Any:
        # The first of the platform's own steps of a start: its events begin here.
        self.feed.begin()
        return super().run_pre_spawn_hook()  # type: ignore[misc]

    async def progress(self) -> AsyncIterator[dict[str, object]]:
        async for event in self.feed.follow():
            yield event

    # --- stops ------------------------------------------------------------------------------

    async def stop(self, now: bool = False) -> None:
        # A stopped server has no start under way: a reader arriving before the next start's
        # first step must not see this one's steps.
        self.feed.begin()
        asked = current_requester()
        stops = self.stop_service()
        # The stop is dated when it began: the lab's end the engine reports comes after.
        began = stops.clock.now() if stops is not None else None
        await super().stop(now=now)  # type: ignore[misc]
        if asked is not None:
            await self.record(
                lambda stops: stops.requested(
                    self.user.name, self.name, by=asked.name, by_service=asked.service, at=began
                )
            )

    async def forget_last_stop(self) -> None:
        """A new start forgets the last stop; a failure is logged (a stale message must never
        keep a lab from starting)."""
        stops = self.stop_service()
        if stops is None:
            return
        try:
            await stops.starting(self.user.name, self.name)
        except Exception as error:
            self.log.warning("could not forget the last stop of %s: %s", self._log_name, error)

    async def record_restart(self, by: str) -> None:
        """Hand the platform a restart that `by` asked for (see `record`)."""
        await self.record(lambda stops: stops.restarted(self.user.name, self.name, by=by))

    async def record(self, recording: Callable[[ServerStopService], Awaitable[ServerStop]]) -> None:
        """Record a stop through the platform's stop service; a failure is logged, never
        raised (the hub must still learn that the server stopped)."""
        stops = self.stop_service()
        if stops is None:
            return
        try:
            stop = await recording(stops)
        except Exception:
            self.log.exception("could not record how %s stopped", self._log_name)
            return
        # A stop somebody asked for is news for nobody; one that happened to the server is.
        chosen = stop.requested or stop.reason is StopReason.RESTARTED
        self.log.log(
            logging.INFO if chosen else logging.WARNING,
            "server %s %s",
            self._log_name,
            stop.message,
        )

    def stop_service(self) -> ServerStopService | None:
        """The platform's stop service, reached through the hub's settings (None outside a
        hub that runs the platform)."""
        settings = getattr(self.user, "settings", None) or {}
        plugin = settings.get(PLUGIN_SETTING)
        return plugin.platform.stops if plugin is not None else None
