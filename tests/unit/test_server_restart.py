"""Restarting a server in place: only a running one, one restart at a time, the hub told where
the lab listens afterwards, and the answer only once the lab serves, within a deadline."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stellars.adapters.memory import (
    InMemoryContainers,
    InMemoryHubDirectory,
    ManualClock,
    ScriptedLabServers,
)
from stellars.domain.errors import BackendUnavailable, Conflict, ContainerNotFound, NotFound
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.services import ServerService
from stellars.domain.volumes import DockerNaming
from tests.strategies import EPOCH

NAMING = DockerNaming(prefix="jupyterlab", name_template="jupyterlab-{username}")


def running(name: str, *, ready: bool = True, pending: str | None = None) -> HubUser:
    server = ServerSnapshot(username=name, ready=ready, pending=pending)
    return HubUser(name=name, servers={"": server})


class World:
    def __init__(self, *, silent_checks: int = 0, serve_seconds: int = 10) -> None:
        self.clock = ManualClock(EPOCH)
        self.directory = InMemoryHubDirectory([running("alice"), HubUser(name="bob")])
        self.containers = InMemoryContainers()
        self.containers.start("jupyterlab-alice")
        self.lab = ScriptedLabServers()
        self.lab.add("alice", silent_checks=silent_checks)
        self.sleeps: list[float] = []
        self.service = ServerService(
            directory=self.directory,
            containers=self.containers,
            lab=self.lab,
            clock=self.clock,
            naming=NAMING,
            serve_timeout=timedelta(seconds=serve_seconds),
            poll_seconds=0.5,
            sleep=self.sleep,
        )

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.advance(timedelta(seconds=seconds))


async def test_a_running_server_restarts_in_place_and_answers_at_once():
    world = World()
    report = await world.service.restart("alice")
    assert world.containers.restarts == {"jupyterlab-alice": 1}
    assert world.lab.reconnects == [("alice", "")]
    assert (report.container, report.checks, report.moved) == ("jupyterlab-alice", 1, False)
    assert report.message == "The server of alice restarted and answers again."
    assert world.sleeps == []


async def test_the_answer_waits_until_the_lab_serves():
    world = World(silent_checks=3)
    world.lab.moved.add(("alice", ""))
    report = await world.service.restart("alice")
    assert report.checks == 4
    assert report.moved is True
    assert world.sleeps == [0.5, 0.5, 0.5]


async def test_a_lab_that_does_not_serve_in_time_is_a_503_with_the_reason():
    world = World(silent_checks=100, serve_seconds=2)
    with pytest.raises(BackendUnavailable, match="did not answer within 2 s"):
        await world.service.restart("alice")
    assert world.clock.now() - EPOCH == timedelta(seconds=2)
    # The next attempt is not refused as "already restarting".
    world.lab.silent_checks[("alice", "")].clear()
    await world.service.restart("alice")


@pytest.mark.parametrize(
    ("user", "error", "words"),
    [
        (HubUser(name="bob"), Conflict, "not running"),
        (running("bob", ready=False, pending="spawn"), Conflict, "starting or stopping"),
        (running("bob", pending="stop"), Conflict, "starting or stopping"),
    ],
)
async def test_only_a_running_server_restarts(user, error, words):
    world = World()
    world.directory.put(user)
    with pytest.raises(error, match=words):
        await world.service.restart("bob")
    assert world.containers.restarts == {}


async def test_an_unknown_user_or_a_missing_container_is_not_found():
    world = World()
    with pytest.raises(NotFound, match="carol"):
        await world.service.restart("carol")
    world.directory.put(running("dave"))
    with pytest.raises(ContainerNotFound):
        await world.service.restart("dave")
    assert world.lab.reconnects == []


async def test_a_second_restart_of_the_same_server_meanwhile_is_refused():
    world = World(silent_checks=2)
    first_sleep = world.sleep
    second: list[BaseException] = []

    async def sleep_and_try_again(seconds: float) -> None:
        if not second:
            try:
                await world.service.restart("alice")
            except Conflict as refused:
                second.append(refused)
        await first_sleep(seconds)

    world.service._sleep = sleep_and_try_again
    await world.service.restart("alice")
    assert "already restarting" in str(second[0])
    assert world.containers.restarts == {"jupyterlab-alice": 1}


def test_the_deadline_and_the_poll_must_be_positive():
    world = World()
    with pytest.raises(ValueError, match="serve_timeout"):
        ServerService(
            directory=world.directory,
            containers=world.containers,
            lab=world.lab,
            clock=world.clock,
            naming=NAMING,
            serve_timeout=timedelta(0),
        )
    with pytest.raises(ValueError, match="poll_seconds"):
        ServerService(
            directory=world.directory,
            containers=world.containers,
            lab=world.lab,
            clock=world.clock,
            naming=NAMING,
            poll_seconds=0,
        )
