"""Storage quotas in the platform (QuotaService on the fakes, and the pre-spawn hook): the usage
of a user's own volumes against the quota their policies or the platform give, a start over the
quota refused with a 409 before any GPU is taken (on a fresh measurement, never on old sizes),
the volume reset working over the quota, and the warning into a running lab once per crossing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from dockerspawner import DockerSpawner
from tornado import web

from stellars.adapters.jupyterhub import PreSpawnHook, SpawnBase
from stellars.adapters.memory import (
    InMemoryHubDirectory,
    InMemoryPolicyStore,
    InMemoryVolumeStore,
    ManualClock,
    RecordingTransport,
    StaticGpuProbe,
)
from stellars.domain.docker_access import DockerAccessGroups
from stellars.domain.errors import BackendUnavailable, NotFound, Refused
from stellars.domain.gpu import Gpu, GpuMode, GpuProbeResult
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.limits import LabLimits
from stellars.domain.notifications import Variant
from stellars.domain.policies import MIB, GpuSharing, GroupPolicy, PlatformDefaults
from stellars.domain.quotas import QuotaState, StorageUsage
from stellars.domain.services import (
    GpuService,
    PolicyService,
    QuotaService,
    QuotaWarning,
    UserStorage,
    VolumeService,
)
from stellars.domain.timeutil import assume_utc
from stellars.domain.volume_ownership import owner_key
from stellars.domain.volumes import DockerNaming, user_volumes
from tests.builders import VolumeSizes

VOLUMES = {
    "lab-{username}_home": "/home/jovyan",
    "lab-{username}_work": "/home/jovyan/work",
    "shared": "/mnt/shared",
}
CREATED = datetime(2026, 1, 2, 3, 4, 5)
NOW = assume_utc(CREATED) + timedelta(days=30)
STARTED = NOW - timedelta(hours=1)
QUOTA = 10 * MIB
DEFAULTS = PlatformDefaults(image="lab", storage_quota=QUOTA)
ONE_GPU = (Gpu(index=0, name="A100", memory_mib=40_960, uuid="GPU-0aaaa"),)


def running(name: str, server: str = "", started: datetime = STARTED) -> ServerSnapshot:
    return ServerSnapshot(username=name, name=server, ready=True, started=started, url="/u/")


def account(name: str, user_id: int, *groups: str, servers: tuple[ServerSnapshot, ...] = ()):
    return HubUser(
        name=name,
        id=user_id,
        created=CREATED,
        groups=frozenset(groups),
        servers={server.name: server for server in servers},
    )


class World:
    def __init__(self) -> None:
        self.clock = ManualClock(NOW)
        self.store = InMemoryVolumeStore()
        self.sizes = VolumeSizes(self.store, self.clock)
        self.directory = InMemoryHubDirectory(
            [account("ann", 1), account("bob", 2, "big"), account("a b/c", 3)]
        )
        self.policies = InMemoryPolicyStore(["big", "small"])
        self.defaults = DEFAULTS
        resolver = PolicyService(
            store=self.policies,
            directory=self.directory,
            defaults=lambda: self.defaults,
            allowed_images=("lab",),
            volumes=VOLUMES,
            access_groups=DockerAccessGroups(),
        )
        self.resolver = resolver
        self.volumes = VolumeService(
            store=self.store,
            directory=self.directory,
            volumes=user_volumes(VOLUMES),
            naming=DockerNaming(prefix="lab", name_template="lab-{username}"),
            sizes=self.sizes,
        )
        self.transport = RecordingTransport()
        self.service = QuotaService(
            directory=self.directory,
            volumes=self.volumes,
            policies=resolver,
            transport=self.transport,
            hub_url="/base/hub/",
        )

    def own(self, name: str, user_id: int, label: str, size: int | None) -> None:
        """A volume of `name`'s account measuring `size`."""
        self.store.create(f"lab-{name}_{label}", size, owner=owner_key(user_id, CREATED))

    async def measure(self) -> None:
        await self.sizes.refresh_now()

    async def put_policy(self, group: str, quota: int) -> None:
        await self.resolver.put(GroupPolicy(group=group, storage_quota=quota))

    def run(self, name: str, *servers: ServerSnapshot) -> None:
        user = self.directory.users[name]
        self.directory.put(
            HubUser(
                name=user.name,
                id=user.id,
                created=user.created,
                groups=user.groups,
                servers={server.name: server for server in servers or (running(name),)},
            )
        )

    def stop(self, name: str) -> None:
        user = self.directory.users[name]
        self.directory.put(
            HubUser(name=user.name, id=user.id, created=user.created, groups=user.groups)
        )


@pytest.fixture
def world() -> World:
    return World()


class TestUsage:
    async def test_the_usage_is_the_users_own_volumes_against_the_platforms_quota(self, world):
        world.own("ann", 1, "home", 3 * MIB)
        world.own("ann", 1, "work", 2 * MIB)
        world.own("bob", 2, "home", 7 * MIB)
        world.store.create("shared", 100 * MIB)
        await world.measure()
        got = await world.service.for_user("ann")
        assert got == UserStorage(
            username="ann",
            usage=StorageUsage(5 * MIB, QUOTA),
            quota_from=None,
            measured_at=NOW,
            home_url="/base/hub/home",
            reset_url="/base/hub/api/users/ann/manage-volumes",
        )
        assert got.usage.state is QuotaState.UNDER

    async def test_a_missing_volume_uses_nothing(self, world):
        world.own("ann", 1, "home", 9 * MIB)
        await world.measure()
        usage = (await world.service.for_user("ann")).usage
        assert usage == StorageUsage(9 * MIB, QUOTA)
        assert usage.state is QuotaState.WARNING

    async def test_nothing_measured_yet_is_unknown_not_zero(self, world):
        world.own("ann", 1, "home", 11 * MIB)
        got = await world.service.for_user("ann")
        assert got.usage == StorageUsage(None, QUOTA)
        assert got.measured_at is None

    async def test_a_size_the_engine_did_not_give_is_unknown(self, world):
        world.own("ann", 1, "home", 11 * MIB)
        world.own("ann", 1, "work", None)  # mid-scan: Docker gave no size
        await world.measure()
        assert (await world.service.for_user("ann")).usage.state is QuotaState.UNKNOWN

    async def test_a_volume_of_an_earlier_account_of_the_same_name_is_not_counted(self, world):
        world.own("ann", 1, "home", MIB)
        world.store.create("lab-ann_work", 50 * MIB, owner=owner_key(99, CREATED))
        await world.measure()
        assert (await world.service.for_user("ann")).usage == StorageUsage(MIB, QUOTA)

    async def test_the_users_own_volumes_after_a_foreign_one_count(self, world):
        world.store.create("lab-ann_home", 50 * MIB, owner=owner_key(99, CREATED))
        world.own("ann", 1, "work", 2 * MIB)
        await world.measure()
        assert (await world.service.for_user("ann")).usage == StorageUsage(2 * MIB, QUOTA)

    async def test_a_group_policy_overrides_the_platforms_quota(self, world):
        await world.put_policy("big", 100 * MIB)
        world.own("bob", 2, "home", 50 * MIB)
        await world.measure()
        got = await world.service.for_user("bob")
        assert got.usage == StorageUsage(50 * MIB, 100 * MIB)
        assert got.quota_from == "big"

    async def test_without_a_quota_the_usage_is_still_shown(self, world):
        world.defaults = PlatformDefaults(image="lab")
        world.own("ann", 1, "home", 3 * MIB)
        await world.measure()
        usage = (await world.service.for_user("ann")).usage
        assert usage == StorageUsage(3 * MIB, None)
        assert usage.text == "3 MiB used (no quota)"
        assert world.service.default_quota is None

    async def test_the_reset_route_escapes_the_user_name(self, world):
        got = await world.service.for_user("a b/c")
        assert got.reset_url == "/base/hub/api/users/a%20b%2Fc/manage-volumes"

    async def test_an_unknown_user_is_not_found(self, world):
        with pytest.raises(NotFound):
            await world.service.for_user("nobody")


class TestTheCheckAtSpawn:
    async def check(self, world: World, quota: int | None = QUOTA) -> StorageUsage:
        return await world.service.check_spawn("ann", user_id=1, created=CREATED, quota=quota)

    async def test_under_the_quota_a_start_goes_ahead_without_measuring(self, world):
        world.own("ann", 1, "home", 5 * MIB)
        await world.measure()
        passes = world.sizes.passes
        assert await self.check(world) == StorageUsage(5 * MIB, QUOTA)
        assert world.sizes.passes == passes

    async def test_over_the_quota_a_start_is_refused_naming_usage_quota_and_reset(self, world):
        world.own("ann", 1, "home", 12 * MIB)
        await world.measure()
        with pytest.raises(Refused) as refused:
            await self.check(world)
        assert refused.value.reason == (
            "The server of ann cannot start: its volumes use 12 MiB, more than the storage "
            "quota of 10 MiB (120 %). Free space by resetting volumes: Manage volumes on the "
            "home page (/base/hub/home), or DELETE /base/hub/api/users/ann/manage-volumes with "
            "the volumes to reset; then start again."
        )

    async def test_exactly_at_the_quota_a_start_goes_ahead(self, world):
        world.own("ann", 1, "home", QUOTA)
        await world.measure()
        assert (await self.check(world)).state is QuotaState.WARNING

    async def test_a_refusal_is_decided_on_a_fresh_measurement(self, world):
        world.own("ann", 1, "home", 12 * MIB)
        await world.measure()
        world.store.sizes["lab-ann_home"] = MIB  # the user deleted files since
        passes = world.sizes.passes
        assert await self.check(world) == StorageUsage(MIB, QUOTA)
        assert world.sizes.passes == passes + 1

    async def test_a_measurement_that_fails_never_refuses(self, world, caplog):
        world.own("ann", 1, "home", 12 * MIB)
        await world.measure()

        async def broken() -> list[object]:
            raise BackendUnavailable("engine gone")

        world.store.volumes = broken  # type: ignore[method-assign,assignment]
        assert await self.check(world) == StorageUsage(None, QUOTA)
        assert "storage of ann not measured again (engine gone): the start goes ahead" in (
            caplog.messages
        )

    async def test_unknown_sizes_never_refuse(self, world):
        assert (await self.check(world)).state is QuotaState.UNKNOWN
        world.own("ann", 1, "home", 50 * MIB)
        world.own("ann", 1, "work", None)
        await world.measure()
        assert (await self.check(world)).state is QuotaState.UNKNOWN

    async def test_no_quota_never_refuses(self, world):
        world.own("ann", 1, "home", 50 * MIB)
        await world.measure()
        assert (await self.check(world, None)).state is QuotaState.NONE

    async def test_the_reset_works_over_the_quota_and_the_next_start_goes_ahead(self, world):
        world.own("ann", 1, "home", 12 * MIB)
        world.own("ann", 1, "work", MIB)
        await world.measure()
        with pytest.raises(Refused):
            await self.check(world)
        report = await world.volumes.reset("ann", ["home"])
        assert report.removed == ("home",)
        # The measurement the reset asked for may not be done: the check measures again.
        assert await self.check(world) == StorageUsage(MIB, QUOTA)


@dataclass
class User:
    name: str = "ann"
    id: int = 1
    created: datetime = CREATED
    groups: list[object] = field(default_factory=list)


def spawner_for(world: World) -> DockerSpawner:
    spawner = DockerSpawner()
    spawner.user = User()
    spawner.orm_spawner = SimpleNamespace(name="", server=None)
    return spawner


class TestTheHook:
    """Both volumes of ann exist: a volume the hook provisions is not measured yet (unknown),
    which would let the start go ahead."""

    def hook(self, world: World, gpus: GpuService, **kwargs: object) -> PreSpawnHook:
        return PreSpawnHook(
            base=SpawnBase(volumes=VOLUMES),
            groups=DockerAccessGroups(),
            gpu=gpus,
            limits=LabLimits(),
            volumes=world.volumes,
            quotas=world.service,
            **kwargs,  # type: ignore[arg-type]
        )

    def gpus(self) -> GpuService:
        return GpuService(
            probe=StaticGpuProbe(GpuProbeResult(ONE_GPU)),
            mode=GpuMode.AUTO,
            sharing=GpuSharing.EXCLUSIVE,
        )

    async def test_a_start_over_the_quota_is_a_409_and_holds_no_gpu(self, world):
        world.own("ann", 1, "home", 12 * MIB)
        world.own("ann", 1, "work", 0)
        await world.measure()
        gpus = self.gpus()
        with pytest.raises(web.HTTPError) as refused:
            await self.hook(world, gpus)(spawner_for(world))
        assert refused.value.status_code == 409
        message = refused.value.jupyterhub_message  # type: ignore[attr-defined]
        assert "its volumes use 12 MiB, more than the storage quota of 10 MiB" in message
        assert "DELETE /base/hub/api/users/ann/manage-volumes" in message
        assert gpus.holdings == {}

    async def test_under_the_quota_the_start_goes_on_and_gets_its_gpu(self, world):
        world.own("ann", 1, "home", 5 * MIB)
        world.own("ann", 1, "work", 0)
        await world.measure()
        gpus = self.gpus()
        spawner = spawner_for(world)
        await self.hook(world, gpus)(spawner)
        assert set(gpus.holdings) == {("ann", "")}
        assert spawner.extra_host_config["device_requests"][0]["DeviceIDs"] == ["GPU-0aaaa"]

    async def test_the_users_policies_decide_the_quota_of_a_spawn(self, world):
        await world.put_policy("small", MIB)
        world.own("ann", 1, "home", 5 * MIB)
        world.own("ann", 1, "work", 0)
        await world.measure()
        spawner = spawner_for(world)
        spawner.user.groups = [SimpleNamespace(name="small")]
        await self.hook(world, self.gpus())(spawner_for(world))  # the platform's 10 MiB
        # Most generous wins: the platform's default is not a policy, so "small" alone decides.
        with pytest.raises(web.HTTPError) as refused:
            await self.hook(world, self.gpus(), policies=world.resolver)(spawner)
        assert "more than the storage quota of 1 MiB" in refused.value.jupyterhub_message  # type: ignore[attr-defined]

    async def test_without_quotas_the_hook_checks_nothing(self, world):
        world.own("ann", 1, "home", 12 * MIB)
        world.own("ann", 1, "work", 0)
        await world.measure()
        hook = self.hook(world, self.gpus())
        hook.quotas = None
        await hook(spawner_for(world))

    async def test_a_local_process_spawn_is_not_checked(self, world):
        world.own("ann", 1, "home", 12 * MIB)
        world.own("ann", 1, "work", 0)
        await world.measure()
        spawner = SimpleNamespace(
            user=User(), name="", server=None, environment={}, orm_spawner=None
        )
        hook = self.hook(
            world, GpuService(probe=StaticGpuProbe(GpuProbeResult(())), mode=GpuMode.OFF)
        )
        await hook(spawner)
        assert spawner.environment is not None


class TestWarnings:
    async def test_a_running_user_at_90_percent_is_warned_once(self, world):
        world.own("ann", 1, "home", 9 * MIB)
        world.run("ann")
        await world.measure()
        sent = await world.service.check()
        assert sent == (QuotaWarning("ann", "", StorageUsage(9 * MIB, QUOTA), True),)
        [(server, broadcast)] = world.transport.delivered
        assert server.username == "ann"
        assert broadcast.variant is Variant.WARNING
        assert broadcast.recipients == ("ann",)
        assert broadcast.message == (
            "Storage: your volumes use 9 MiB of 10 MiB (90 %) of your quota. Over it, your "
            "server will not start again: delete files you do not need."
        )
        assert await world.service.check() == ()
        assert len(world.transport.delivered) == 1
        assert (world.service.sent, world.service.failed) == (1, 0)

    async def test_under_90_percent_nobody_is_warned(self, world):
        world.own("ann", 1, "home", 9 * MIB - 1)
        world.run("ann")
        await world.measure()
        assert await world.service.check() == ()

    async def test_over_the_quota_warns_too(self, world):
        world.own("ann", 1, "home", 20 * MIB)
        world.run("ann")
        await world.measure()
        [warning] = await world.service.check()
        assert warning.usage.state is QuotaState.OVER

    async def test_warned_again_after_going_under_and_coming_back(self, world):
        world.own("ann", 1, "home", 9 * MIB)
        world.run("ann")
        await world.measure()
        assert len(await world.service.check()) == 1
        world.store.sizes["lab-ann_home"] = 11 * MIB  # still above: no new warning
        await world.measure()
        assert await world.service.check() == ()
        world.store.sizes["lab-ann_home"] = MIB
        await world.measure()
        assert await world.service.check() == ()
        world.store.sizes["lab-ann_home"] = 9 * MIB
        await world.measure()
        assert len(await world.service.check()) == 1
        assert len(world.transport.delivered) == 2

    async def test_an_unknown_usage_neither_warns_nor_rearms(self, world):
        world.own("ann", 1, "home", 9 * MIB)
        world.run("ann")
        await world.measure()
        assert len(await world.service.check()) == 1
        world.store.sizes["lab-ann_home"] = None  # a partial answer mid-scan
        await world.measure()
        assert await world.service.check() == ()
        world.store.sizes["lab-ann_home"] = 9 * MIB
        await world.measure()
        assert await world.service.check() == ()  # it never went below: no second warning

    async def test_nothing_measured_yet_warns_nobody(self, world):
        world.own("ann", 1, "home", 20 * MIB)
        world.run("ann")
        assert await world.service.check() == ()

    async def test_a_new_start_of_the_server_is_warned_again(self, world):
        world.own("ann", 1, "home", 9 * MIB)
        world.run("ann")
        await world.measure()
        assert len(await world.service.check()) == 1
        world.stop("ann")
        assert await world.service.check() == ()
        world.run("ann", running("ann", started=NOW))
        assert len(await world.service.check()) == 1

    async def test_each_running_server_of_the_user_is_warned(self, world, caplog):
        caplog.set_level("INFO")
        world.own("ann", 1, "home", 9 * MIB)
        pending = ServerSnapshot(username="ann", name="", ready=False, pending="spawn")
        world.run("ann", pending, running("ann", "gpu"), running("ann", "viz"))
        await world.measure()
        assert [w.server_name for w in await world.service.check()] == ["gpu", "viz"]
        assert world.service.sent == 2
        assert "storage warning to ann/gpu: 9 MiB of 10 MiB (90 %)" in caplog.messages

    async def test_a_server_started_since_is_warned_beside_one_warned_before(self, world):
        world.own("ann", 1, "home", 9 * MIB)
        world.run("ann", running("ann"))
        await world.measure()
        assert len(await world.service.check()) == 1
        world.run("ann", running("ann"), running("ann", "gpu"))
        assert [w.server_name for w in await world.service.check()] == ["gpu"]

    async def test_one_users_unknown_or_low_usage_does_not_stop_the_pass(self, world):
        await world.put_policy("big", 100 * MIB)
        world.directory.put(account("aa", 4, "big"))
        world.store.create("lab-aa_home", None, owner=owner_key(4, CREATED))  # unknown
        world.own("ann", 1, "home", MIB)  # under
        world.own("bob", 2, "home", 95 * MIB)  # warning
        for name in ("aa", "ann", "bob"):
            world.run(name)
        await world.measure()
        assert [w.username for w in await world.service.check()] == ["bob"]

    async def test_an_unknown_usage_keeps_every_server_warned(self, world):
        world.own("ann", 1, "home", 9 * MIB)
        world.run("ann", running("ann"), running("ann", "gpu"))
        await world.measure()
        assert len(await world.service.check()) == 2
        world.store.sizes["lab-ann_home"] = None
        await world.measure()
        assert await world.service.check() == ()
        world.store.sizes["lab-ann_home"] = 9 * MIB
        await world.measure()
        assert await world.service.check() == ()

    async def test_stopped_or_pending_servers_are_not_warned(self, world):
        world.own("ann", 1, "home", 9 * MIB)
        world.own("bob", 2, "home", 9 * MIB)
        pending = ServerSnapshot(username="bob", ready=False, pending="spawn", started=STARTED)
        world.run("bob", pending)
        await world.measure()
        assert await world.service.check() == ()

    async def test_users_without_a_quota_are_not_warned(self, world):
        world.defaults = PlatformDefaults(image="lab")
        world.own("ann", 1, "home", 9 * MIB)
        world.run("ann")
        await world.measure()
        assert await world.service.check() == ()

    async def test_each_user_by_their_own_quota(self, world):
        await world.put_policy("big", 100 * MIB)
        world.own("ann", 1, "home", 9 * MIB)
        world.own("bob", 2, "home", 9 * MIB)
        world.run("ann")
        world.run("bob")
        await world.measure()
        assert [w.username for w in await world.service.check()] == ["ann"]

    async def test_a_failed_delivery_is_tried_again_at_the_next_pass(self, world, caplog):
        world.own("ann", 1, "home", 9 * MIB)
        world.run("ann")
        await world.measure()
        world.transport.failures["ann"] = "lab not answering"
        [failed] = await world.service.check()
        assert (failed.delivered, failed.error) == (False, "lab not answering")
        assert "could not warn ann/ about storage: lab not answering" in caplog.messages
        del world.transport.failures["ann"]
        [sent] = await world.service.check()
        assert sent.delivered
        assert (world.service.sent, world.service.failed) == (1, 1)
        world.transport.failures["ann"] = "again"
        world.run("ann", running("ann", started=NOW))  # a new start: warned (and failing) again
        await world.service.check()
        assert (world.service.sent, world.service.failed) == (1, 2)

    async def test_a_transport_that_raises_does_not_end_the_pass(self, world):
        world.own("ann", 1, "home", 9 * MIB)
        world.own("bob", 2, "home", 90 * MIB)
        world.run("ann")
        world.run("bob")
        await world.put_policy("big", 100 * MIB)
        await world.measure()
        world.transport.crashes["ann"] = RuntimeError("bug")
        sent = await world.service.check()
        assert [(w.username, w.delivered, w.error) for w in sent] == [
            ("ann", False, "delivery failed: bug"),
            ("bob", True, None),
        ]
