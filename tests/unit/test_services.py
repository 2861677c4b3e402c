"""Tests for the domain services (except ActivityService, in test_activity_service.py, and
Refresher, in test_refresh.py), run on the in-memory fakes.

Nothing here really waits: transports and probes block on events the test controls, and the
broadcast timeout runs on a virtual clock of the event loop.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from stellars.adapters.memory import (
    InMemoryCredentialStore,
    InMemoryHubDirectory,
    InMemorySessionStore,
    InMemoryVolumeStore,
    ManualClock,
    RecordingTransport,
    SequencePasswordGenerator,
    StaticGpuProbe,
)
from stellars.adapters.vault import ProcessMemoryVault
from stellars.domain.credentials import NewAccount, PassphrasePolicy, VaultPolicy
from stellars.domain.errors import Conflict, InvalidValue, NotFound, Refused
from stellars.domain.gpu import Gpu, GpuDecision, GpuMode, GpuProbeResult
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.notifications import Broadcast, BroadcastReport, Delivery, Variant
from stellars.domain.services import (
    BroadcastService,
    CredentialService,
    GpuService,
    SessionService,
    SessionStatus,
    UserVolumes,
    UserVolumeState,
    VolumeService,
)
from stellars.domain.sessions import CullDecision, SessionDeadline, SessionPolicy
from stellars.domain.settings import BroadcastPolicy
from stellars.domain.volumes import (
    DockerNaming,
    ResetReport,
    VolumeOutcome,
    VolumeResult,
    user_volumes,
)
from tests.builders import VolumeSizes
from tests.strategies import EPOCH

NOW = EPOCH + timedelta(days=10)
STARTED = NOW - timedelta(hours=3)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
GUARD_SECONDS = 5  # only reached when a test is broken: no test waits this long


def lab(user: str, *, idle: timedelta = timedelta(0), name: str = "", **kw) -> ServerSnapshot:
    return ServerSnapshot(
        username=user,
        name=name,
        ready=kw.get("ready", True),
        pending=kw.get("pending"),
        started=kw.get("started", STARTED),
        last_activity=NOW - idle,
        url=f"/user/{user}/",
    )


def hub_user(name: str, *servers: ServerSnapshot, **kw) -> HubUser:
    return HubUser(name=name, servers={s.name: s for s in servers}, **kw)


async def until(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), GUARD_SECONDS)


class TestSessionService:
    policy = SessionPolicy(enabled=True, idle_timeout_seconds=3600, max_extension_hours=4)

    @pytest.fixture
    def world(self):
        clock = ManualClock(NOW)
        directory = InMemoryHubDirectory(
            [
                hub_user("alice", lab("alice"), lab("alice", name="gpu", idle=30 * MINUTE)),
                hub_user("bob"),
                hub_user("carl", lab("carl", ready=False, pending="spawn", idle=10 * MINUTE)),
            ]
        )
        store = InMemorySessionStore()
        service = SessionService(store=store, directory=directory, clock=clock, policy=self.policy)
        return service, store, directory, clock

    async def test_status_of_a_running_server(self, world):
        service, *_ = world
        assert await service.status("alice") == SessionStatus(
            culler_enabled=True,
            server_active=True,
            idle_timeout=HOUR,
            ceiling=5 * HOUR,
            max_extension_hours=4,
            remaining=HOUR,
            offer_hours=4,
            cull_at=None,
            last_activity=NOW,
        )

    async def test_status_of_a_named_server(self, world):
        service, *_ = world
        status = await service.status("alice", "gpu")
        assert (status.remaining, status.offer_hours) == (30 * MINUTE, 4)
        assert status.last_activity == NOW - 30 * MINUTE

    async def test_status_of_a_starting_server_counts_down(self, world):
        service, *_ = world
        status = await service.status("carl")
        assert (status.server_active, status.remaining) == (True, 50 * MINUTE)

    async def test_status_of_a_stopped_server_has_no_countdown(self, world):
        service, *_ = world
        assert await service.status("bob") == SessionStatus(
            culler_enabled=True,
            server_active=False,
            idle_timeout=HOUR,
            ceiling=5 * HOUR,
            max_extension_hours=4,
        )
        missing = await service.status("alice", "nope")
        assert (missing.server_active, missing.remaining, missing.offer_hours) == (
            False,
            None,
            None,
        )

    async def test_a_server_that_stopped_but_is_still_listed_has_no_countdown(self, world):
        service, _, directory, _ = world
        directory.put(hub_user("alice", lab("alice", ready=False)))
        status = await service.status("alice")
        assert (status.server_active, status.remaining, status.cull_at) == (False, None, None)

    async def test_status_with_culling_off_shows_no_countdown(self, world):
        _, store, directory, clock = world
        service = SessionService(
            store=store, directory=directory, clock=clock, policy=SessionPolicy(enabled=False)
        )
        assert await service.status("alice") == SessionStatus(
            culler_enabled=False,
            server_active=True,
            idle_timeout=timedelta(days=1),
            ceiling=timedelta(days=2),
            max_extension_hours=24,
        )

    async def test_unknown_users_are_not_found(self, world):
        service, *_ = world
        with pytest.raises(NotFound) as error:
            await service.status("zed")
        assert str(error.value) == "No user named 'zed'"
        with pytest.raises(NotFound):
            await service.extend("zed", 1)

    async def test_the_extend_route_gets_the_extension_and_the_card_after_it(self, world):
        service, *_ = world
        extended = await service.extend_and_show("alice", 2)
        assert extended.extension.granted_hours == 2
        assert extended.status == await service.status("alice")
        assert (extended.status.cull_at, extended.status.extended_hours) == (NOW + 3 * HOUR, 2)

    async def test_the_extend_route_of_a_named_server_shows_that_servers_card(self, world):
        service, *_ = world
        extended = await service.extend_and_show("alice", 1, "gpu")
        assert extended.extension.cull_at == NOW + HOUR + 30 * MINUTE
        assert extended.status == await service.status("alice", "gpu")
        assert (extended.status.cull_at, extended.status.extended_hours) == (
            NOW + HOUR + 30 * MINUTE,
            1,
        )
        assert (await service.status("alice")).cull_at is None  # the default server: untouched

    async def test_a_starting_server_extended_before_any_activity_shows_its_hours(self, world):
        service, _, directory, _ = world
        starting = ServerSnapshot(username="dan", ready=False, pending="spawn")
        directory.put(hub_user("dan", starting))
        extended = await service.extend_and_show("dan", 2)
        assert (extended.status.cull_at, extended.status.extended_hours) == (NOW + 3 * HOUR, 2)
        assert extended.status.remaining == 3 * HOUR

    async def test_extension_is_stored_and_shown_by_status(self, world):
        service, store, _, clock = world
        result = await service.extend("alice", 2)
        assert result.cull_at == NOW + 3 * HOUR
        assert store.deadlines == {
            ("alice", ""): SessionDeadline("alice", "", STARTED, NOW + 3 * HOUR)
        }
        assert await service.deadline_for(lab("alice")) == NOW + 3 * HOUR
        clock.advance(2 * HOUR)
        status = await service.status("alice")
        assert (status.remaining, status.cull_at, status.offer_hours) == (
            HOUR,
            NOW + 3 * HOUR,
            4,
        )

    async def test_an_extension_to_the_ceiling_leaves_nothing_on_offer(self, world):
        service, *_ = world
        await service.extend("alice", 4)
        status = await service.status("alice")
        assert (status.remaining, status.offer_hours) == (5 * HOUR, 0)

    async def test_extending_twice_builds_on_the_stored_deadline(self, world):
        service, store, directory, clock = world
        first = await service.extend("alice", 2)  # 1 h left -> 3 h
        clock.advance(HOUR)
        directory.put(hub_user("alice", lab("alice", idle=-HOUR)))  # no activity since
        second = await service.extend("alice", 1)
        assert second.remaining_before == 2 * HOUR
        assert second.cull_at == first.cull_at + HOUR == NOW + 4 * HOUR
        assert (await store.get("alice")).cull_at == NOW + 4 * HOUR

    async def test_a_named_server_keeps_its_own_deadline(self, world):
        service, store, *_ = world
        result = await service.extend("alice", 1, "gpu")
        assert result.cull_at == NOW + HOUR + 30 * MINUTE
        assert list(store.deadlines) == [("alice", "gpu")]
        assert (await service.status("alice")).cull_at is None
        assert (await service.status("alice", "gpu")).cull_at == NOW + HOUR + 30 * MINUTE

    async def test_the_culler_respects_the_extension_and_then_culls(self, world):
        service, _, _, clock = world
        await service.extend("alice", 2)
        clock.advance(2 * HOUR + 59 * MINUTE)
        server = lab("alice")  # no activity since the extension
        assert await service.decide(server) == CullDecision(False, "0:01:00 left")
        clock.advance(MINUTE)
        assert (await service.decide(server)).cull

    async def test_a_restarted_server_does_not_inherit_the_old_deadline(self, world):
        service, _, directory, _ = world
        await service.extend("alice", 4)
        directory.put(hub_user("alice", lab("alice", started=NOW)))
        status = await service.status("alice")
        assert (status.cull_at, status.remaining) == (None, HOUR)
        assert await service.deadline_for(lab("alice", started=NOW)) is None
        assert (await service.decide(lab("alice", started=NOW, idle=2 * HOUR))).cull

    @pytest.mark.parametrize(("user", "server"), [("bob", ""), ("alice", "nope")])
    async def test_extending_a_stopped_server_is_refused(self, world, user, server):
        service, store, *_ = world
        with pytest.raises(Refused) as error:
            await service.extend(user, 1, server)
        assert str(error.value) == "The server is not running."
        assert store.deadlines == {}

    @pytest.mark.parametrize("hours", ["lots", 0, True, 1.0, 5])
    async def test_bad_hours_are_rejected_before_anything_else(self, world, hours):
        service, *_ = world
        with pytest.raises(InvalidValue) as error:
            await service.extend("zed", hours)
        assert error.value.field == "hours"

    async def test_disabled_culling_never_culls_and_refuses_extensions(self, world):
        _, store, directory, clock = world
        service = SessionService(
            store=store, directory=directory, clock=clock, policy=SessionPolicy(enabled=False)
        )
        decision = await service.decide(lab("alice", idle=timedelta(days=9)))
        assert decision == CullDecision(False, "idle culling is not enabled")
        with pytest.raises(Refused, match=r"^Idle culling is not enabled"):
            await service.extend("zed", 1)
        assert await service.remaining_for([lab("alice")]) == {}

    async def test_remaining_for_many_servers(self, world):
        service, store, *_ = world
        await service.extend("alice", 1)
        await store.put(SessionDeadline("erin", "", STARTED - HOUR, NOW + 4 * HOUR))  # stale
        left = await service.remaining_for(
            [
                lab("alice"),
                lab("alice", name="gpu", idle=30 * MINUTE),
                lab("carol", idle=20 * MINUTE),
                lab("dan", ready=False),
                lab("erin", idle=45 * MINUTE),
                lab("fay", ready=False, pending="spawn", idle=50 * MINUTE),
            ]
        )
        assert left == {
            ("alice", ""): 2 * HOUR,
            ("alice", "gpu"): 30 * MINUTE,
            ("carol", ""): 40 * MINUTE,
            ("erin", ""): 15 * MINUTE,
            ("fay", ""): 10 * MINUTE,
        }


class TestVolumeService:
    volumes = user_volumes(
        {"jupyterlab-{username}_home": "/home", "jupyterlab-{username}_cache": "/cache"}
    )

    @pytest.fixture
    def world(self):
        store = InMemoryVolumeStore()
        directory = InMemoryHubDirectory(
            [hub_user("a.b"), hub_user("runner", lab("runner")), hub_user("Zoë")]
        )
        directory.put(hub_user("waiter", lab("waiter", ready=False, pending="spawn")))
        service = VolumeService(
            store=store,
            directory=directory,
            volumes=self.volumes,
            naming=DockerNaming(),
            sizes=VolumeSizes(store, ManualClock(EPOCH)),
        )
        return service, store

    def test_names_for(self, world):
        service, _ = world
        assert service.names_for("Zoë") == {
            "home": "jupyterlab--5ao-c3-ab_home",
            "cache": "jupyterlab--5ao-c3-ab_cache",
        }

    async def test_a_users_volumes_are_shown_as_the_last_measurement_saw_them(self, world):
        service, store = world
        store.create("jupyterlab-a-2eb_home", 2048)
        store.create("jupyterlab-other_cache", 5)
        unmeasured = await service.for_user("a.b")
        assert unmeasured.measured_at is None
        assert [state.exists for state in unmeasured.volumes] == [None, None]
        await service.sizes.refresh_now()
        assert await service.for_user("a.b") == UserVolumes(
            "a.b",
            False,
            EPOCH,
            (
                UserVolumeState("home", "jupyterlab-a-2eb_home", "/home", True, 2048, True),
                UserVolumeState("cache", "jupyterlab-a-2eb_cache", "/cache", False, None, True),
            ),
        )
        assert (await service.for_user("runner")).server_active is True
        with pytest.raises(NotFound):
            await service.for_user("zed")

    async def test_a_volume_the_engine_has_not_sized_yet(self, world):
        service, store = world
        store.create("jupyterlab-a-2eb_cache", None)
        await service.sizes.refresh_now()
        listed = (await service.for_user("a.b")).volumes
        assert listed[1] == UserVolumeState(
            "cache", "jupyterlab-a-2eb_cache", "/cache", True, None, True
        )

    async def test_reset_reports_every_volume(self, world):
        service, store = world
        store.create("jupyterlab-a-2eb_home")
        store.create("jupyterlab-a-2eb_cache")
        store.in_use.add("jupyterlab-a-2eb_cache")
        report = await service.reset("a.b", ["home", "cache"])
        assert report == ResetReport(
            "a.b",
            (
                VolumeResult("home", "jupyterlab-a-2eb_home", VolumeOutcome.REMOVED),
                VolumeResult("cache", "jupyterlab-a-2eb_cache", VolumeOutcome.IN_USE),
            ),
        )
        assert store.sizes == {"jupyterlab-a-2eb_cache": 0}

    async def test_reset_of_a_volume_that_does_not_exist(self, world):
        service, _ = world
        report = await service.reset("a.b", ("cache",))
        assert report.message == "Reset 0 of 1 volume(s); cache: not found."

    @pytest.mark.parametrize("user", ["runner", "waiter"])
    async def test_reset_needs_a_stopped_server(self, world, user):
        service, store = world
        store.create(f"jupyterlab-{user}_home")
        with pytest.raises(Conflict):
            await service.reset(user, ["home"])
        assert f"jupyterlab-{user}_home" in store.sizes

    async def test_reset_of_an_unknown_user_is_not_found(self, world):
        service, _ = world
        with pytest.raises(NotFound) as error:
            await service.reset("zed", ["home"])
        assert str(error.value) == "No user named 'zed'"

    async def test_a_bad_request_is_refused(self, world):
        service, _ = world
        with pytest.raises(InvalidValue):
            await service.reset("a.b", ["scratch"])

    async def test_the_overview_has_every_user_and_the_orphans_of_one_measurement(self, world):
        service, store = world
        store.create("jupyterlab-a-2eb_home", 10)
        store.create("jupyterlab-runner_cache", 20)
        store.create("jupyterlab-runner_home", None)
        store.create("jupyterlab-gone_home", 7)
        store.create("unrelated", 99)
        await service.sizes.refresh_now()
        overview = await service.overview()
        assert overview.measured_at == EPOCH
        existing = {
            user.username: {state.label: state.size_bytes for state in user.volumes if state.exists}
            for user in overview.users
        }
        assert existing == {
            "Zoë": {},
            "a.b": {"home": 10},
            "runner": {"home": None, "cache": 20},
            "waiter": {},
        }
        assert {user.username for user in overview.users if user.server_active} == {
            "runner",
            "waiter",
        }
        assert [orphan.name for orphan in overview.orphaned] == ["jupyterlab-gone_home"]
        assert (await service.orphans()).orphaned == overview.orphaned

    async def test_every_change_asks_for_a_new_measurement(self, world):
        service, store = world
        store.create("jupyterlab-a-2eb_home", 10)
        store.create("jupyterlab-gone_home", 7)
        await service.reset("a.b", ["home"])
        await service.remove_orphans(["jupyterlab-gone_home"])
        await service.provision_for_spawn("a.b", user_id=None, created=None)
        assert service.sizes.requests == 3
        await service.remove_orphans(["jupyterlab-a-2eb_home"])  # not orphaned: nothing changed
        await service.provision_for_spawn("a.b", user_id=None, created=None)  # all there already
        assert service.sizes.requests == 3


class GatedTransport:
    """Holds every delivery until the test opens the gate; `full` is set once `limit` are held."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.gate = asyncio.Event()
        self.full = asyncio.Event()
        self.started: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def deliver(self, server: ServerSnapshot, broadcast: Broadcast) -> Delivery:
        self.started.append(server.username)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.in_flight == self.limit:
            self.full.set()
        try:
            await self.gate.wait()
            return Delivery(server.username, server.name, True)
        finally:
            self.in_flight -= 1


class SilentTransport(RecordingTransport):
    """Delivers at once, except to `silent` users whose servers never answer."""

    def __init__(self, silent: set[str]) -> None:
        super().__init__()
        self.silent = silent
        self.waiting = asyncio.Event()
        self.cancelled: list[str] = []

    async def deliver(self, server: ServerSnapshot, broadcast: Broadcast) -> Delivery:
        if server.username not in self.silent:
            return await super().deliver(server, broadcast)
        self.waiting.set()
        try:
            await asyncio.Event().wait()  # never set: only the timeout ends this
        except asyncio.CancelledError:
            self.cancelled.append(server.username)
            raise
        raise AssertionError("unreachable")


class VirtualTime:
    """The running loop's clock, moved only by the test: timeouts fire without waiting."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.now = loop.time()

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class TestBroadcastService:
    users = [
        hub_user("alice", lab("alice")),
        hub_user("bob", lab("bob")),
        hub_user("carol", lab("carol")),
        hub_user("dave"),
    ]

    def service(self, transport, *, concurrency: int = 2, timeout: int = 1) -> BroadcastService:
        return BroadcastService(
            directory=InMemoryHubDirectory(self.users),
            transport=transport,
            policy=BroadcastPolicy(concurrency=concurrency, timeout_seconds=timeout),
        )

    async def test_delivers_the_broadcast_to_every_running_server(self):
        transport = RecordingTransport()
        broadcast = Broadcast(message="Hello", variant=Variant.WARNING, auto_close_ms=3000)
        report = await self.service(transport).deliver(broadcast)
        assert report == BroadcastReport(
            (
                Delivery("alice", "", True),
                Delivery("bob", "", True),
                Delivery("carol", "", True),
            )
        )
        assert transport.delivered == [
            (lab("alice"), broadcast),
            (lab("bob"), broadcast),
            (lab("carol"), broadcast),
        ]

    async def test_at_most_concurrency_deliveries_at_once(self):
        transport = GatedTransport(limit=2)
        task = asyncio.create_task(self.service(transport).deliver(Broadcast(message="Hi")))
        await until(transport.full)
        assert transport.started == ["alice", "bob"]  # carol waits for a free slot
        transport.gate.set()
        report = await asyncio.wait_for(task, GUARD_SECONDS)
        assert (report.total, report.successful) == (3, 3)
        assert transport.started == ["alice", "bob", "carol"]
        assert transport.max_in_flight == 2

    async def test_a_concurrency_of_one_delivers_one_at_a_time(self):
        transport = GatedTransport(limit=1)
        service = self.service(transport, concurrency=1)
        task = asyncio.create_task(service.deliver(Broadcast(message="Hi")))
        await until(transport.full)
        assert transport.started == ["alice"]
        transport.gate.set()
        await asyncio.wait_for(task, GUARD_SECONDS)
        assert transport.max_in_flight == 1

    @pytest.mark.parametrize("timeout", [1, 7])
    async def test_a_silent_server_times_out_without_holding_up_the_report(
        self, monkeypatch, timeout
    ):
        loop = asyncio.get_running_loop()
        clock = VirtualTime(loop)
        monkeypatch.setattr(loop, "time", clock.time)
        transport = SilentTransport({"bob"})
        service = self.service(transport, concurrency=3, timeout=timeout)
        task = asyncio.create_task(service.deliver(Broadcast(message="Hello")))
        await transport.waiting.wait()
        clock.advance(timeout)
        report = await task
        assert report.deliveries == (
            Delivery("alice", "", True),
            Delivery("bob", "", False, f"no answer within {timeout} s"),
            Delivery("carol", "", True),
        )
        assert transport.cancelled == ["bob"]
        assert [s.username for s, _ in transport.delivered] == ["alice", "carol"]

    async def test_a_transport_that_raises_is_reported_as_failed(self):
        transport = RecordingTransport()
        transport.crashes["bob"] = RuntimeError("socket closed")
        report = await self.service(transport).deliver(Broadcast(message="Hello"))
        assert report.deliveries == (
            Delivery("alice", "", True),
            Delivery("bob", "", False, "delivery failed: socket closed"),
            Delivery("carol", "", True),
        )
        assert [s.username for s, _ in transport.delivered] == ["alice", "carol"]
        assert report.message == "Delivered to 2 of 3 server(s)"

    async def test_failures_and_unreachable_recipients_are_reported(self):
        transport = RecordingTransport()
        transport.failures["carol"] = "HTTP 404: notifications extension not installed"
        broadcast = Broadcast(message="Hi", recipients=("carol", "alice", "dave", "zed"))
        report = await self.service(transport).deliver(broadcast)
        assert report == BroadcastReport(
            (
                Delivery("carol", "", False, "HTTP 404: notifications extension not installed"),
                Delivery("alice", "", True),
            ),
            unknown=("zed",),
            not_running=("dave",),
        )
        assert report.message == (
            "Delivered to 1 of 2 server(s) (unknown users: zed; not running: dave)"
        )

    async def test_nobody_to_deliver_to(self):
        transport = RecordingTransport()
        report = await self.service(transport).deliver(
            Broadcast(message="Hi", recipients=("dave",))
        )
        assert report == BroadcastReport((), (), ("dave",))
        assert transport.delivered == []

    async def test_running_servers(self):
        users = [*self.users, hub_user("erin", lab("erin", ready=False, pending="spawn"))]
        service = BroadcastService(
            directory=InMemoryHubDirectory(users),
            transport=RecordingTransport(),
            policy=BroadcastPolicy(),
        )
        assert [s.username for s in await service.running_servers()] == ["alice", "bob", "carol"]


class WeakGenerator(SequencePasswordGenerator):
    """A generator whose word list is tiny (82 words)."""

    def vocabulary_size(self, policy: PassphrasePolicy) -> int:
        return 82


class TestCredentialService:
    @pytest.fixture
    def world(self):
        clock = ManualClock(NOW)
        accounts = InMemoryCredentialStore()
        vault = ProcessMemoryVault(clock=clock, policy=VaultPolicy(ttl_seconds=300))
        service = CredentialService(
            generator=SequencePasswordGenerator(),
            accounts=accounts,
            vault=vault,
            policy=PassphrasePolicy(),
            exempt={"admin"},
        )
        return service, accounts, clock

    async def test_issued_passphrase_is_stored_and_collectable_once(self, world):
        service, accounts, _ = world
        assert await service.issue("alice") is True
        handed = service.collect(["alice"])["alice"]
        assert (handed.username, handed.replaced_sign_up, handed.notice) == ("alice", False, None)
        secret = handed.password
        assert accounts.passwords["alice"] == secret
        assert PassphrasePolicy().conforms(secret)
        assert secret not in repr(handed)
        assert service.collect(["alice"]) == {}

    async def test_the_policy_shapes_the_passphrase(self):
        policy = PassphrasePolicy(words=5, delimiter="+", min_word_length=6, max_word_length=6)
        accounts = InMemoryCredentialStore()
        service = CredentialService(
            generator=SequencePasswordGenerator(),
            accounts=accounts,
            vault=ProcessMemoryVault(clock=ManualClock(NOW), policy=VaultPolicy()),
            policy=policy,
        )
        assert service.policy is policy
        await service.issue("alice")
        parts = accounts.passwords["alice"].split("+")
        assert len(parts) == 5 and all(len(part) == 6 for part in parts)

    async def test_existing_accounts_and_the_bootstrap_admin_are_left_alone(self, world):
        service, accounts, _ = world
        accounts.set_password("self-signed", "chosen-by-user")
        assert await service.issue("self-signed") is False
        assert await service.issue("admin") is False
        assert accounts.passwords == {"self-signed": "chosen-by-user"}
        assert service.collect(["self-signed", "admin"]) == {}

    def test_a_known_password_goes_to_the_account_not_the_vault(self, world):
        service, accounts, _ = world
        service.set_known_password("admin", "deployer-chosen")
        assert accounts.passwords == {"admin": "deployer-chosen"}
        assert service.collect(["admin"]) == {}

    async def test_uncollected_passphrases_expire(self, world):
        service, _, clock = world
        await service.issue("alice")
        clock.advance(timedelta(seconds=299))
        await service.issue("bob")
        clock.advance(timedelta(seconds=1))
        assert set(service.collect(["alice", "bob"])) == {"bob"}

    async def test_an_existing_account_costs_no_passphrase(self, world):
        service, accounts, _ = world
        accounts.set_password("self-signed", "chosen-by-user")
        assert await service.issue("self-signed") is False
        assert await service.issue("alice") is True
        # the generator's first passphrase went to alice, none was drawn for self-signed
        first = SequencePasswordGenerator().generate(PassphrasePolicy())
        assert accounts.passwords["alice"] == first

    async def test_an_account_created_meanwhile_wins(self):

        class Racing(InMemoryCredentialStore):
            def has_account(self, username: str) -> bool:
                return False  # not yet when asked ...

            async def create_account(self, username: str, password: str) -> NewAccount:
                return NewAccount.EXISTS  # ... but by the time the passphrase is hashed

        racing = Racing()
        service = CredentialService(
            generator=SequencePasswordGenerator(),
            accounts=racing,
            vault=ProcessMemoryVault(clock=ManualClock(NOW), policy=VaultPolicy()),
            policy=PassphrasePolicy(),
        )
        assert await service.issue("alice") is False
        assert service.collect(["alice"]) == {}

    async def test_a_sign_up_waiting_under_the_name_is_replaced_and_the_admin_told(self, world):
        """Security finding L3: a stranger who signed up as carol never logs in as the carol
        an admin creates, and the admin learns of the sign-up with the passphrase."""
        service, accounts, _ = world
        accounts.passwords["carol"] = "a-strangers-own"
        accounts.unauthorized.add("carol")
        assert await service.issue("carol") is True
        assert await service.issue("dave") is True
        handed = service.collect(["carol", "dave"])
        assert accounts.passwords["carol"] == handed["carol"].password != "a-strangers-own"
        assert "carol" in accounts.authorized()
        assert handed["carol"].replaced_sign_up is True
        assert handed["carol"].notice == (
            "Someone had signed up as carol and was waiting for authorization. That sign-up was "
            "discarded, since anyone may sign up under any name: its password no longer works. "
            "Give carol this passphrase."
        )
        assert handed["dave"].replaced_sign_up is False
        # Told once: a later passphrase for the name (after a deletion) says nothing of it.
        service.forget("carol")
        await service.issue("carol")
        assert service.collect(["carol"])["carol"].replaced_sign_up is False

    async def test_a_sign_up_made_while_hashing_is_replaced_and_told_too(self, world):
        service, accounts, _ = world
        real_create = accounts.create_account

        async def sign_up_meanwhile(username: str, password: str) -> NewAccount:
            accounts.passwords[username] = "a-strangers-own"
            accounts.unauthorized.add(username)
            return await real_create(username, password)

        accounts.create_account = sign_up_meanwhile  # type: ignore[method-assign]
        assert await service.issue("carol") is True
        assert service.collect(["carol"])["carol"].replaced_sign_up is True

    async def test_the_word_of_a_replaced_sign_up_follows_the_user(self, world):
        service, accounts, clock = world
        for name in ("carol", "erin", "fay"):
            accounts.passwords[name] = "a-strangers-own"
            accounts.unauthorized.add(name)
            await service.issue(name)
        service.rename("carol", "caroline")
        service.forget("erin")
        accounts.delete_account("erin")
        # New users under the old names, with no sign-up waiting: nothing to tell of them.
        await service.issue("carol")
        await service.issue("erin")
        handed = service.collect(["caroline", "carol", "erin"])
        assert handed["caroline"].replaced_sign_up is True
        assert handed["carol"].replaced_sign_up is False
        assert handed["erin"].replaced_sign_up is False
        # A passphrase that expired uncollected takes the word with it once asked for.
        clock.advance(timedelta(seconds=301))
        assert service.collect(["fay"]) == {}
        await service.issue("fay")  # an account exists now: nothing new
        accounts.delete_account("fay")
        await service.issue("fay")
        assert service.collect(["fay"])["fay"].replaced_sign_up is False

    async def test_forget_and_rename_take_the_account_along(self, world):
        service, accounts, _ = world
        await service.issue("alice")
        await service.issue("bob")
        secret = accounts.passwords["alice"]
        service.rename("alice", "alicia")
        service.forget("bob")
        assert accounts.passwords == {"alicia": secret}

    async def test_rename_and_forget_follow_the_user(self, world):
        service, _, _ = world
        await service.issue("alice")
        await service.issue("bob")
        service.rename("alice", "alicia")
        service.forget("bob")
        assert set(service.collect(["alice", "alicia", "bob"])) == {"alicia"}

    async def test_with_an_identity_provider_nobody_gets_a_passphrase_and_asking_says_why(self):
        service = CredentialService(
            generator=SequencePasswordGenerator(),
            accounts=None,
            vault=ProcessMemoryVault(clock=ManualClock(NOW), policy=VaultPolicy()),
            policy=PassphrasePolicy(),
        )
        assert service.keeps_passwords is False
        assert await service.issue("alice") is False
        assert service.authorized() is None  # the identity provider decides who logs in
        for refused in (
            lambda: service.collect(["alice"]),
            lambda: service.set_known_password("admin", "deployer-chosen"),
        ):
            with pytest.raises(Refused) as error:
                refused()
            assert error.value.reason == (
                "Generated passphrases need NativeAuthenticator (authenticator 'native'): on "
                "this hub users log in through an identity provider, which keeps their "
                "passwords."
            )
        service.rename("alice", "alicia")  # nothing to move, nothing fails
        service.forget("alicia")

    def test_the_accounts_allowed_to_log_in_come_from_the_store(self, world):
        service, accounts, _ = world
        accounts.set_password("ann", "x")
        assert service.keeps_passwords is True
        assert service.authorized() == frozenset({"ann"})

    def test_weak_settings_are_refused_before_any_passphrase_is_issued(self):
        accounts = InMemoryCredentialStore()
        with pytest.raises(InvalidValue) as error:
            CredentialService(
                generator=WeakGenerator(),
                accounts=accounts,
                vault=ProcessMemoryVault(clock=ManualClock(NOW), policy=VaultPolicy()),
                policy=PassphrasePolicy(words=4, min_word_length=3, max_word_length=3),
            )
        assert str(error.value) == (
            "words: 4 words of 3-3 letters from a list of 82 give 25.4 bits; at least 44 are "
            "needed (use more words or allow longer ones)"
        )
        assert accounts.passwords == {}

    def test_the_generators_own_vocabulary_is_judged(self):
        # 3 words of 2 syllables from 70 * 70 = 4900 made-up words: 36.8 bits
        with pytest.raises(
            InvalidValue,
            match=r"^words: 3 words of 4-4 letters from a list of 4900 give 36\.8 bits",
        ):
            CredentialService(
                generator=SequencePasswordGenerator(),
                accounts=InMemoryCredentialStore(),
                vault=ProcessMemoryVault(clock=ManualClock(NOW), policy=VaultPolicy()),
                policy=PassphrasePolicy(words=3, min_word_length=4, max_word_length=4),
            )


class BlockingProbe:
    """Answers once the test opens the gate; counts how often it was asked."""

    def __init__(self, result: GpuProbeResult) -> None:
        self.result = result
        self.gate = asyncio.Event()
        self.asked = asyncio.Event()
        self.calls = 0

    async def probe(self) -> GpuProbeResult:
        self.calls += 1
        self.asked.set()
        await self.gate.wait()
        return self.result


class TestGpuService:
    gpu = Gpu(0, "Tesla T4", 15360, "GPU-1")

    async def test_auto_probes_once_and_caches(self):
        probe = BlockingProbe(GpuProbeResult((self.gpu,)))
        service = GpuService(probe=probe, mode=GpuMode.AUTO)
        assert service.current == GpuDecision(
            False, False, "GPU auto-detection has not finished yet"
        )
        detections = asyncio.gather(*(service.detect() for _ in range(5)))
        await until(probe.asked)
        assert not service.current.enabled  # while the probe runs: off, never a guess
        probe.gate.set()
        decisions = await asyncio.wait_for(detections, GUARD_SECONDS)
        expected = GpuDecision(True, True, "detected 1 GPU(s): Tesla T4", (self.gpu,))
        assert decisions == [expected] * 5
        assert service.current == expected
        assert await service.detect() == expected
        assert probe.calls == 1

    async def test_auto_without_a_gpu(self):
        probe = StaticGpuProbe(GpuProbeResult.none("nvidia-smi not found"))
        decision = await GpuService(probe=probe, mode=GpuMode.AUTO).detect()
        assert decision == GpuDecision(False, False, "no GPU detected: nvidia-smi not found")

    @pytest.mark.parametrize(
        ("mode", "decision"),
        [
            (GpuMode.OFF, GpuDecision(False, False, "GPU support is off (mode 0)")),
            (GpuMode.FORCED, GpuDecision(True, False, "GPU support is forced on (mode 1)")),
        ],
    )
    async def test_off_and_forced_never_probe(self, mode, decision):
        probe = StaticGpuProbe(GpuProbeResult((self.gpu,)))
        service = GpuService(probe=probe, mode=mode)
        assert service.mode is mode
        assert await service.detect() == decision
        assert service.current == decision
        assert probe.calls == 0
