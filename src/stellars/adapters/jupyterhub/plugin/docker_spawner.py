"""DockerSpawner as the platform runs it: a poll that cannot reach the Docker engine, or that
comes while the platform restarts the container in place, says "still running"; a poll that
finds the container ended records why, before DockerSpawner removes it.

JupyterHub polls a user's spawner on every visit to the home page and on its periodic checks.
Stock DockerSpawner lets the engine's connection error escape from `poll`, so while the engine is
away (restarting, socket relay down) every user with a running server gets a 500 on /hub/home.
The container's state is unknown then, not "stopped": keeping the server's record is what lets
the next poll, once the engine answers, see the real state; reporting an exit would make the hub
forget a container that still runs.

A restart in place stops and starts the same container. A periodic poll that lands while it is
down would report an exit, and JupyterHub would remove the server's route and stop it, taking
the container with it; the platform sets `restart_in_progress` for the restart's duration.

A poll that finds the container stopped is a stop nobody asked the hub for: the kernel's OOM
killer, a crash, a shutdown from inside the lab. JupyterHub then stops the server, and
DockerSpawner removes the container with the engine's account of its end, so the poll reads
that account first (`State.OOMKilled`, `State.ExitCode`, `State.FinishedAt`,
`HostConfig.Memory`) and the last lines of the container's log, and hands them to the platform
(`stellars.domain.stops` has the rule), which tells the user why on the home page and in the
API. A poll that finds no container at all (removed behind the hub's back, an engine that lost
it) records the server as lost by the engine.

A stop the hub is asked for runs `stop`, inside the API request that asked (JupyterHub's
`DELETE /hub/api/users/{user}/server`, which the platform serves with its requester known:
`hub_objects.requester`): once the container is stopped, the stop is recorded as its user's,
an admin's or a service's. A stop outside any request (the hub's own shutdown) records nothing.
The idle culler records its own reason before it asks, and the rule keeps that one. A new
start forgets the last stop.

A start reports its real steps as they happen through JupyterHub's own progress stream
(`Spawner.progress`, served at /hub/api/users/{name}/server/progress and shown by the spawn
page): the pre-spawn hook reports the volumes and the GPUs, `start` the image (present with its
size, or pulled with the bytes the engine announced), the container started, and the wait for
JupyterLab (`stellars.domain.spawn_progress` has the steps and their percentages). Events go
into the spawner's `SpawnFeed`, which every reader of the stream follows from the start's first
event (a page reloaded mid-start sees them all).

"Ready means serving": `start` returns only once the lab answers HTTP at its URL (any answer
below 500, as JupyterHub's own check), so the stream ends ready only then. While it waits it
watches the container: one that exited fails the start at once, with its exit code and the last
lines of its log, instead of JupyterHub waiting its whole HTTP timeout; one that never answers
fails before JupyterHub's start timeout, with its log too. Every failure of a start (an image
missing, the engine refusing the container, the lab exiting or never answering) is raised as an
HTTP error carrying the platform's reason and the log tail (`jupyterhub_message`, and its HTML,
escaped, as `jupyterhub_html_message`), which JupyterHub puts in the stream's failure event, the
spawn page and the start API's answer, and logs without a traceback.

JupyterHub calls a spawner's `stop` only for a server its poll finds running, so the stock
DockerSpawner never removes a container that ended by itself (an engine restart ends them all):
with `remove` on, the poll that finds it ended removes it, after reading its account.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import docker.errors
import requests
from dockerspawner import DockerSpawner
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from stellars.domain.spawn_progress import (
    LOG_LINES,
    PullTally,
    StartFailure,
    container_started,
    image_present,
    image_pulling,
    serving,
    waiting_for_lab,
)
from stellars.domain.stops import LOG_TAIL_LINES, ContainerExit
from stellars.domain.validation import clip

# The feed, the failed start and its HTML live with the mixin both spawners share; re-exported.
from .lab_records import LabRecords
from .lab_records import SpawnFeed as SpawnFeed
from .lab_records import failure_html as failure_html
from .lab_records import start_failed as start_failed

log = logging.getLogger(__name__)

#: What the engine writes as the end of a container that never ended.
_NEVER = "0001-01-01T00:00:00Z"
#: The most bytes of a container's log read with its exit (its last ones): the lines kept are
#: far fewer, and a log of one endless line must not be read whole.
LOG_READ_BYTES = 256 * 1024
#: What a poll that finds no container records.
CONTAINER_GONE = "its container is gone"


def engine_time(text: object) -> datetime | None:
    """A time as the engine writes it (RFC 3339 in UTC with up to nanoseconds:
    "2026-05-01T12:00:00.123456789Z") as an aware datetime; None for none or the zero time."""
    if not isinstance(text, str) or not text or text == _NEVER:
        return None
    stamp = text.removesuffix("Z")
    whole, _, fraction = stamp.partition(".")
    try:
        moment = datetime.fromisoformat(whole).replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    if fraction.isdigit():
        moment = moment.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    return moment


def container_exit(container: Mapping[str, Any]) -> ContainerExit | None:
    """How a container ended, from its `docker inspect`; None while it runs or when the answer
    does not say."""
    state = container.get("State") or {}
    if state.get("Running", True) or not isinstance(state.get("ExitCode"), int):
        return None
    memory = (container.get("HostConfig") or {}).get("Memory")
    return ContainerExit(
        exit_code=state["ExitCode"],
        oom_killed=state.get("OOMKilled") is True,
        finished_at=engine_time(state.get("FinishedAt")),
        memory_limit=memory if isinstance(memory, int) and memory > 0 else None,
        error=str(state.get("Error") or ""),
    )


#: How often a start looks at its container and asks its lab, while it waits for it to serve.
SERVE_POLL_SECONDS = 0.5
#: How long one ask of the lab may take.
ASK_SECONDS = 5.0
#: How much of JupyterHub's start timeout the wait leaves, so that the platform's own failure
#: (with the log) comes before JupyterHub cancels the start.
START_TIMEOUT_MARGIN_SECONDS = 3.0
#: The most characters of the engine's own words a failure repeats.
ENGINE_WORDS = 300


def engine_words(error: BaseException) -> str:
    """What the engine said of a refusal, short and on one line."""
    said = getattr(error, "explanation", None) or str(error) or type(error).__name__
    if isinstance(said, bytes):
        said = said.decode("utf-8", "replace")
    return clip(" ".join(str(said).split()), ENGINE_WORDS)


def repository_and_tag(image: str) -> tuple[str, str]:
    """An image reference as a pull names it: "registry:5000/lab" is the repository "lab" of
    that registry at "latest", "lab:1" is "lab" at "1" (the tag is after a colon in the last
    path segment only)."""
    if ":" in image.split("/")[-1]:
        repository, tag = image.rsplit(":", 1)
        return repository, tag
    return image, "latest"


def pull_layers(
    events: Iterable[Mapping[str, Any]],
) -> Iterable[tuple[str, int, int] | tuple[str, None, None]]:
    """The (layer, bytes done, bytes in all) of each download event of the engine's pull
    stream, and (layer, None, None) for a layer whose download is complete; an event carrying
    an error raises it."""
    for event in events:
        if event.get("error"):
            raise docker.errors.APIError(str(event.get("error")))
        detail = event.get("progressDetail") or {}
        layer = event.get("id")
        if event.get("status") == "Downloading" and isinstance(layer, str):
            current, total = detail.get("current"), detail.get("total")
            if isinstance(current, int) and isinstance(total, int):
                yield layer, current, total
        elif event.get("status") == "Download complete" and isinstance(layer, str):
            yield layer, None, None


def exited_reason(ended: ContainerExit) -> str:
    """Why a container that ended while its lab started failed the start."""
    if ended.oom_killed and ended.exit_code != 0:
        return "Your server's container ran out of memory as it started."
    return f"Your server's container exited with code {ended.exit_code} as it started."


async def lab_answers(url: str, timeout: float = ASK_SECONDS) -> bool:
    """Whether a lab answers HTTP at `url` within `timeout` seconds: any answer below 500, as
    JupyterHub's own check counts it (a lab asks a stranger to log in, which is an answer)."""
    request = HTTPRequest(
        url, request_timeout=timeout, connect_timeout=timeout, follow_redirects=False
    )
    try:
        response = await AsyncHTTPClient().fetch(request, raise_error=False)
    except (OSError, HTTPClientError, asyncio.TimeoutError):  # refused, timed out, closed
        return False
    return bool(response.code < 500)


class EngineTolerantDockerSpawner(LabRecords, DockerSpawner):
    """DockerSpawner with `poll` answering None (running) while the engine is unreachable or
    the platform restarts the container, and recording why a container it finds ended (the
    progress feed, the stop records and who asked for a stop: `LabRecords`)."""

    #: Set by the platform (HubLabServers.restarting) while it restarts the container in place.
    restart_in_progress = False
    #: The container as the last `get_object` saw it (None: gone, or not looked at yet).
    inspected: Mapping[str, Any] | None = None

    async def get_object(self) -> Any:
        self.inspected = found = await super().get_object()
        return found

    async def poll(self) -> int | str | None:
        if self.restart_in_progress:
            return None
        self.inspected = None
        had_container = bool(self.object_id)  # a start that failed before creating one had none
        try:
            status: int | str | None = await super().poll()
        except requests.exceptions.ConnectionError as error:
            self.log.warning(
                "Docker engine unreachable while polling %s; keeping its server as running: %s",
                self.container_name,
                error,
            )
            return None
        if status is not None:
            if self.inspected is None:  # DockerSpawner found no container at all
                if had_container:
                    await self.record(
                        lambda stops: stops.lost(self.user.name, self.name, CONTAINER_GONE)
                    )
            else:
                ended = container_exit(self.inspected)
                if ended is not None:
                    await self.record_exit(replace(ended, log=await self.log_tail()))
                    await self.remove_ended()
        return status

    async def remove_ended(self) -> None:
        """Remove a container found ended, as `stop` would have: JupyterHub stops a server
        whose poll reports an exit without calling the spawner's `stop` (the container is not
        running), so DockerSpawner's `remove` never applied and the dead container kept the
        user's volumes in use (a reset refused) until the next start. A failure is logged,
        never raised (the hub must still learn that the server stopped)."""
        if not self.remove:
            return
        try:
            await self.remove_object()
        except Exception:
            self.log.exception("could not remove the ended container of %s", self._log_name)

    async def log_tail(self) -> str:
        """The last lines of the inspected container's log ("" when the engine does not give
        them: the stop is recorded without)."""
        container_id = (self.inspected or {}).get("Id")
        if not container_id:
            return ""
        try:
            raw = await self.docker(
                "logs", container_id, stdout=True, stderr=True, tail=LOG_TAIL_LINES
            )
        except Exception as error:  # the docker SDK's errors; the log is a courtesy
            self.log.warning("could not read the log of %s: %s", self._log_name, error)
            return ""
        if not isinstance(raw, bytes):
            return ""
        return raw[-LOG_READ_BYTES:].decode("utf-8", errors="replace")

    # --- the start ---------------------------------------------------------------------------

    async def start(self) -> Any:
        began = asyncio.get_running_loop().time()
        await self.forget_last_stop()
        try:
            ip, port = await super().start()
        except web.HTTPError:
            raise
        except docker.errors.ImageNotFound as error:
            raise start_failed(
                StartFailure(
                    f"The image {self.image} is not on this machine: {engine_words(error)}"
                ),
                503,
            ) from None
        except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
            raise start_failed(
                StartFailure(
                    f"The Docker engine could not start your server: {engine_words(error)}"
                ),
                503,
            ) from None
        if self.internal_ssl:  # JupyterHub's own check, with its certificates, decides then
            self.report_progress(waiting_for_lab())
            return ip, port
        self.report_progress(waiting_for_lab())
        try:
            await self.until_serving(ip, port, began)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
            raise start_failed(
                StartFailure(
                    "The Docker engine stopped answering while your server started: "
                    f"{engine_words(error)}"
                ),
                503,
            ) from None
        self.report_progress(serving(self.server.base_url if self.server else "/"))
        return ip, port

    async def pull_image(self, image: str) -> None:
        """DockerSpawner's pull, reporting the image: present with its size, or pulled with the
        bytes the engine announces; an image that cannot be had fails the start with 503."""
        if self.pull_policy == "skip":
            return await super().pull_image(image)
        size = await self.image_size(image)
        if size is not None and self.pull_policy.lower() != "always":
            self.report_progress(image_present(image, size))
            return None
        if size is None and self.pull_policy == "never":
            raise start_failed(
                StartFailure(f"The image {image} is not on this machine, and is never pulled."),
                503,
            )
        self.report_progress(image_pulling(image))
        try:
            await self.pull_with_progress(image)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
            raise start_failed(
                StartFailure(f"The image {image} could not be pulled: {engine_words(error)}"),
                503,
            ) from None
        self.report_progress(image_present(image, await self.image_size(image)))
        return None

    async def image_size(self, image: str) -> int | None:
        """The image's size in bytes as the engine says it; None where it has no such image."""
        try:
            found = await self.docker("inspect_image", image)
        except docker.errors.NotFound:
            return None
        size = found.get("Size") if isinstance(found, Mapping) else None
        return size if isinstance(size, int) and size >= 0 else 0

    async def pull_with_progress(self, image: str) -> None:
        """Pull `image`, reporting the bytes of its layers as the engine announces them. The
        engine's stream is read on a thread of its own, handing each layer's figures to the
        loop, so that a long pull holds neither the loop nor DockerSpawner's one Docker
        thread."""
        loop = asyncio.get_running_loop()
        figures: asyncio.Queue[tuple[str, int | None, int | None] | None] = asyncio.Queue()
        repository, tag = repository_and_tag(image)

        def read_stream() -> None:
            try:
                stream = self.client.pull(repository, tag=tag, stream=True, decode=True)
                for figure in pull_layers(stream):
                    loop.call_soon_threadsafe(figures.put_nowait, figure)
            finally:
                loop.call_soon_threadsafe(figures.put_nowait, None)

        reading = loop.run_in_executor(None, read_stream)
        tally = PullTally()
        while (figure := await figures.get()) is not None:
            layer, done, total = figure
            tally = (
                tally.completed(layer)
                if done is None or total is None
                else tally.with_layer(layer, done, total)
            )
            event = image_pulling(image, tally.done, tally.total)
            if event.percent > self.feed.percent:  # one event per percent, not per chunk
                self.report_progress(event)
        await reading  # raises what the pull raised

    async def start_object(self) -> None:
        await super().start_object()
        self.report_progress(container_started(self.container_name))

    def serve_seconds(self, began: float) -> float:
        """How long the lab has to answer: JupyterHub's HTTP timeout, within what its start
        timeout leaves of a start that began at `began` (less a margin for the failure)."""
        left = self.start_timeout - (asyncio.get_running_loop().time() - began)
        return max(0.0, min(float(self.http_timeout), left - START_TIMEOUT_MARGIN_SECONDS))

    async def until_serving(self, ip: str, port: int, began: float) -> None:
        """Return once the lab answers HTTP at its API (ready means serving); fail the start
        with the container's log tail when the container ends first or the lab does not answer
        in time."""
        host = f"[{ip}]" if ":" in ip else ip
        base_url = self.server.base_url if self.server else "/"
        url = f"http://{host}:{port}{base_url}api"
        loop = asyncio.get_running_loop()
        seconds = self.serve_seconds(began)
        deadline = loop.time() + seconds
        while True:
            try:
                container = await self.docker("inspect_container", self.container_id)
            except docker.errors.NotFound:
                raise start_failed(
                    StartFailure("Your server's container was removed as it started.")
                ) from None
            ended = container_exit(container)
            if ended is not None:
                raise start_failed(await self.failure_with_log(exited_reason(ended)))
            if await lab_answers(
                url, max(SERVE_POLL_SECONDS, min(ASK_SECONDS, deadline - loop.time()))
            ):
                return
            if loop.time() >= deadline:
                raise start_failed(
                    await self.failure_with_log(
                        f"JupyterLab did not answer within {seconds:.0f} s of its container's "
                        "start."
                    )
                )
            await asyncio.sleep(SERVE_POLL_SECONDS)

    async def failure_with_log(self, reason: str) -> StartFailure:
        """A failed start with the last lines of its container's log (none when the engine
        cannot give them)."""
        try:
            raw = await self.docker(
                "logs", self.container_id, stdout=True, stderr=True, tail=LOG_LINES + 10
            )
        except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
            self.log.warning("no log of %s: %s", self._log_name, error)
            return StartFailure(reason)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        failure = StartFailure.with_log(reason, text)
        self.log.warning("server %s did not start: %s", self._log_name, failure.message)
        return failure

    async def record_exit(self, ended: ContainerExit) -> None:
        """Hand the platform how the container ended (see `record`)."""
        await self.record(lambda stops: stops.exited(self.user.name, self.name, ended))
