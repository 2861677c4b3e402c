"""Tests for the domain services (except ActivityService, in test_activity_service.py), run on
the in-memory fakes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from stellars.adapters.memory import (
    InMemoryCredentialStore,
    InMemoryCredentialVault,
    InMemoryHubDirectory,
    InMemorySessionStore,
    InMemoryVolumeStore,
    ManualClock,
    RecordingTransport,
    SequencePasswordGenerator,
    StaticGpuProbe,
)
from stellars.domain.credentials import PassphrasePolicy, VaultPolicy
from stellars.domain.errors import Conflict, InvalidValue, NotFound, Refused
from stellars.domain.gpu import Gpu, GpuMode, GpuProbeResult
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.services import (
    BroadcastService,
    CredentialService,
    GpuService,
    SessionService,
    VolumeService,
)
from stellars.domain.sessions import SessionPolicy
from stellars.domain.settings import BroadcastPolicy
from stellars.domain.volumes import DockerNaming, VolumeOutcome, user_volumes
from tests.strategies import EPOCH

NOW = EPOCH + timedelta(days=10)
STARTED = NOW - timedelta(hours=3)


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


class TestSessionService:
    policy = SessionPolicy(enabled=True, idle_timeout_seconds=3600, max_extension_hours=4)

    @pytest.fixture
    def world(self):
        clock = ManualClock(NOW)
        directory = InMemoryHubDirectory([hub_user("alice", lab("alice")), hub_user("bob")])
        store = InMemorySessionStore()
        service = SessionService(store=store, directory=directory, clock=clock, policy=self.policy)
        return service, store, directory, clock

    async def test_status_of_a_running_server(self, world):
        service, *_ = world
        status = await service.status("alice")
        assert status.server_active and status.culler_enabled
        assert status.remaining == timedelta(hours=1)
        assert status.offer_hours == 4

    async def test_status_of_a_stopped_server_has_no_countdown(self, world):
        service, *_ = world
        status = await service.status("bob")
        assert not status.server_active
        assert status.remaining is None and status.offer_hours is None

    async def test_unknown_users_are_not_found(self, world):
        service, *_ = world
        with pytest.raises(NotFound):
            await service.status("zed")
        with pytest.raises(NotFound):
            await service.extend("zed", 1)

    async def test_extension_is_stored_and_shown_by_status(self, world):
        service, store, _, clock = world
        result = await service.extend("alice", 2)
        assert result.cull_at == NOW + timedelta(hours=3)
        assert (await store.get("alice")).cull_at == result.cull_at
        clock.advance(timedelta(hours=2))
        status = await service.status("alice")
        assert status.remaining == timedelta(hours=1)
        assert status.cull_at == result.cull_at

    async def test_the_culler_respects_the_extension_and_then_culls(self, world):
        service, _, _, clock = world
        await service.extend("alice", 2)
        clock.advance(timedelta(hours=2, minutes=59))
        server = lab("alice", idle=timedelta(hours=2, minutes=59))
        assert not (await service.decide(server)).cull
        clock.advance(timedelta(minutes=1))
        server = lab("alice", idle=timedelta(hours=3))
        assert (await service.decide(server)).cull

    async def test_a_restarted_server_does_not_inherit_the_old_deadline(self, world):
        service, _, directory, _ = world
        await service.extend("alice", 4)
        directory.put(hub_user("alice", lab("alice", started=NOW)))
        status = await service.status("alice")
        assert status.cull_at is None and status.remaining == timedelta(hours=1)

    async def test_extending_a_stopped_server_is_refused(self, world):
        service, *_ = world
        with pytest.raises(Refused, match="not running"):
            await service.extend("bob", 1)

    async def test_bad_hours_are_rejected_before_anything_else(self, world):
        service, *_ = world
        with pytest.raises(InvalidValue):
            await service.extend("zed", "lots")

    async def test_disabled_culling_never_culls_and_refuses_extensions(self, world):
        _, store, directory, clock = world
        service = SessionService(
            store=store, directory=directory, clock=clock, policy=SessionPolicy(enabled=False)
        )
        assert not (await service.decide(lab("alice", idle=timedelta(days=9)))).cull
        with pytest.raises(Refused, match="not enabled"):
            await service.extend("alice", 1)
        assert await service.remaining_for([lab("alice")]) == {}

    async def test_remaining_for_many_servers(self, world):
        service, *_ = world
        await service.extend("alice", 1)
        left = await service.remaining_for(
            [lab("alice"), lab("carol", idle=timedelta(minutes=30)), lab("dan", ready=False)]
        )
        assert left == {("alice", ""): timedelta(hours=2), ("carol", ""): timedelta(minutes=30)}


class TestVolumeService:
    volumes = user_volumes(
        {"jupyterlab-{username}_home": "/home", "jupyterlab-{username}_cache": "/cache"}
    )

    @pytest.fixture
    def world(self):
        store = InMemoryVolumeStore()
        directory = InMemoryHubDirectory(
            [hub_user("a.b"), hub_user("runner", lab("runner")), hub_user("waiter")]
        )
        directory.put(hub_user("waiter", lab("waiter", ready=False, pending="spawn")))
        service = VolumeService(
            store=store, directory=directory, volumes=self.volumes, naming=DockerNaming()
        )
        return service, store

    async def test_listing_shows_configured_volumes_with_sizes(self, world):
        service, store = world
        store.create("jupyterlab-a-2eb_home", 2048)
        listed = await service.list_for("a.b")
        assert [(v.label, v.name, v.exists, v.size_bytes) for v in listed] == [
            ("home", "jupyterlab-a-2eb_home", True, 2048),
            ("cache", "jupyterlab-a-2eb_cache", False, None),
        ]

    async def test_reset_reports_every_volume(self, world):
        service, store = world
        store.create("jupyterlab-a-2eb_home")
        report = await service.reset("a.b", ["home", "cache"])
        assert [(r.label, r.outcome) for r in report.results] == [
            ("home", VolumeOutcome.REMOVED),
            ("cache", VolumeOutcome.NOT_FOUND),
        ]
        assert store.sizes == {}

    @pytest.mark.parametrize("user", ["runner", "waiter"])
    async def test_reset_needs_a_stopped_server(self, world, user):
        service, _ = world
        with pytest.raises(Conflict):
            await service.reset(user, ["home"])

    async def test_reset_of_an_unknown_user_is_not_found(self, world):
        service, _ = world
        with pytest.raises(NotFound):
            await service.reset("zed", ["home"])

    async def test_sizes_by_user_uses_one_listing(self, world):
        service, store = world
        store.create("jupyterlab-a-2eb_home", 10)
        store.create("jupyterlab-runner_cache", 20)
        store.create("unrelated", 99)
        sizes = await service.sizes_by_user(["a.b", "runner", "waiter"])
        assert sizes == {"a.b": {"home": 10}, "runner": {"cache": 20}, "waiter": {}}


class TestBroadcastService:
    @pytest.fixture
    def world(self):
        directory = InMemoryHubDirectory(
            [
                hub_user("alice", lab("alice")),
                hub_user("bob", lab("bob")),
                hub_user("carol", lab("carol")),
                hub_user("dave"),
            ]
        )
        transport = RecordingTransport()
        service = BroadcastService(
            directory=directory,
            transport=transport,
            policy=BroadcastPolicy(concurrency=2, timeout_seconds=1),
        )
        return service, transport

    async def test_delivers_to_every_running_server_within_the_concurrency_bound(self, world):
        service, transport = world
        for name in ("alice", "bob", "carol"):
            transport.delays[name] = 0.05
        report = await service.send({"message": "Hello"})
        assert (report.total, report.successful) == (3, 3)
        assert transport.max_in_flight == 2
        assert {s.username for s, _ in transport.delivered} == {"alice", "bob", "carol"}

    async def test_a_slow_server_times_out_without_holding_up_the_report(self, world):
        service, transport = world
        transport.delays["bob"] = 5
        report = await asyncio.wait_for(service.send({"message": "Hello"}), 4)
        failed = [d for d in report.deliveries if not d.ok]
        assert [(d.username, d.error) for d in failed] == [("bob", "no answer within 1 s")]

    async def test_failures_and_unreachable_recipients_are_reported(self, world):
        service, transport = world
        transport.failures["carol"] = "HTTP 404: notifications extension not installed"
        report = await service.send(
            {"message": "Hi", "recipients": ["carol", "alice", "dave", "zed"]}
        )
        assert (report.successful, report.failed) == (1, 1)
        assert report.unknown == ("zed",)
        assert report.not_running == ("dave",)

    async def test_an_invalid_body_is_rejected_before_any_delivery(self, world):
        service, transport = world
        with pytest.raises(InvalidValue):
            await service.send({"message": ""})
        assert transport.delivered == []

    async def test_running_servers(self, world):
        service, _ = world
        assert [s.username for s in await service.running_servers()] == ["alice", "bob", "carol"]


class TestCredentialService:
    @pytest.fixture
    def world(self):
        clock = ManualClock(NOW)
        accounts = InMemoryCredentialStore()
        vault = InMemoryCredentialVault(clock=clock, policy=VaultPolicy(ttl_seconds=300))
        service = CredentialService(
            generator=SequencePasswordGenerator(),
            accounts=accounts,
            vault=vault,
            policy=PassphrasePolicy(),
            exempt={"admin"},
        )
        return service, accounts, clock

    def test_issued_passphrase_is_stored_and_collectable_once(self, world):
        service, accounts, _ = world
        assert service.issue("alice")
        secret = service.collect(["alice"])["alice"]
        assert accounts.passwords["alice"] == secret
        assert PassphrasePolicy().conforms(secret)
        assert service.collect(["alice"]) == {}

    def test_existing_accounts_and_the_bootstrap_admin_are_left_alone(self, world):
        service, accounts, _ = world
        accounts.set_password("self-signed", "chosen-by-user")
        assert not service.issue("self-signed")
        assert not service.issue("admin")
        assert accounts.passwords == {"self-signed": "chosen-by-user"}

    def test_uncollected_passphrases_expire(self, world):
        service, _, clock = world
        service.issue("alice")
        clock.advance(timedelta(minutes=5))
        assert service.collect(["alice"]) == {}

    def test_rename_and_forget_follow_the_user(self, world):
        service, _, _ = world
        service.issue("alice")
        service.issue("bob")
        service.rename("alice", "alicia")
        service.forget("bob")
        assert set(service.collect(["alice", "alicia", "bob"])) == {"alicia"}


class TestGpuService:
    gpu = Gpu(0, "Tesla T4", 15360, "GPU-1")

    async def test_auto_probes_once_and_caches(self):
        probe = StaticGpuProbe(GpuProbeResult((self.gpu,)))
        service = GpuService(probe=probe, mode=GpuMode.AUTO)
        assert not service.current.enabled  # before detection: off, never a guess
        decisions = await asyncio.gather(*(service.detect() for _ in range(5)))
        assert all(d.enabled and d.detected for d in decisions)
        assert probe.calls == 1

    @pytest.mark.parametrize("mode", [GpuMode.OFF, GpuMode.FORCED])
    async def test_off_and_forced_never_probe(self, mode):
        probe = StaticGpuProbe(GpuProbeResult((self.gpu,)))
        decision = await GpuService(probe=probe, mode=mode).detect()
        assert probe.calls == 0
        assert decision.enabled is (mode is GpuMode.FORCED)
