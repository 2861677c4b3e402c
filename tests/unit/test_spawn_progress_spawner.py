"""The platform's DockerSpawner reports a start's real steps through JupyterHub's progress
stream (the feed every reader follows from the start's first event, fed by the pre-spawn hook
and `start`), returns from `start` only once the lab answers HTTP, and fails a start with its
reason and its container's log tail (escaped in the HTML) when the image is missing, the
container exits or the lab never answers.

The engine is a fake behind DockerSpawner's own `docker` call; the lab's HTTP check is asked of
a real local HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest
import requests
from dockerspawner import DockerSpawner
from tornado import web
from tornado.httpserver import HTTPServer

from stellars.adapters.jupyterhub import PreSpawnHook, SpawnBase
from stellars.adapters.jupyterhub.plugin import docker_spawner as module
from stellars.adapters.jupyterhub.plugin.docker_spawner import (
    EngineTolerantDockerSpawner,
    SpawnFeed,
    engine_words,
    failure_html,
    lab_answers,
    pull_layers,
    repository_and_tag,
    start_failed,
)
from stellars.adapters.memory import StaticGpuProbe
from stellars.domain.docker_access import DockerAccessGroups
from stellars.domain.gpu import GpuMode, GpuProbeResult
from stellars.domain.limits import LabLimits
from stellars.domain.services import GpuService
from stellars.domain.spawn_progress import (
    ProgressEvent,
    SpawnStep,
    StartFailure,
    container_started,
    image_pulling,
    volumes_prepared,
)

IMAGE = "lab:1"
SIZE = 3 * 2**29


def steps(events: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(event["stellars_step"], event["progress"]) for event in events]


# --- the feed ---------------------------------------------------------------------------------


async def take(feed: SpawnFeed, count: int) -> list[dict[str, object]]:
    taken = []
    async for event in feed.follow():
        taken.append(event)
        if len(taken) == count:
            return taken
    raise AssertionError("the feed ended")


async def test_every_reader_gets_every_event_of_the_start_from_its_first():
    feed = SpawnFeed()
    feed.begin()
    feed.report(volumes_prepared())
    early = asyncio.ensure_future(take(feed, 3))
    await asyncio.sleep(0)
    feed.report(image_pulling(IMAGE, 1, 2))
    late = asyncio.ensure_future(take(feed, 3))  # a page reloaded mid-start
    await asyncio.sleep(0)
    feed.report(container_started("c"))
    expected = [("volumes", 10), ("image", 45), ("container", 70)]
    assert steps(await early) == expected
    assert steps(await late) == expected


async def test_the_feed_never_shows_a_percentage_going_back():
    feed = SpawnFeed()
    feed.report(image_pulling(IMAGE, 9, 10))
    feed.report(image_pulling(IMAGE, 9, 100))
    assert [event["progress"] for event in feed.events] == [57, 57]
    assert feed.percent == 57


async def test_a_new_start_begins_again_and_its_readers_start_over():
    feed = SpawnFeed()
    feed.report(container_started("old"))
    reader = asyncio.ensure_future(take(feed, 2))
    await asyncio.sleep(0)
    feed.begin()
    assert feed.events == [] and feed.percent == 0
    feed.report(volumes_prepared())
    assert steps(await reader) == [("container", 70), ("volumes", 10)]
    assert steps(await take(feed, 1)) == [("volumes", 10)]


# --- the hook's steps -------------------------------------------------------------------------


class Reporting:
    """A Docker spawn's spawner as the hook reads it, reporting progress."""

    def __init__(self) -> None:
        self.user = SimpleNamespace(groups=[], name="ann", id=1, created=None)
        self.name = ""
        self.server = None
        self.environment: dict[str, str] = {}
        self.extra_host_config: dict[str, Any] = {}
        self.reported: list[ProgressEvent] = []

    def report_progress(self, event: ProgressEvent) -> None:
        self.reported.append(event)


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        (GpuMode.OFF, "No GPU for this server."),
        (GpuMode.FORCED, "Every GPU of the machine is assigned to your server."),
    ],
)
async def test_the_hook_reports_the_volumes_then_the_gpus(mode, message):
    hook = PreSpawnHook(
        base=SpawnBase(),
        groups=DockerAccessGroups(),
        gpu=GpuService(probe=StaticGpuProbe(GpuProbeResult()), mode=mode),
        limits=LabLimits(),
    )
    spawner = Reporting()
    await hook(spawner)
    assert [(e.step, e.message) for e in spawner.reported] == [
        (SpawnStep.VOLUMES, "Your volumes are ready."),
        (SpawnStep.GPUS, message),
    ]


async def test_the_hook_reports_nothing_to_a_spawner_that_does_not_listen():
    class Local:
        def __init__(self) -> None:
            self.user = SimpleNamespace(groups=[], name="ann")
            self.name = ""
            self.server = None
            self.environment: dict[str, str] = {}

    hook = PreSpawnHook(
        base=SpawnBase(),
        groups=DockerAccessGroups(),
        gpu=GpuService(probe=StaticGpuProbe(GpuProbeResult()), mode=GpuMode.OFF),
        limits=LabLimits(),
    )
    await hook(Local())  # no report_progress: nothing to call, nothing raised


# --- the start --------------------------------------------------------------------------------


class Engine:
    """The Docker calls a start makes, answered from a script."""

    def __init__(self, *, image_size: int | None = SIZE, exit_code: int | None = None) -> None:
        self.image_size = image_size
        self.exit_code = exit_code
        self.logs = b""
        self.calls: list[str] = []
        self.pulled: list[tuple[str, str]] = []
        self.pull_events: list[dict[str, Any]] = []
        self.pull_error: Exception | None = None
        self.inspect_error: Exception | None = None

    async def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(method)
        if method == "inspect_image":
            if self.image_size is None:
                raise docker.errors.ImageNotFound("No such image: lab:1")
            return {"Size": self.image_size}
        if method == "start":
            return None
        if method == "inspect_container":
            if self.inspect_error is not None:
                raise self.inspect_error
            if self.exit_code is None:
                return {"State": {"Running": True}}
            return {"State": {"Running": False, "ExitCode": self.exit_code, "OOMKilled": False}}
        if method == "logs":
            assert kwargs == {"stdout": True, "stderr": True, "tail": 60}
            return self.logs
        raise AssertionError(f"unexpected call {method}")

    def pull(self, repository: str, *, tag: str, stream: bool, decode: bool) -> Iterator[Any]:
        assert stream and decode
        self.pulled.append((repository, tag))
        yield from self.pull_events
        if self.pull_error is not None:
            raise self.pull_error
        self.image_size = SIZE


@pytest.fixture
def engine(monkeypatch) -> Engine:
    """A spawner's engine: DockerSpawner's own object handling (find, create, address) faked,
    the platform's steps (image, start, wait, log) through `docker` on the fake."""
    fake = Engine()

    async def get_object(self):
        return None

    async def create_object(self):
        return {"Id": "c0ffee"}

    async def get_ip_and_port(self):
        return ("127.0.0.1", 8888)

    monkeypatch.setattr(DockerSpawner, "get_object", get_object)
    monkeypatch.setattr(DockerSpawner, "create_object", create_object)
    monkeypatch.setattr(DockerSpawner, "get_ip_and_port", get_ip_and_port)
    monkeypatch.setattr(EngineTolerantDockerSpawner, "client", fake)
    monkeypatch.setattr(module, "SERVE_POLL_SECONDS", 0.01)
    return fake


@pytest.fixture
def answers(monkeypatch) -> list[str]:
    """The lab answers at its third ask; returns the URLs asked."""
    asked: list[str] = []

    async def lab(url: str, timeout: float) -> bool:
        assert module.SERVE_POLL_SECONDS <= timeout <= module.ASK_SECONDS
        asked.append(url)
        return len(asked) >= 3

    monkeypatch.setattr(module, "lab_answers", lab)
    return asked


def spawner_on(engine: Engine) -> EngineTolerantDockerSpawner:
    spawner = EngineTolerantDockerSpawner(
        user=SimpleNamespace(name="ann", id=1, url="/user/ann/"), image=IMAGE
    )
    spawner.docker = engine  # type: ignore[method-assign]
    spawner.server = SimpleNamespace(base_url="/user/ann/")  # type: ignore[assignment]
    spawner.feed.begin()
    return spawner


async def test_a_start_reports_its_steps_and_returns_only_once_the_lab_answers(engine, answers):
    spawner = spawner_on(engine)
    assert await spawner.start() == ("127.0.0.1", 8888)
    assert answers == ["http://127.0.0.1:8888/user/ann/api"] * 3
    assert [event["message"] for event in spawner.feed.events] == [
        "The image lab:1 (1.5 GiB) is present.",
        "The container jupyter-ann started.",
        "Waiting for JupyterLab to answer...",
        "JupyterLab is serving at /user/ann/.",
    ]
    assert steps(spawner.feed.events) == [
        ("image", 60),
        ("container", 70),
        ("waiting", 80),
        ("serving", 100),
    ]
    assert engine.calls.count("inspect_container") == 3  # the container watched at each ask
    assert engine.pulled == []


async def test_serving_is_reported_only_after_the_lab_answered(engine, monkeypatch):
    seen: list[list[object]] = []

    async def lab(url: str, timeout: float) -> bool:
        seen.append([event["stellars_step"] for event in spawner.feed.events])
        return len(seen) == 2

    monkeypatch.setattr(module, "lab_answers", lab)
    spawner = spawner_on(engine)
    await spawner.start()
    assert seen == [["image", "container", "waiting"]] * 2
    assert spawner.feed.events[-1]["stellars_step"] == "serving"


async def test_a_missing_image_is_pulled_with_its_bytes_reported(engine, answers):
    engine.image_size = None
    engine.pull_events = [
        {"status": "Pulling fs layer", "id": "a"},
        {"status": "Downloading", "id": "a", "progressDetail": {"current": 50, "total": 100}},
        {"status": "Downloading", "id": "b", "progressDetail": {"current": 0, "total": 100}},
        {"status": "Downloading", "id": "a", "progressDetail": {"current": 51, "total": 100}},
        {"status": "Download complete", "id": "a", "progressDetail": {}},  # 100 of 200: 45 %
        {"status": "Downloading", "id": "b", "progressDetail": {"current": 50, "total": 100}},
        {"status": "Download complete", "id": "b", "progressDetail": {}},
        {"status": "Pull complete", "id": "b", "progressDetail": {}},
    ]
    spawner = spawner_on(engine)
    await spawner.start()
    assert engine.pulled == [("lab", "1")]
    messages = [event["message"] for event in spawner.feed.events]
    assert messages[:5] == [
        "Pulling the image lab:1...",
        "Pulling the image lab:1: 50 bytes of 100 bytes.",  # 45 %
        # 50 of 200 (37 %), 51 of 200 (37 %), 100 of 200 (45 %): nothing new shown
        "Pulling the image lab:1: 150 bytes of 200 bytes.",  # 52 %
        "Pulling the image lab:1: 200 bytes of 200 bytes.",  # 60 %
        "The image lab:1 (1.5 GiB) is present.",
    ]
    percents = [event["progress"] for event in spawner.feed.events]
    assert percents == [30, 45, 52, 60, 60, 70, 80, 100]


async def test_an_image_that_cannot_be_pulled_fails_the_start_with_the_engines_words(
    engine, answers
):
    engine.image_size = None
    engine.pull_events = [{"error": "manifest for lab:1 not found"}]
    spawner = spawner_on(engine)
    with pytest.raises(web.HTTPError) as raised:
        await spawner.start()
    assert raised.value.status_code == 503
    assert raised.value.jupyterhub_message == (  # type: ignore[attr-defined]
        "The image lab:1 could not be pulled: manifest for lab:1 not found"
    )
    assert "start" not in engine.calls


async def test_an_image_never_pulled_and_missing_fails_at_once(engine, answers):
    engine.image_size = None
    spawner = spawner_on(engine)
    spawner.pull_policy = "never"
    with pytest.raises(web.HTTPError) as raised:
        await spawner.start()
    assert raised.value.status_code == 503
    assert raised.value.jupyterhub_message == (  # type: ignore[attr-defined]
        "The image lab:1 is not on this machine, and is never pulled."
    )
    assert engine.pulled == []


async def test_a_container_that_exits_at_once_fails_with_its_log_tail_escaped(engine, answers):
    engine.exit_code = 3
    engine.logs = b"".join(b"line %d\n" % n for n in range(70)) + b"<script>alert(1)</script>\n"
    spawner = spawner_on(engine)
    with pytest.raises(web.HTTPError) as raised:
        await spawner.start()
    error = raised.value
    assert error.status_code == 502
    message = error.jupyterhub_message  # type: ignore[attr-defined]
    lines = message.split("\n")
    assert lines[:2] == [
        "Your server's container exited with code 3 as it started.",
        "The last 50 lines of the container's log:",
    ]
    assert lines[2] == "line 21" and lines[-1] == "<script>alert(1)</script>"
    assert len(lines) == 52
    page = error.jupyterhub_html_message  # type: ignore[attr-defined]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert answers == []  # the exit was seen before the lab was asked
    assert "serving" not in [event["stellars_step"] for event in spawner.feed.events]


async def test_a_lab_that_never_answers_fails_before_jupyterhubs_timeout(engine, monkeypatch):
    timeouts: list[float] = []

    async def never(url: str, timeout: float) -> bool:
        timeouts.append(timeout)
        return False

    monkeypatch.setattr(module, "lab_answers", never)
    engine.logs = b"starting...\nstuck\n"
    spawner = spawner_on(engine)
    spawner.http_timeout = 1
    with pytest.raises(web.HTTPError) as raised:
        await spawner.start()
    assert raised.value.jupyterhub_message == (  # type: ignore[attr-defined]
        "JupyterLab did not answer within 1 s of its container's start.\n"
        "The last 2 lines of the container's log:\nstarting...\nstuck"
    )
    # No ask outlasts the wait by more than one poll: each is cut to the time left.
    assert timeouts and all(t <= 1.0 for t in timeouts)


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (
            docker.errors.NotFound("No such container: c0ffee"),
            502,
            "Your server's container was removed as it started.",
        ),
        (
            requests.exceptions.ConnectionError("socket gone"),
            503,
            "The Docker engine stopped answering while your server started: socket gone",
        ),
    ],
)
async def test_a_container_lost_during_the_wait_fails_the_start_with_the_reason(
    engine, answers, error, status, message
):
    engine.inspect_error = error
    with pytest.raises(web.HTTPError) as raised:
        await spawner_on(engine).start()
    assert raised.value.status_code == status
    assert raised.value.jupyterhub_message == message  # type: ignore[attr-defined]


async def test_an_engine_that_refuses_the_container_fails_with_its_words(engine, monkeypatch):
    async def create_object(self):
        raise docker.errors.APIError("500", explanation="could not select device driver nvidia")

    monkeypatch.setattr(DockerSpawner, "create_object", create_object)
    with pytest.raises(web.HTTPError) as raised:
        await spawner_on(engine).start()
    assert raised.value.status_code == 503
    assert raised.value.jupyterhub_message == (  # type: ignore[attr-defined]
        "The Docker engine could not start your server: could not select device driver nvidia"
    )


async def test_the_wait_keeps_within_jupyterhubs_start_timeout(engine):
    spawner = spawner_on(engine)
    spawner.http_timeout, spawner.start_timeout = 30, 120
    now = asyncio.get_running_loop().time()
    assert spawner.serve_seconds(now) == pytest.approx(30, abs=0.5)
    spawner.http_timeout = 300
    assert spawner.serve_seconds(now) == pytest.approx(117, abs=0.5)
    assert spawner.serve_seconds(now - 500) == 0.0


async def test_the_progress_stream_follows_the_feed_and_a_stop_clears_it(engine, monkeypatch):
    async def stop(self, now=False):
        return None

    monkeypatch.setattr(DockerSpawner, "stop", stop)
    spawner = spawner_on(engine)
    spawner.report_progress(volumes_prepared())
    stream = spawner.progress()
    assert (await stream.__anext__())["message"] == "Your volumes are ready."
    await stream.aclose()
    await spawner.stop()
    assert spawner.feed.events == []


def test_the_pre_spawn_hook_begins_a_new_feed():
    ran: list[str] = []
    spawner = EngineTolerantDockerSpawner(
        user=SimpleNamespace(name="ann", id=1), pre_spawn_hook=lambda s: ran.append("hook")
    )
    spawner.report_progress(container_started("old"))
    spawner.run_pre_spawn_hook()
    assert ran == ["hook"] and spawner.feed.events == []


# --- the pieces -------------------------------------------------------------------------------


def test_a_failure_in_html_is_escaped_piece_by_piece():
    failure = StartFailure("It <b>failed</b> & stopped.", ("<i>one</i>", "two"))
    assert failure_html(failure) == (
        '<p class="stellars-start-failure">It &lt;b&gt;failed&lt;/b&gt; &amp; stopped.</p>'
        "<p>The last 2 lines of the container&#x27;s log:</p>"
        '<pre class="stellars-log-tail">&lt;i&gt;one&lt;/i&gt;\ntwo</pre>'
    )
    assert failure_html(StartFailure("No <image>.")) == (
        '<p class="stellars-start-failure">No &lt;image&gt;.</p>'
    )
    error = start_failed(failure)
    assert error.status_code == 502
    # JupyterHub 5's start API answers with the error's own message: the whole of it too.
    assert error.log_message == "%s" and error.args == (failure.message,)
    assert error.jupyterhub_message == failure.message
    assert start_failed(failure, 503).status_code == 503


def test_the_engines_words_are_short_and_on_one_line():
    assert engine_words(docker.errors.APIError("x", explanation="no\nsuch  thing")) == (
        "no such thing"
    )
    assert engine_words(RuntimeError("plain")) == "plain"
    assert engine_words(RuntimeError()) == "RuntimeError"
    assert len(engine_words(RuntimeError("y" * 1000))) == 300


def test_an_image_reference_splits_into_repository_and_tag():
    assert repository_and_tag("lab") == ("lab", "latest")
    assert repository_and_tag("lab:1") == ("lab", "1")
    assert repository_and_tag("registry:5000/team/lab") == ("registry:5000/team/lab", "latest")
    assert repository_and_tag("registry:5000/lab:2") == ("registry:5000/lab", "2")


def test_the_pull_stream_gives_each_layers_bytes_and_raises_its_error():
    events = [
        {"status": "Pulling from library/lab", "id": "1"},
        {"status": "Downloading", "id": "a", "progressDetail": {"current": 5, "total": 9}},
        {"status": "Downloading", "id": "a", "progressDetail": {}},
        {"status": "Downloading", "progressDetail": {"current": 5, "total": 9}},
        {"status": "Download complete", "id": "a"},
        {"status": "Extracting", "id": "a", "progressDetail": {"current": 9, "total": 9}},
    ]
    assert list(pull_layers(events)) == [("a", 5, 9), ("a", None, None)]
    with pytest.raises(docker.errors.APIError, match="denied"):
        list(pull_layers([{"error": "denied"}]))


# --- asking the lab ---------------------------------------------------------------------------


class Status(web.RequestHandler):
    def get(self, code: str) -> None:
        if code == "302":
            self.redirect("/elsewhere")
            return
        self.set_status(int(code))
        self.finish("hi")


@contextlib.contextmanager
def local_server() -> Iterator[int]:
    server = HTTPServer(web.Application([(r"/(\d+)/api", Status)]))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.setblocking(False)
    server.add_sockets([sock])
    try:
        yield sock.getsockname()[1]
    finally:
        server.stop()


async def test_a_lab_answers_with_anything_below_500():
    with local_server() as port:
        for code, answered in (("200", True), ("302", True), ("404", True), ("503", False)):
            assert await lab_answers(f"http://127.0.0.1:{port}/{code}/api") is answered, code
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: refused
    assert await lab_answers(f"http://127.0.0.1:{port}/200/api") is False


async def test_a_lab_that_takes_the_connection_but_never_answers_is_not_serving():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # the kernel accepts; nothing ever answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/api"
        assert await lab_answers(url, timeout=0.2) is False
    finally:
        silent.close()
