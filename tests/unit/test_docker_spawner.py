"""The platform's DockerSpawner: an unreachable engine during a poll keeps the server's record
(None, "running") instead of raising into the home page, and so does a restart in place by the
platform; other answers pass through. A poll that finds the container ended records why (out of
memory, an exit code) before the hub removes it, and a new start forgets it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from dockerspawner import DockerSpawner

from stellars.adapters.jupyterhub import PLUGIN_SETTING
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


def spawner_finding(monkeypatch, container, user, server="") -> EngineTolerantDockerSpawner:
    """A spawner whose engine shows `container` (None: gone)."""

    async def get_object(self):
        return container

    monkeypatch.setattr(DockerSpawner, "get_object", get_object)
    return spawner_of(user, server)


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


class TestAnEndedContainerIsRemoved:
    """JupyterHub calls `stop` only for a server its poll finds running: the poll that finds a
    container ended removes it when the spawner removes its containers."""

    def spawner(self, monkeypatch, container, stops, *, remove: bool) -> Any:
        removed: list[str] = []

        async def remove_object(self):
            removed.append(self.container_name)

        monkeypatch.setattr(DockerSpawner, "remove_object", remove_object)
        spawner = spawner_finding(monkeypatch, container, stops.user())
        spawner.remove = remove
        spawner.removed = removed
        return spawner

    async def test_an_ended_container_is_removed_after_its_end_is_recorded(
        self, monkeypatch, stops
    ):
        spawner = self.spawner(monkeypatch, inspected(), stops, remove=True)
        assert (await spawner.poll()).startswith("ExitCode=137")
        assert spawner.removed == [spawner.container_name]
        assert (await stops.store.last("ada")).reason is StopReason.OUT_OF_MEMORY

    async def test_kept_when_the_spawner_keeps_its_containers(self, monkeypatch, stops):
        spawner = self.spawner(monkeypatch, inspected(), stops, remove=False)
        await spawner.poll()
        assert spawner.removed == []

    @pytest.mark.parametrize("container", [inspected(running=True), None])
    async def test_a_running_or_gone_container_is_left_alone(self, monkeypatch, stops, container):
        spawner = self.spawner(monkeypatch, container, stops, remove=True)
        await spawner.poll()
        assert spawner.removed == []

    async def test_a_removal_that_fails_is_logged_and_the_hub_still_learns_of_the_stop(
        self, monkeypatch, stops, caplog
    ):
        async def fail(self):
            raise requests.exceptions.ConnectionError("engine gone again")

        spawner = spawner_finding(monkeypatch, inspected(), stops.user())
        spawner.remove = True
        monkeypatch.setattr(DockerSpawner, "remove_object", fail)
        with caplog.at_level(logging.ERROR):
            assert (await spawner.poll()).startswith("ExitCode=137")
        assert "could not remove the ended container of ada" in caplog.text
