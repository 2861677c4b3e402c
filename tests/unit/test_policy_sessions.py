"""Per-group idle timeouts and maximum extensions (issue 20, section 2): the session card, the
extensions, the culler's verdict, the activity table's time left and the cull warnings all take
the user's own session policy; a restart in place compares the container's Docker access with
the user's effective access (a group policy granting it counts as the built-in groups do)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stellars.adapters.memory import (
    InMemoryContainers,
    InMemoryHubDirectory,
    InMemoryPolicyStore,
    InMemorySessionStore,
    ManualClock,
    RecordingTransport,
    ScriptedLabServers,
)
from stellars.domain.docker_access import DockerAccess, DockerAccessGroups
from stellars.domain.errors import InvalidValue, Refused
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.policies import GroupPolicy, PlatformDefaults
from stellars.domain.services import CullWarner, PolicyResolver, ServerService, SessionService
from stellars.domain.sessions import SessionPolicy
from stellars.domain.volumes import DockerNaming
from tests.strategies import EPOCH

NOW = EPOCH + timedelta(hours=12)
BASE = SessionPolicy(
    enabled=True, idle_timeout_seconds=3600, max_extension_hours=2, warning_minutes=10
)
IDLE = timedelta(minutes=55)  # 5 minutes left by the platform's hour


def lab(name: str, *, idle: timedelta = IDLE) -> ServerSnapshot:
    return ServerSnapshot(
        username=name, ready=True, started=NOW - timedelta(hours=3), last_activity=NOW - idle
    )


class World:
    def __init__(self, base: SessionPolicy = BASE) -> None:
        self.clock = ManualClock(NOW)
        self.store = InMemoryPolicyStore(["long", "short", "ops"])
        self.directory = InMemoryHubDirectory(
            [
                HubUser(name="lea", groups=frozenset({"long"}), servers={"": lab("lea")}),
                HubUser(name="sam", groups=frozenset({"short"}), servers={"": lab("sam")}),
                HubUser(name="pat", servers={"": lab("pat")}),
            ]
        )
        self.policies = PolicyResolver(
            reader=self.store,
            directory=self.directory,
            defaults=lambda: PlatformDefaults(image="lab"),
            allowed_images=("lab",),
            volumes={},
            access_groups=DockerAccessGroups(),
        )
        self.deadlines = InMemorySessionStore()
        self.sessions = SessionService(
            store=self.deadlines,
            directory=self.directory,
            clock=self.clock,
            policy=base,
            policies=self.policies,
        )

    async def arrange(self) -> None:
        await self.store.put(
            GroupPolicy(group="long", idle_timeout_seconds=4 * 3600, max_extension_hours=8)
        )
        await self.store.put(
            GroupPolicy(group="short", idle_timeout_seconds=60 * 30, max_extension_hours=0)
        )


def refuse_lookups(directory: InMemoryHubDirectory) -> None:
    """The directory refuses to look users up one by one: a caller that read the list of
    users already has their groups."""

    async def get_user(name: str) -> HubUser | None:
        raise AssertionError(f"{name} looked up one by one")

    directory.get_user = get_user  # type: ignore[method-assign]


@pytest.fixture
async def world() -> World:
    made = World()
    await made.arrange()
    return made


class TestTheSessionCard:
    async def test_each_user_counts_down_from_their_groups_timeout(self, world):
        lea = await world.sessions.status("lea")
        assert lea.idle_timeout == timedelta(hours=4)
        assert lea.max_extension_hours == 8
        assert lea.ceiling == timedelta(hours=12)
        assert lea.remaining == timedelta(hours=4) - IDLE
        assert lea.offer_hours == 8
        pat = await world.sessions.status("pat")  # no policy: the platform's
        assert (pat.idle_timeout, pat.remaining) == (timedelta(hours=1), timedelta(minutes=5))
        sam = await world.sessions.status("sam")  # idle past the group's half hour
        assert (sam.remaining, sam.offer_hours) == (timedelta(0), 0)

    async def test_extensions_go_up_to_the_users_own_maximum(self, world):
        granted = await world.sessions.extend("lea", 6)  # more than the platform's 2
        assert granted.granted_hours == 6
        with pytest.raises(InvalidValue, match="at most 8"):
            await world.sessions.extend("lea", 9)
        with pytest.raises(Refused, match="switched off"):
            await world.sessions.extend("sam", 1)  # the group allows none
        with pytest.raises(InvalidValue, match="at most 2"):
            await world.sessions.extend("pat", 3)

    async def test_a_malformed_request_is_refused_before_any_lookup(self, world):
        with pytest.raises(InvalidValue) as error:
            await world.sessions.extend("nobody", 0)
        assert error.value.field == "hours"

    async def test_with_culling_off_the_platforms_policy_stands(self):
        world = World(SessionPolicy(enabled=False))
        await world.arrange()
        status = await world.sessions.status("lea")
        assert (status.culler_enabled, status.idle_timeout) == (False, timedelta(days=1))
        assert await world.sessions.remaining_for([lab("lea")]) == {}
        lea = await world.directory.get_user("lea")
        assert await world.sessions.policy_for(lea) is world.sessions.policy


class TestTheCullersVerdict:
    async def test_the_culler_applies_each_users_timeout(self, world):
        assert not (await world.sessions.decide(lab("lea"))).cull
        assert not (await world.sessions.decide(lab("pat"))).cull
        decision = await world.sessions.decide(lab("sam"))
        assert decision.cull
        assert "0:30:00" in decision.reason

    async def test_a_user_the_hub_no_longer_has_is_judged_by_the_platforms_policy(self, world):
        assert (await world.sessions.decide(lab("gone", idle=timedelta(hours=2)))).cull
        assert not (await world.sessions.decide(lab("gone"))).cull


class TestManyServersAtOnce:
    async def test_time_left_by_each_users_policy_with_or_without_their_groups(self, world):
        servers = [lab("lea"), lab("sam"), lab("pat"), ServerSnapshot(username="off")]
        expected = {
            ("lea", ""): timedelta(hours=4) - IDLE,
            ("sam", ""): timedelta(0),
            ("pat", ""): timedelta(minutes=5),
        }
        assert await world.sessions.remaining_for(servers) == expected
        groups_of = {"lea": {"long"}, "sam": {"short"}, "pat": set()}
        assert await world.sessions.remaining_for(servers, groups_of=groups_of) == expected

    async def test_the_groups_the_caller_gives_are_the_ones_used(self, world):
        got = await world.sessions.remaining_for([lab("pat")], groups_of={"pat": {"long"}})
        assert got == {("pat", ""): timedelta(hours=4) - IDLE}

    async def test_a_user_the_callers_groups_leave_out_is_in_no_group(self, world):
        got = await world.sessions.policies_for(["lea", "sam"], groups_of={"lea": {"long"}})
        assert got["lea"].idle_timeout_seconds == 4 * 3600
        assert got["sam"] == BASE  # not looked up: the caller's groups are the ones used

    async def test_policies_for_users_the_hub_does_not_have(self, world):
        got = await world.sessions.policies_for(["ghost", "lea"])
        assert got["ghost"] == BASE
        assert got["lea"].idle_timeout_seconds == 4 * 3600
        plain = SessionService(
            store=world.deadlines, directory=world.directory, clock=world.clock, policy=BASE
        )
        assert await plain.policies_for(["lea"]) == {"lea": BASE}

    async def test_the_warnings_follow_each_users_timeout(self, world):
        transport = RecordingTransport()
        warner = CullWarner(
            directory=world.directory,
            sessions=world.sessions,
            transport=transport,
            clock=world.clock,
            extend_url="https://hub/home",
        )
        refuse_lookups(world.directory)  # the groups come with the list of users
        warned = await warner.check()
        # pat has 5 minutes left (warned); lea has hours; sam's half hour is over (culled, not
        # warned).
        assert [w.username for w in warned] == ["pat"]


class TestRestartsCompareTheEffectiveAccess:
    def service(self, world: World, containers: InMemoryContainers) -> ServerService:
        lab_servers = ScriptedLabServers()
        lab_servers.add("lea")
        return ServerService(
            directory=world.directory,
            containers=containers,
            lab=lab_servers,
            clock=world.clock,
            naming=DockerNaming(prefix="jupyterlab", name_template="jupyterlab-{username}"),
            access_groups=DockerAccessGroups(),
            policies=world.policies,
        )

    async def test_a_grant_of_a_group_policy_taken_away_refuses_the_restart(self, world):
        await world.store.put(GroupPolicy(group="long", docker_socket=True))
        containers = InMemoryContainers()
        containers.start("jupyterlab-lea", access=DockerAccess(True, False))
        service = self.service(world, containers)
        report = await service.restart("lea")  # still granted: restarts
        assert report.container == "jupyterlab-lea"
        await world.store.put(GroupPolicy(group="long"))
        with pytest.raises(Refused, match="the Docker socket was taken away"):
            await service.restart("lea")
        assert containers.restarts == {"jupyterlab-lea": 1}

    async def test_a_built_in_group_counts_as_before(self, world):
        world.directory.put(
            HubUser(name="lea", groups=frozenset({"docker-privileged"}), servers={"": lab("lea")})
        )
        containers = InMemoryContainers()
        containers.start("jupyterlab-lea", access=DockerAccess(False, False))
        with pytest.raises(Refused, match="privileged mode was granted"):
            await self.service(world, containers).restart("lea")
