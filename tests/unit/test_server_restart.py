"""Restarting a server in place: only a running one, one restart at a time, the hub told where
the lab listens afterwards, and the answer only once the lab serves, within a deadline."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from stellars.adapters.memory import (
    InMemoryContainers,
    InMemoryHubDirectory,
    ManualClock,
    ScriptedLabServers,
)
from stellars.domain.docker_access import DockerAccess, DockerAccessGroups
from stellars.domain.errors import (
    BackendUnavailable,
    Conflict,
    ContainerNotFound,
    InvalidValue,
    NotFound,
    Refused,
)
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.services import RestartReport, ServerService
from stellars.domain.volumes import DockerNaming
from tests.strategies import EPOCH

NAMING = DockerNaming(prefix="jupyterlab", name_template="jupyterlab-{username}")
GROUPS = DockerAccessGroups()


def running(
    name: str,
    *,
    ready: bool = True,
    pending: str | None = None,
    groups: frozenset[str] = frozenset(),
) -> HubUser:
    server = ServerSnapshot(username=name, ready=ready, pending=pending)
    return HubUser(name=name, servers={"": server}, groups=groups)


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
            access_groups=GROUPS,
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
    assert str(second[0]) == "The server is already restarting."
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
            access_groups=GROUPS,
            serve_timeout=timedelta(0),
        )
    with pytest.raises(ValueError, match="poll_seconds"):
        ServerService(
            directory=world.directory,
            containers=world.containers,
            lab=world.lab,
            clock=world.clock,
            naming=NAMING,
            access_groups=GROUPS,
            poll_seconds=0,
        )


class RecordingContainers(InMemoryContainers):
    """Containers that also record the stop timeout each restart was given."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[int] = []

    async def restart(self, name: str, *, timeout_seconds: int = 10) -> None:
        self.timeouts.append(timeout_seconds)
        await super().restart(name, timeout_seconds=timeout_seconds)


def bare_service(world: World, **options: object) -> ServerService:
    options.setdefault("access_groups", GROUPS)
    return ServerService(
        directory=world.directory,
        containers=world.containers,
        lab=world.lab,
        clock=world.clock,
        naming=NAMING,
        **options,  # type: ignore[arg-type]
    )


class TestTheExactRules:
    def test_the_defaults_give_ten_seconds_to_stop_two_minutes_to_serve_and_poll_twice_a_second(
        self,
    ):
        service = bare_service(World())
        assert service.stop_timeout_seconds == 10
        assert service.serve_timeout == timedelta(seconds=120)
        assert service.poll_seconds == 0.5
        assert service.naming is NAMING

    @pytest.mark.parametrize(
        ("options", "field", "message"),
        [
            ({"serve_timeout": timedelta(0)}, "serve_timeout", "must be positive, got 0:00:00"),
            (
                {"serve_timeout": timedelta(seconds=-1)},
                "serve_timeout",
                "must be positive, got -1 day, 23:59:59",
            ),
            ({"poll_seconds": 0}, "poll_seconds", "must be positive, got 0"),
            ({"poll_seconds": -0.5}, "poll_seconds", "must be positive, got -0.5"),
        ],
    )
    def test_a_deadline_or_poll_that_is_not_positive_is_refused(self, options, field, message):
        with pytest.raises(InvalidValue) as refused:
            bare_service(World(), **options)
        assert (refused.value.field, refused.value.message) == (field, message)

    def test_the_smallest_positive_deadline_and_poll_are_accepted(self):
        service = bare_service(World(), serve_timeout=timedelta(microseconds=1), poll_seconds=0.001)
        assert (service.serve_timeout, service.poll_seconds) == (timedelta(microseconds=1), 0.001)

    async def test_the_stop_timeout_is_handed_to_the_engine(self):
        world = World()
        world.containers = RecordingContainers()
        world.containers.start("jupyterlab-alice")
        await bare_service(world, stop_timeout_seconds=3).restart("alice")
        await bare_service(world).restart("alice")
        assert world.containers.timeouts == [3, 10]

    async def test_a_named_server_restarts_its_own_container_and_is_asked_by_its_name(self):
        world = World()
        naming = DockerNaming(prefix="jupyterlab")  # DockerSpawner's default template
        world.directory.put(
            HubUser(
                name="alice",
                servers={
                    "": ServerSnapshot(username="alice", ready=True),
                    "gpu": ServerSnapshot(username="alice", name="gpu", ready=True),
                },
            )
        )
        world.containers.start("jupyterlab-alice--gpu")
        world.lab.add("alice", "gpu", silent_checks=1)
        world.lab.moved.add(("alice", "gpu"))
        service = ServerService(
            directory=world.directory,
            containers=world.containers,
            lab=world.lab,
            clock=world.clock,
            naming=naming,
            access_groups=GROUPS,
            sleep=world.sleep,
        )
        report = await service.restart("alice", "gpu")
        assert report == RestartReport("alice", "gpu", "jupyterlab-alice--gpu", True, 2)
        assert world.containers.restarts == {"jupyterlab-alice--gpu": 1}
        assert world.lab.reconnects == [("alice", "gpu")]
        assert world.lab.checks == 2
        assert world.sleeps == [0.5]

    async def test_the_report_names_the_default_server_and_its_container(self):
        world = World(silent_checks=1)
        report = await world.service.restart("alice")
        assert report == RestartReport("alice", "", "jupyterlab-alice", False, 2)

    @pytest.mark.parametrize(
        ("user", "message"),
        [
            (HubUser(name="bob"), "The server is not running."),
            (
                running("bob", ready=False, pending="spawn"),
                "The server is starting or stopping; restart it once it runs.",
            ),
        ],
    )
    async def test_the_refusals_say_why_in_words_a_user_reads(self, user, message):
        world = World()
        world.directory.put(user)
        with pytest.raises(Conflict) as refused:
            await world.service.restart("bob")
        assert str(refused.value) == message

    async def test_an_unknown_user_is_named(self):
        with pytest.raises(NotFound) as missing:
            await World().service.restart("carol")
        assert str(missing.value) == "No user named 'carol'"

    async def test_the_lab_is_asked_until_the_deadline_itself_and_not_after(self):
        world = World(silent_checks=100, serve_seconds=2)
        with pytest.raises(BackendUnavailable) as late:
            await world.service.restart("alice")
        assert str(late.value) == (
            "The server of alice restarted but did not answer within 2 s; it may still be starting."
        )
        assert world.lab.checks == 5  # at 0, 0.5, 1, 1.5 and 2 seconds
        assert world.sleeps == [0.5, 0.5, 0.5, 0.5]

    async def test_a_fractional_deadline_is_written_as_it_was_set(self):
        world = World(silent_checks=100)
        service = bare_service(world, serve_timeout=timedelta(seconds=1.5), sleep=world.sleep)
        with pytest.raises(BackendUnavailable, match=r"within 1\.5 s;"):
            await service.restart("alice")
        assert world.lab.checks == 4

    async def test_a_lab_answering_at_the_deadline_itself_still_counts(self):
        world = World(silent_checks=4, serve_seconds=2)
        report = await world.service.restart("alice")
        assert report.checks == 5
        assert world.clock.now() - EPOCH == timedelta(seconds=2)

    async def test_the_server_is_held_from_the_engines_restart_until_it_serves(self):
        world = World(silent_checks=2)
        seen: list[tuple[str, bool]] = []
        engine_restart = world.containers.restart
        lab_answers = world.lab.answers

        async def restart(name: str, *, timeout_seconds: int) -> None:
            seen.append(("engine", ("alice", "") in world.lab.held))
            await engine_restart(name, timeout_seconds=timeout_seconds)

        async def answers(username: str, server_name: str = "") -> bool:
            seen.append(("check", (username, server_name) in world.lab.held))
            return await lab_answers(username, server_name)

        world.containers.restart = restart  # type: ignore[method-assign]
        world.lab.answers = answers  # type: ignore[method-assign]
        await world.service.restart("alice")
        assert seen == [("engine", True), ("check", True), ("check", True), ("check", True)]
        assert not world.lab.held

    async def test_a_named_server_is_held_by_its_own_name(self):
        world = World()
        world.directory.put(
            HubUser(
                name="alice",
                servers={
                    "": ServerSnapshot(username="alice", ready=True),
                    "gpu": ServerSnapshot(username="alice", name="gpu", ready=True),
                },
            )
        )
        world.containers.start("jupyterlab-alice--gpu")
        world.lab.add("alice", "gpu")
        held: list[set[tuple[str, str]]] = []
        engine_restart = world.containers.restart

        async def restart(name: str, *, timeout_seconds: int) -> None:
            held.append(set(world.lab.held))
            await engine_restart(name, timeout_seconds=timeout_seconds)

        world.containers.restart = restart  # type: ignore[method-assign]
        service = ServerService(
            directory=world.directory,
            containers=world.containers,
            lab=world.lab,
            clock=world.clock,
            naming=DockerNaming(prefix="jupyterlab"),  # DockerSpawner's default template
            access_groups=GROUPS,
            sleep=world.sleep,
        )
        await service.restart("alice", "gpu")
        assert held == [{("alice", "gpu")}]  # not the default server, which keeps running
        assert not world.lab.held

    async def test_a_failed_restart_releases_the_server(self):
        world = World(silent_checks=1000, serve_seconds=1)
        with pytest.raises(BackendUnavailable):
            await world.service.restart("alice")
        assert not world.lab.held
        world.directory.put(running("dave"))  # no container: the engine refuses
        with pytest.raises(ContainerNotFound):
            await world.service.restart("dave")
        assert not world.lab.held

    async def test_a_finished_restart_lets_the_next_one_run(self):
        world = World()
        await world.service.restart("alice")
        await world.service.restart("alice")
        assert world.containers.restarts == {"jupyterlab-alice": 2}

    async def test_a_restart_that_fails_in_the_engine_lets_the_next_one_run(self):
        world = World()
        world.directory.put(running("dave"))
        for _ in range(2):
            with pytest.raises(ContainerNotFound):
                await world.service.restart("dave")

    async def test_while_one_server_restarts_another_may(self):
        world = World(silent_checks=1)
        world.directory.put(running("bob"))
        world.containers.start("jupyterlab-bob")
        world.lab.add("bob")
        reports = []

        async def sleep_and_restart_bob(seconds: float) -> None:
            if not reports:
                reports.append(await world.service.restart("bob"))
            await world.sleep(seconds)

        world.service._sleep = sleep_and_restart_bob
        await world.service.restart("alice")
        assert reports == [RestartReport("bob", "", "jupyterlab-bob", False, 1)]
        assert world.containers.restarts == {"jupyterlab-alice": 1, "jupyterlab-bob": 1}

    async def test_by_default_the_wait_between_checks_is_asyncios_sleep(self, monkeypatch):
        waits: list[float] = []

        async def recorded_sleep(seconds: float) -> None:
            waits.append(seconds)

        world = World(silent_checks=2)
        service = bare_service(world, poll_seconds=0.25)
        monkeypatch.setattr(asyncio, "sleep", recorded_sleep)
        report = await service.restart("alice")
        monkeypatch.undo()
        assert report.checks == 3
        assert waits == [0.25, 0.25]


SOCKET = DockerAccess(mount_socket=True, privileged=False)
PRIVILEGED = DockerAccess(mount_socket=False, privileged=True)


class TestDockerAccessOnARestart:
    """Security review L6: a restart in place keeps the container and so the Docker access it
    was created with; a restart after the user's groups changed is refused, untouched."""

    async def test_a_user_who_left_the_socket_group_is_told_to_stop_and_start(self):
        world = World()
        world.containers.start("jupyterlab-alice", access=SOCKET)  # created as a member
        with pytest.raises(Refused) as refused:
            await world.service.restart("alice")  # alice has no groups now
        assert refused.value.reason == (
            "Your Docker access changed since this server started (the Docker socket was "
            "taken away): stop the server and start it again to apply it."
        )
        assert world.containers.restarts == {}
        assert world.lab.reconnects == []
        assert world.lab.checks == 0
        assert not world.lab.held

    async def test_every_change_is_named_a_grant_as_well_as_a_loss(self):
        world = World()
        world.directory.put(running("alice", groups=frozenset({"docker-privileged"})))
        world.containers.start("jupyterlab-alice", access=SOCKET)
        with pytest.raises(Refused) as refused:
            await world.service.restart("alice")
        assert "(the Docker socket was taken away; privileged mode was granted)" in str(
            refused.value
        )

    async def test_a_server_whose_access_still_matches_restarts(self):
        world = World()
        member = frozenset({"docker-sock", "docker-privileged", "students"})
        world.directory.put(running("alice", groups=member))
        world.containers.start("jupyterlab-alice", access=DockerAccess(True, True))
        await world.service.restart("alice")
        assert world.containers.restarts == {"jupyterlab-alice": 1}
        assert world.containers.access["jupyterlab-alice"] == DockerAccess(True, True)

    async def test_once_recreated_with_the_current_access_it_restarts_again(self):
        world = World()
        world.containers.start("jupyterlab-alice", access=PRIVILEGED)
        with pytest.raises(Refused, match="privileged mode was taken away"):
            await world.service.restart("alice")
        # Not left marked as restarting; a stop and start gives the current access.
        world.containers.start("jupyterlab-alice", access=DockerAccess(False, False))
        await world.service.restart("alice")
        assert world.containers.restarts == {"jupyterlab-alice": 1}

    async def test_the_configured_groups_and_socket_path_decide(self):
        world = World()
        asked: list[str] = []
        real = world.containers.docker_access

        async def docker_access(name: str, *, socket_path: str) -> DockerAccess:
            asked.append(socket_path)
            return await real(name, socket_path=socket_path)

        world.containers.docker_access = docker_access  # type: ignore[method-assign]
        groups = DockerAccessGroups(socket_group="ops", socket_path="/run/docker.sock")
        world.directory.put(running("alice", groups=frozenset({"docker-sock"})))
        world.containers.start("jupyterlab-alice", access=SOCKET)
        service = bare_service(world, access_groups=groups)
        with pytest.raises(Refused, match="the Docker socket was taken away"):
            await service.restart("alice")  # docker-sock is not the socket group here
        world.directory.put(running("alice", groups=frozenset({"ops"})))
        await service.restart("alice")
        assert asked == ["/run/docker.sock", "/run/docker.sock"]
        assert service.access_groups is groups
