"""The platform's DockerSpawner: an unreachable engine during a poll keeps the server's record
(None, "running") instead of raising into the home page, and so does a restart in place by the
platform; other answers pass through. A poll that finds the container ended records why (out of
memory, an exit code) before the hub removes it, and a new start forgets it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from dockerspawner import DockerSpawner

from stellars.adapters.jupyterhub import PLUGIN_SETTING
from stellars.adapters.jupyterhub.hub_objects import acting_for
from stellars.adapters.jupyterhub.plugin.docker_spawner import (
    EngineTolerantDockerSpawner,
    container_exit,
    engine_time,
)
from stellars.adapters.memory import InMemoryHubDirectory, InMemoryServerStopStore, ManualClock
from stellars.domain.errors import BackendUnavailable
from stellars.domain.services import ServerStopService
from stellars.domain.stops import ContainerExit, StopReason


def spawner_whose_engine(monkeypatch, outcome) -> EngineTolerantDockerSpawner:
    async def poll(self):
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    monkeypatch.setattr(DockerSpawner, "poll", poll)
    return EngineTolerantDockerSpawner(user=SimpleNamespace(name="ada", id=1))


async def test_an_unreachable_engine_keeps_the_server_running(monkeypatch):
    spawner = spawner_whose_engine(monkeypatch, requests.exceptions.ConnectionError("refused"))
    assert await spawner.poll() is None


@pytest.mark.parametrize("status", [None, 0, 137])
async def test_the_engines_answer_passes_through(monkeypatch, status):
    assert await spawner_whose_engine(monkeypatch, status).poll() == status


async def test_other_errors_still_raise(monkeypatch):
    spawner = spawner_whose_engine(monkeypatch, RuntimeError("a bug"))
    with pytest.raises(RuntimeError, match="a bug"):
        await spawner.poll()


@pytest.mark.parametrize("status", [0, 137, RuntimeError("a bug")])
async def test_while_the_platform_restarts_the_container_a_poll_says_running(monkeypatch, status):
    spawner = spawner_whose_engine(monkeypatch, status)
    spawner.restart_in_progress = True
    assert await spawner.poll() is None
    spawner.restart_in_progress = False  # the restart is over: the engine's answer again
    if isinstance(status, BaseException):
        with pytest.raises(RuntimeError):
            await spawner.poll()
    else:
        assert await spawner.poll() == status


# --- why a container ended ------------------------------------------------------------------

FINISHED = "2026-05-01T12:00:00.123456789Z"


def inspected(
    *, running=False, code=137, oom=True, memory=268_435_456, error="", finished=FINISHED
):
    """A container as `docker inspect` shows it (the parts the platform reads)."""
    return {
        "Id": "c0ffee",
        "State": {
            "Status": "running" if running else "exited",
            "Running": running,
            "OOMKilled": oom,
            "ExitCode": code,
            "Error": error,
            "FinishedAt": finished,
        },
        "HostConfig": {"Memory": memory},
    }


class TestReadingTheEngine:
    @pytest.mark.parametrize(
        ("text", "moment"),
        [
            (FINISHED, datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)),
            ("2026-05-01T12:00:00Z", datetime(2026, 5, 1, 12, tzinfo=timezone.utc)),
            ("2026-05-01T12:00:00.5Z", datetime(2026, 5, 1, 12, 0, 0, 500000, tzinfo=timezone.utc)),
            ("0001-01-01T00:00:00Z", None),
            ("", None),
            (None, None),
            ("yesterday", None),
        ],
    )
    def test_engine_times(self, text, moment):
        assert engine_time(text) == moment

    def test_an_ended_container(self):
        assert container_exit(inspected(error="boom")) == ContainerExit(
            exit_code=137,
            oom_killed=True,
            finished_at=datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc),
            memory_limit=268_435_456,
            error="boom",
        )

    def test_no_memory_limit_is_none(self):
        assert container_exit(inspected(memory=0)).memory_limit is None
        ended = container_exit({"State": {"Running": False, "ExitCode": 1}})
        assert ended == ContainerExit(exit_code=1, oom_killed=False)

    def test_a_running_container_or_one_without_an_exit_code_has_not_ended(self):
        assert container_exit(inspected(running=True)) is None
        assert container_exit({"State": {"Running": False}}) is None
        assert container_exit({}) is None


@dataclass
class Plugin:
    platform: Any


class Stops:
    """The platform's stop service on the fakes, as the hub's settings carry it."""

    def __init__(self) -> None:
        self.store = InMemoryServerStopStore()
        self.service = ServerStopService(
            store=self.store,
            directory=InMemoryHubDirectory(),
            clock=ManualClock(datetime(2026, 6, 1, tzinfo=timezone.utc)),
        )

    def user(self, name: str = "ada") -> SimpleNamespace:
        platform = SimpleNamespace(stops=self.service)
        return SimpleNamespace(name=name, id=1, settings={PLUGIN_SETTING: Plugin(platform)})


@pytest.fixture
def stops() -> Stops:
    return Stops()


@pytest.fixture(autouse=True)
def engine_logs(monkeypatch) -> dict[str, Any]:
    """The engine's answer to a spawner's `docker("logs", ...)` (never the real engine's):
    `logs["answer"]` (bytes, or an exception to raise), and the calls made."""
    logs: dict[str, Any] = {"answer": b"", "calls": []}

    async def docker(self, method, *args, **kwargs):
        assert method == "logs", method
        logs["calls"].append((args, kwargs))
        if isinstance(logs["answer"], BaseException):
            raise logs["answer"]
        return logs["answer"]

    monkeypatch.setattr(EngineTolerantDockerSpawner, "docker", docker)
    return logs


def spawner_finding(monkeypatch, container, user, server="") -> EngineTolerantDockerSpawner:
    """A spawner whose engine shows `container` (None: gone)."""

    async def get_object(self):
        return container

    monkeypatch.setattr(DockerSpawner, "get_object", get_object)
    return spawner_of(user, server)


def serving_at_once(monkeypatch) -> list[tuple[str, int]]:
    """Labs that answer as soon as their container starts (the wait for them is tested in
    tests/unit/test_spawn_progress_spawner.py); returns where each was asked."""
    asked: list[tuple[str, int]] = []

    async def until_serving(self, ip, port, began):
        asked.append((ip, port))

    monkeypatch.setattr(EngineTolerantDockerSpawner, "until_serving", until_serving)
    return asked


def spawner_of(user: Any, server: str = "") -> EngineTolerantDockerSpawner:
    """A spawner of `user`'s `server` (JupyterHub names a server by its database row)."""
    spawner = EngineTolerantDockerSpawner(user=user)
    if server:
        spawner.orm_spawner = SimpleNamespace(name=server, server=None, state=None)
    return spawner


class TestAnEndedContainerIsRecorded:
    async def test_an_oom_kill_is_recorded_before_the_hub_learns_the_server_stopped(
        self, monkeypatch, stops, caplog
    ):
        spawner = spawner_finding(monkeypatch, inspected(), stops.user())
        with caplog.at_level(logging.WARNING):
            status = await spawner.poll()
        assert status.startswith("ExitCode=137")
        stop = await stops.store.last("ada")
        assert stop.reason is StopReason.OUT_OF_MEMORY
        assert stop.message == "stopped: ran out of memory (limit 256 MiB)"
        assert stop.at == datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
        assert "server ada stopped: ran out of memory (limit 256 MiB)" in caplog.text

    async def test_an_exit_of_a_named_server_is_recorded_under_its_name(self, monkeypatch, stops):
        spawner = spawner_finding(monkeypatch, inspected(code=3, oom=False), stops.user(), "gpu")
        await spawner.poll()
        assert await stops.store.last("ada") is None
        assert (await stops.store.last("ada", "gpu")).message == "stopped: exited with code 3"

    async def test_a_named_servers_start_forgets_its_own_stop(self, monkeypatch, stops):
        async def start(self):
            return ("10.0.0.2", 8888)

        monkeypatch.setattr(DockerSpawner, "start", start)
        serving_at_once(monkeypatch)
        await stops.service.exited("ada", "", container_exit(inspected()))
        await stops.service.exited("ada", "gpu", container_exit(inspected()))
        await spawner_of(stops.user(), "gpu").start()
        assert await stops.store.last("ada", "gpu") is None
        assert await stops.store.last("ada") is not None

    async def test_a_running_container_records_nothing(self, monkeypatch, stops):
        spawner = spawner_finding(monkeypatch, inspected(running=True), stops.user())
        assert await spawner.poll() is None
        assert stops.store.stops == {}

    async def test_a_container_that_is_gone_records_nothing(self, monkeypatch, stops):
        spawner = spawner_finding(monkeypatch, None, stops.user())
        assert await spawner.poll() == 0
        assert stops.store.stops == {}

    async def test_what_an_earlier_look_saw_is_never_taken_for_this_poll(self, monkeypatch, stops):
        spawner = spawner_finding(monkeypatch, None, stops.user())
        spawner.inspected = inspected()  # seen before, by a start for instance
        assert await spawner.poll() == 0
        assert stops.store.stops == {}

    async def test_a_store_that_fails_is_logged_and_the_hub_still_learns_of_the_stop(
        self, monkeypatch, stops, caplog
    ):
        async def fail(stop):
            raise BackendUnavailable("database is locked")

        monkeypatch.setattr(stops.store, "record", fail)
        spawner = spawner_finding(monkeypatch, inspected(), stops.user())
        with caplog.at_level(logging.ERROR):
            assert (await spawner.poll()).startswith("ExitCode=137")
        assert "could not record how ada stopped" in caplog.text

    async def test_outside_a_hub_that_runs_the_platform_nothing_is_recorded(self, monkeypatch):
        spawner = spawner_finding(monkeypatch, inspected(), SimpleNamespace(name="ada", id=1))
        assert (await spawner.poll()).startswith("ExitCode=137")
        assert spawner.stop_service() is None


class TestANewStartForgetsTheLastStop:
    @pytest.fixture
    def started(self, monkeypatch) -> list[str]:
        calls: list[str] = []

        async def start(self):
            calls.append(self.name)
            return ("10.0.0.2", 8888)

        monkeypatch.setattr(DockerSpawner, "start", start)
        serving_at_once(monkeypatch)
        return calls

    async def test_the_start_forgets_its_servers_stop_only(self, stops, started):
        for server in ("", "gpu"):
            await stops.service.exited("ada", server, container_exit(inspected()))
        spawner = spawner_of(stops.user())
        assert await spawner.start() == ("10.0.0.2", 8888)
        assert started == [""]
        assert await stops.store.last("ada") is None
        assert await stops.store.last("ada", "gpu") is not None

    async def test_a_store_that_fails_never_keeps_the_lab_from_starting(
        self, monkeypatch, stops, started, caplog
    ):
        async def fail(username, server_name=""):
            raise BackendUnavailable("database is locked")

        monkeypatch.setattr(stops.store, "forget", fail)
        spawner = spawner_of(stops.user())
        with caplog.at_level(logging.WARNING):
            assert await spawner.start() == ("10.0.0.2", 8888)
        assert "could not forget the last stop of ada: database is locked" in caplog.text


# --- issue 21: every reason ------------------------------------------------------------------


class TestTheLogOfAnExitIsKept:
    async def test_the_last_lines_are_read_and_kept(self, monkeypatch, stops, engine_logs):
        engine_logs["answer"] = b"starting\r\nTraceback: boom\n"
        spawner = spawner_finding(monkeypatch, inspected(code=1, oom=False), stops.user())
        await spawner.poll()
        stop = await stops.store.last("ada")
        assert (stop.reason, stop.exit_code) == (StopReason.EXITED, 1)
        assert stop.log_tail == "starting\nTraceback: boom"
        assert engine_logs["calls"] == [(("c0ffee",), {"stdout": True, "stderr": True, "tail": 50})]

    async def test_an_endless_line_is_read_from_its_end_only(self, monkeypatch, stops, engine_logs):
        engine_logs["answer"] = b"x" * (300 * 1024) + b"\nlast"
        spawner = spawner_finding(monkeypatch, inspected(code=1, oom=False), stops.user())
        await spawner.poll()
        kept = (await stops.store.last("ada")).log_tail.split("\n")
        assert kept[-1] == "last" and len(kept[0]) == 300

    async def test_bytes_that_are_not_utf8_are_replaced(self, monkeypatch, stops, engine_logs):
        engine_logs["answer"] = b"caf\xe9\n"
        spawner = spawner_finding(monkeypatch, inspected(code=1, oom=False), stops.user())
        await spawner.poll()
        assert (await stops.store.last("ada")).log_tail == "caf\ufffd"

    async def test_a_log_the_engine_refuses_leaves_the_stop_without(
        self, monkeypatch, stops, engine_logs, caplog
    ):
        engine_logs["answer"] = RuntimeError("no such container")
        spawner = spawner_finding(monkeypatch, inspected(code=2, oom=False), stops.user())
        with caplog.at_level(logging.WARNING):
            await spawner.poll()
        stop = await stops.store.last("ada")
        assert (stop.exit_code, stop.log_tail) == (2, "")
        assert "could not read the log of ada: no such container" in caplog.text

    async def test_a_container_without_an_id_is_not_asked_for_its_log(
        self, monkeypatch, stops, engine_logs
    ):
        container = inspected(code=2, oom=False)
        del container["Id"]
        await spawner_finding(monkeypatch, container, stops.user()).poll()
        assert engine_logs["calls"] == []
        assert (await stops.store.last("ada")).exit_code == 2


class TestAContainerGoneIsLostByTheEngine:
    async def test_a_container_removed_behind_the_hubs_back(self, monkeypatch, stops, caplog):
        spawner = spawner_finding(monkeypatch, None, stops.user(), "gpu")
        spawner.object_id = "c0ffee"  # the container it started
        with caplog.at_level(logging.WARNING):
            assert await spawner.poll() == 0
        stop = await stops.store.last("ada", "gpu")
        assert (stop.reason, stop.detail) == (StopReason.ENGINE_LOST, "its container is gone")
        assert "stopped: lost by the engine (its container is gone)" in caplog.text

    async def test_a_second_poll_keeps_the_first_account(self, monkeypatch, stops):
        # The engine's end of the container is undated: it was seen when the clock says.
        ended = inspected(code=1, oom=False, finished="")
        spawner = spawner_finding(monkeypatch, ended, stops.user())
        spawner.object_id = "c0ffee"
        await spawner.poll()
        monkeypatch.setattr(DockerSpawner, "get_object", _gone)
        spawner.object_id = "c0ffee"
        await spawner.poll()
        assert (await stops.store.last("ada")).reason is StopReason.EXITED


async def _gone(self):
    return None


class Stopped:
    """DockerSpawner's own stop, counted."""

    def __init__(self, monkeypatch, fails: bool = False) -> None:
        self.calls: list[bool] = []

        async def stop(spawner, now=False):
            self.calls.append(now)
            if fails:
                raise RuntimeError("engine refused")

        monkeypatch.setattr(DockerSpawner, "stop", stop)


def someone(name: str, kind: str = "user") -> SimpleNamespace:
    return SimpleNamespace(name=name, kind=kind)


class TestAStopTheHubWasAskedFor:
    @pytest.mark.parametrize(
        ("who", "reason", "message"),
        [
            (someone("ada"), StopReason.STOPPED_BY_USER, "stopped: stopped by its user ada"),
            (someone("bob"), StopReason.STOPPED_BY_ADMIN, "stopped: stopped by the admin bob"),
            (
                someone("idle-culler", "service"),
                StopReason.STOPPED_BY_SERVICE,
                "stopped: stopped by the service idle-culler",
            ),
        ],
    )
    async def test_the_requester_is_recorded(self, monkeypatch, stops, who, reason, message):
        stopped = Stopped(monkeypatch)
        spawner = spawner_of(stops.user(), "gpu")
        with acting_for(who):
            await spawner.stop(now=True)
        assert stopped.calls == [True]
        stop = await stops.store.last("ada", "gpu")
        assert (stop.reason, stop.actor, stop.message) == (reason, who.name, message)

    async def test_a_chosen_stop_is_logged_as_information_not_as_a_warning(
        self, monkeypatch, stops, caplog
    ):
        Stopped(monkeypatch)
        with caplog.at_level(logging.INFO), acting_for(someone("bob")):
            await spawner_of(stops.user()).stop()
        [line] = [r for r in caplog.records if "stopped by the admin bob" in r.getMessage()]
        assert line.levelno == logging.INFO
        caplog.clear()
        with caplog.at_level(logging.INFO):
            await spawner_of(stops.user()).record_restart("bob")
        [line] = [r for r in caplog.records if "restarted by bob" in r.getMessage()]
        assert line.levelno == logging.INFO

    async def test_a_stop_run_in_a_task_of_its_own_knows_its_requester(self, monkeypatch, stops):
        # JupyterHub stops a server in a task it starts from the request (ensure_future).
        Stopped(monkeypatch)
        spawner = spawner_of(stops.user())
        with acting_for(someone("bob")):
            task = asyncio.ensure_future(spawner.stop())
        await task
        assert (await stops.store.last("ada")).actor == "bob"

    async def test_the_stop_is_dated_when_it_began_so_the_exit_it_leaves_follows_it(
        self, monkeypatch, stops
    ):
        clock = stops.service.clock
        began = clock.now()

        async def slow_stop(spawner, now=False):
            clock.advance(timedelta(seconds=8))  # the container takes its time to stop

        monkeypatch.setattr(DockerSpawner, "stop", slow_stop)
        stopped_at = (began + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S.000000000Z")
        spawner = spawner_finding(
            monkeypatch, inspected(code=137, oom=False, finished=stopped_at), stops.user()
        )
        with acting_for(someone("bob")):
            await spawner.stop()
        assert (await stops.store.last("ada")).at == began
        await spawner.poll()  # the engine dates the end within the stop: a consequence
        stop = await stops.store.last("ada")
        assert (stop.reason, stop.at) == (StopReason.STOPPED_BY_ADMIN, began)

    async def test_a_stop_outside_any_request_records_nothing(self, monkeypatch, stops):
        stopped = Stopped(monkeypatch)
        await spawner_of(stops.user()).stop()
        assert stopped.calls == [False]
        assert stops.store.stops == {}

    async def test_a_stop_that_failed_records_nothing(self, monkeypatch, stops):
        Stopped(monkeypatch, fails=True)
        with acting_for(someone("bob")), pytest.raises(RuntimeError, match="engine refused"):
            await spawner_of(stops.user()).stop()
        assert stops.store.stops == {}

    async def test_the_cullers_reason_stays_when_its_request_arrives(self, monkeypatch, stops):
        Stopped(monkeypatch)
        culled = await stops.service.culled("ada", "", max_age=False, idle_since=None)
        with acting_for(someone("idle-culler", "service")):
            await spawner_of(stops.user()).stop()
        assert await stops.store.last("ada") == culled

    async def test_an_admins_stop_is_not_overwritten_by_the_exit_the_hub_then_polls(
        self, monkeypatch, stops
    ):
        Stopped(monkeypatch)
        ended = inspected(code=137, oom=False, finished="")  # seen now, after the request
        spawner = spawner_finding(monkeypatch, ended, stops.user())
        with acting_for(someone("bob")):
            await spawner.stop()
        await spawner.poll()
        stop = await stops.store.last("ada")
        assert (stop.reason, stop.actor) == (StopReason.STOPPED_BY_ADMIN, "bob")

    async def test_a_restart_is_recorded_with_who_asked(self, stops):
        await spawner_of(stops.user()).record_restart("bob")
        stop = await stops.store.last("ada")
        assert (stop.reason, stop.message) == (StopReason.RESTARTED, "stopped: restarted by bob")
