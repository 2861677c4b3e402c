"""The GPU service on the in-memory fakes: GPUs given out at each start (a refusal naming the
holders), freed at each stop, read back from the servers at hub start and brought in line with
them afterwards, and the overview the activity page shows. Nothing here really waits: probes
and read-backs block on events the test controls."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from datetime import timedelta

import pytest

from stellars.adapters.memory import (
    InMemoryContainers,
    InMemoryHubDirectory,
    ManualClock,
    StaticGpuProbe,
)
from stellars.domain.errors import BackendUnavailable, InvalidValue, Refused
from stellars.domain.gpu import Gpu, GpuMode, GpuProbeResult, GpuReading, GpuUseResult
from stellars.domain.gpu_allocation import ContainerGpus, GpuAssignment, Holding
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.policies import GpuSharing
from stellars.domain.services import GpuService, Refresher
from stellars.domain.volumes import DockerNaming
from tests.strategies import EPOCH

EXCLUSIVE, SHARED = GpuSharing.EXCLUSIVE, GpuSharing.SHARED
FOUR = tuple(Gpu(index=i, name="A100", memory_mib=40_960, uuid=f"GPU-{i}") for i in range(4))
NAMING = DockerNaming(prefix="lab", name_template="lab-{username}")
GUARD_SECONDS = 5  # only reached when a test is broken


def running(name: str, *, pending: str | None = None, server: str = "") -> HubUser:
    snapshot = ServerSnapshot(
        username=name, name=server, ready=pending is None, pending=pending, started=EPOCH
    )
    return HubUser(name=name, servers={server: snapshot})


class RecordingReadBack:
    """The containers fake, recording which names each read-back asked for; it may be told
    to fail, or to wait for the test before answering."""

    def __init__(self, containers: InMemoryContainers) -> None:
        self.containers = containers
        self.asked: list[set[str]] = []
        self.failure: Exception | None = None
        self.gate: asyncio.Event | None = None
        self.reading = asyncio.Event()

    async def gpu_devices(self, names: Collection[str]) -> Mapping[str, ContainerGpus]:
        self.asked.append(set(names))
        self.reading.set()
        if self.gate is not None:
            await asyncio.wait_for(self.gate.wait(), GUARD_SECONDS)
        if self.failure is not None:
            raise self.failure
        return await self.containers.gpu_devices(names)


class Host:
    """A hub with four GPUs, its directory and containers, and the GPU service over them."""

    def __init__(
        self,
        *,
        per_server: int = 1,
        sharing: GpuSharing = EXCLUSIVE,
        naming: DockerNaming = NAMING,
    ) -> None:
        self.probe = StaticGpuProbe(
            GpuProbeResult(FOUR),
            GpuUseResult((GpuReading("GPU-1", 2048, 35), GpuReading("GPU-9", 1, 1))),
        )
        self.directory = InMemoryHubDirectory()
        self.containers = InMemoryContainers()
        self.read_back = RecordingReadBack(self.containers)
        self.clock = ManualClock(EPOCH)
        self.readings = Refresher(
            self.probe.use,
            empty=GpuUseResult(),
            interval=timedelta(seconds=30),
            clock=self.clock,
            name="GPU use",
        )
        self.service = GpuService(
            probe=self.probe,
            mode=GpuMode.AUTO,
            per_server=per_server,
            sharing=sharing,
            read_back=self.read_back,
            directory=self.directory,
            naming=naming,
            readings=self.readings,
        )

    async def start(self, name: str, **request) -> GpuAssignment:
        """A spawn as the hub runs it: the server is pending while the hook assigns."""
        self.directory.put(running(name, pending="spawn"))
        assignment = await self.service.assign((name, ""), **request)
        self.directory.put(running(name))
        self.containers.start(
            f"lab-{name}",
            gpus=ContainerGpus(devices=assignment.devices, sharing=assignment.sharing),
        )
        return assignment

    def stop(self, name: str) -> None:
        self.directory.users.pop(name, None)
        self.containers.remove(f"lab-{name}")
        self.service.release((name, ""))


class TestGivingOut:
    async def test_exclusive_gpus_go_to_four_servers_and_the_fifth_is_told_who_holds_them(self):
        host = Host()
        given = [(await host.start(name)).devices for name in ("ann", "bob", "cy", "dee")]
        assert given == [("GPU-0",), ("GPU-1",), ("GPU-2",), ("GPU-3",)]
        with pytest.raises(Refused) as refused:
            await host.start("eve")
        assert refused.value.reason == (
            "No 1 GPU(s) free for eve (exclusive): GPU 0 (A100): held exclusively by ann; "
            "GPU 1 (A100): held exclusively by bob; GPU 2 (A100): held exclusively by cy; "
            "GPU 3 (A100): held exclusively by dee. Ask a holder to stop their server, or an "
            "admin."
        )
        host.stop("bob")
        assert (await host.start("eve")).devices == ("GPU-1",)

    async def test_what_a_spawn_gets_and_its_defaults(self):
        host = Host(per_server=2, sharing=SHARED)
        got = await host.service.assign(("ann", ""))
        assert got == GpuAssignment(
            enabled=True, detected=True, devices=("GPU-0", "GPU-1"), sharing=SHARED
        )
        assert host.service.holdings == {("ann", ""): Holding(("ann", ""), got.devices, SHARED)}
        mine = await host.service.assign(("bob", "big"), 2, EXCLUSIVE)
        assert (mine.devices, mine.sharing) == (("GPU-2", "GPU-3"), EXCLUSIVE)
        with pytest.raises(Refused):
            await host.service.assign(("cy", ""), 1, EXCLUSIVE)
        assert host.service.per_server == 2
        assert host.service.sharing is SHARED

    async def test_shared_gpus_are_spread_by_load(self):
        host = Host(sharing=SHARED)
        given = [(await host.start(f"u{n}")).devices[0] for n in range(6)]
        assert given == ["GPU-0", "GPU-1", "GPU-2", "GPU-3", "GPU-0", "GPU-1"]

    async def test_a_server_that_asks_for_none_holds_none_and_lets_go_of_what_it_had(self):
        host = Host()
        await host.service.assign(("ann", ""))
        got = await host.service.assign(("ann", ""), 0)
        assert got == GpuAssignment(enabled=True, detected=True, sharing=EXCLUSIVE)
        assert host.service.holdings == {}

    async def test_a_bad_count_is_refused_before_anything_else(self):
        host = Host()
        for count in (-1, 65, 1.5, True):
            with pytest.raises(InvalidValue) as refused:
                await host.service.assign(("ann", ""), count)  # type: ignore[arg-type]
            assert refused.value.field == "gpus"
        assert host.probe.calls == 0
        assert (await host.service.assign(("ann", ""), 4)).devices == tuple(
            gpu.uuid for gpu in FOUR
        )

    def test_the_settings_are_checked(self):
        probe = StaticGpuProbe(GpuProbeResult(FOUR))
        with pytest.raises(InvalidValue) as refused:
            GpuService(probe=probe, mode=GpuMode.AUTO, per_server=65)
        assert refused.value.field == "per_server"
        assert GpuService(probe=probe, mode=GpuMode.AUTO, per_server=64).per_server == 64
        assert GpuService(probe=probe, mode=GpuMode.AUTO, per_server=0).per_server == 0
        with pytest.raises(InvalidValue) as refused:
            GpuService(probe=probe, mode=GpuMode.AUTO, read_back=InMemoryContainers())
        assert refused.value.field == "read_back"
        assert refused.value.message == "reading holdings back needs the hub's directory too"
        with pytest.raises(InvalidValue):
            GpuService(probe=probe, mode=GpuMode.AUTO, directory=InMemoryHubDirectory())
        default = GpuService(probe=probe, mode=GpuMode.AUTO)
        assert (default.per_server, default.sharing) == (1, SHARED)
        assert default.naming == DockerNaming()
        assert default.readings is None
        assert default.restored  # nothing to read back

    async def test_releasing_says_whether_the_server_held_any(self):
        host = Host()
        await host.service.assign(("ann", ""))
        assert host.service.release(("ann", ""))
        assert not host.service.release(("ann", ""))
        assert host.service.holdings == {}

    async def test_the_holdings_shown_are_a_copy(self):
        host = Host()
        await host.service.assign(("ann", ""))
        shown = host.service.holdings
        host.service.release(("ann", ""))
        assert ("ann", "") in shown
        with pytest.raises(TypeError):
            shown[("bob", "")] = Holding(("bob", ""), ("GPU-1",), SHARED)  # type: ignore[index]


class TestModes:
    @pytest.mark.parametrize(
        ("mode", "found", "expected"),
        [
            (GpuMode.OFF, GpuProbeResult(FOUR), GpuAssignment()),
            (GpuMode.FORCED, GpuProbeResult(FOUR), GpuAssignment(enabled=True, every_gpu=True)),
            (GpuMode.AUTO, GpuProbeResult.none("no driver"), GpuAssignment()),
        ],
    )
    async def test_without_an_inventory_nothing_is_given_out_one_by_one(
        self, mode, found, expected
    ):
        probe = StaticGpuProbe(found)
        read_back = RecordingReadBack(InMemoryContainers())
        service = GpuService(
            probe=probe, mode=mode, read_back=read_back, directory=InMemoryHubDirectory()
        )
        assert await service.assign(("ann", "")) == expected
        assert service.inventory == ()
        assert service.holdings == {}
        assert await service.reconcile() == 0
        assert read_back.asked == []
        assert not service.restored

    async def test_a_spawn_waits_for_the_probe_instead_of_going_without(self):
        gate = asyncio.Event()

        class SlowProbe(StaticGpuProbe):
            async def probe(self) -> GpuProbeResult:
                await asyncio.wait_for(gate.wait(), GUARD_SECONDS)
                return await super().probe()

        service = GpuService(probe=SlowProbe(GpuProbeResult(FOUR)), mode=GpuMode.AUTO)
        spawn = asyncio.ensure_future(service.assign(("ann", "")))
        await asyncio.sleep(0)
        assert not spawn.done()
        assert not service.current.enabled
        gate.set()
        assert (await asyncio.wait_for(spawn, GUARD_SECONDS)).devices == ("GPU-0",)


class TestReadingBack:
    async def test_a_restarted_hub_restores_every_holding_before_giving_any_out(self):
        host = Host()
        host.directory.put(running("ann"))
        host.directory.put(running("bob", pending="check"))
        host.directory.put(running("cy"))
        host.containers.start("lab-ann", gpus=ContainerGpus(devices=("GPU-0",)))
        host.containers.start("lab-bob", gpus=ContainerGpus(devices=("GPU-2",), sharing=EXCLUSIVE))
        host.containers.start("lab-cy")  # no GPU
        host.containers.start("lab-old", gpus=ContainerGpus(devices=("GPU-3",)))  # not a server
        assert not host.service.restored
        assert (await host.start("dee")).devices == ("GPU-1",)
        # Every server the hub runs or starts is asked, the one starting now too.
        assert host.read_back.asked == [{"lab-ann", "lab-bob", "lab-cy", "lab-dee"}]
        assert host.service.restored
        assert host.service.holdings == {
            ("ann", ""): Holding(("ann", ""), ("GPU-0",), EXCLUSIVE),
            ("bob", ""): Holding(("bob", ""), ("GPU-2",), EXCLUSIVE),
            ("dee", ""): Holding(("dee", ""), ("GPU-1",), EXCLUSIVE),
        }
        await host.service.restore()  # once only
        assert len(host.read_back.asked) == 1

    async def test_a_read_back_that_fails_refuses_the_spawn_and_is_tried_again(self):
        host = Host()
        host.read_back.failure = BackendUnavailable("the engine is away")
        with pytest.raises(BackendUnavailable):
            await host.service.assign(("ann", ""))
        assert not host.service.restored
        assert host.service.holdings == {}
        host.read_back.failure = None
        assert (await host.service.assign(("ann", ""))).devices == ("GPU-0",)
        assert len(host.read_back.asked) == 2

    async def test_after_the_restore_only_the_holders_are_read_again(self):
        host = Host()
        await host.start("ann")
        host.directory.put(running("bob"))  # a server without GPUs
        assert await host.service.reconcile() == 0
        assert host.read_back.asked[-1] == {"lab-ann"}

    async def test_a_hold_never_outlives_its_server_or_its_container(self):
        host = Host()
        for name in ("ann", "bob", "cy", "dee"):
            await host.start(name)
        host.directory.users.pop("ann")  # stopped while the post-stop hook was not there
        host.containers.remove("lab-bob")  # removed by hand; the hub still lists it
        host.directory.put(running("cy", pending="stop"))  # stopping: kept until its stop
        host.containers.remove("lab-cy")
        assert await host.service.reconcile() == 2
        assert set(host.service.holdings) == {("cy", ""), ("dee", "")}

    async def test_the_containers_are_the_truth_for_running_servers(self):
        host = Host()
        await host.start("ann")
        host.containers.start(
            "lab-ann", gpus=ContainerGpus(devices=("GPU-3",), sharing=SHARED)
        )  # created anew by hand
        assert await host.service.reconcile() == 1
        assert host.service.holdings == {("ann", ""): Holding(("ann", ""), ("GPU-3",), SHARED)}

    async def test_starts_and_stops_during_a_read_back_are_kept(self):
        host = Host()
        await host.start("ann")
        await host.start("bob")
        host.read_back.gate = asyncio.Event()
        host.read_back.reading.clear()
        reading = asyncio.ensure_future(host.service.reconcile())
        await asyncio.wait_for(host.read_back.reading.wait(), GUARD_SECONDS)
        # Meanwhile bob stops (his container was listed already) and cy starts.
        host.service.release(("bob", ""))
        assert (await host.service.assign(("cy", ""))).devices == ("GPU-1",)
        host.read_back.gate.set()
        await asyncio.wait_for(reading, GUARD_SECONDS)
        assert set(host.service.holdings) == {("ann", ""), ("cy", "")}

    async def test_a_starting_server_keeps_its_gpus_before_its_container_exists(self):
        host = Host()
        host.directory.put(running("ann", pending="spawn"))
        await host.service.assign(("ann", ""))
        assert await host.service.reconcile() == 0
        assert ("ann", "") in host.service.holdings


class TestWhatTheReadBackLogs:
    """The hub's log says what was read back, what changed, and what is wrong."""

    async def test_the_first_read_back_counts_the_holders_and_names_the_problems(self, caplog):
        caplog.set_level(logging.INFO, logger="stellars.domain.services.gpu")
        host = Host()
        host.directory.put(running("ann"))
        host.directory.put(running("bob"))
        host.directory.put(running("cy"))
        # Started by hand: two exclusive holders of GPU-0, and a GPU this host lacks.
        host.containers.start("lab-ann", gpus=ContainerGpus(devices=("GPU-0",)))
        host.containers.start("lab-bob", gpus=ContainerGpus(devices=("GPU-0", "GPU-7")))
        host.containers.start("lab-cy")
        await host.service.detect()
        await host.service.restore()
        assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
            ("WARNING", "GPU holdings: GPU-0 is held exclusively but by ann, bob"),
            ("WARNING", "GPU holdings: GPU-7 is held but not on this host"),
            ("INFO", "GPU holdings read back: 2 server(s) hold GPUs"),
        ]

    async def test_a_later_read_back_names_the_servers_it_changed(self, caplog):
        caplog.set_level(logging.INFO, logger="stellars.domain.services.gpu")
        host = Host(naming=DockerNaming(prefix="lab"))
        await host.start("ann")
        host.directory.put(running("bob", server="big", pending="spawn"))
        await host.service.assign(("bob", "big"))
        host.directory.put(running("bob", server="big"))
        host.containers.remove("lab-ann")  # removed by hand
        host.containers.start("lab-bob--big", gpus=ContainerGpus(devices=("GPU-3",)))  # by hand
        caplog.clear()
        assert await host.service.reconcile() == 2
        assert host.read_back.asked[-1] == {"lab-ann", "lab-bob--big"}
        assert host.service.holdings == {
            ("bob", "big"): Holding(("bob", "big"), ("GPU-3",), EXCLUSIVE)
        }
        assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
            ("INFO", "GPU holdings brought in line with the servers: ann, bob/big"),
        ]
        caplog.clear()
        assert await host.service.reconcile() == 0
        assert caplog.records == []

    async def test_a_named_server_is_read_back_by_its_own_container(self):
        host = Host(naming=DockerNaming(prefix="lab"))
        host.directory.put(running("ann", server="big"))
        host.containers.start("lab-ann", gpus=ContainerGpus(devices=("GPU-0",)))
        host.containers.start("lab-ann--big", gpus=ContainerGpus(devices=("GPU-2",)))
        await host.service.detect()
        await host.service.restore()
        assert host.read_back.asked == [{"lab-ann--big"}]
        assert host.service.holdings == {
            ("ann", "big"): Holding(("ann", "big"), ("GPU-2",), EXCLUSIVE)
        }

    async def test_a_container_with_every_gpu_holds_the_whole_inventory_shared(self):
        host = Host()
        host.directory.put(running("ann"))
        host.containers.start("lab-ann", gpus=ContainerGpus(every_gpu=True))
        await host.service.detect()
        await host.service.restore()
        every = tuple(gpu.uuid for gpu in FOUR)
        assert host.service.holdings == {("ann", ""): Holding(("ann", ""), every, SHARED)}


class TestOverview:
    async def test_every_gpu_with_its_holders_and_latest_reading(self):
        host = Host(sharing=SHARED)
        await host.start("ann")
        await host.start("bob")
        await host.start("cy", count=1, sharing=SHARED)
        await host.readings.refresh_now()
        host.clock.advance(timedelta(seconds=12))
        overview = host.service.overview(host.clock.now())
        assert overview.decision == host.service.current
        assert overview.readings_age == timedelta(seconds=12)
        assert overview.readings_error is None
        rows = {row.use.device.uuid: row for row in overview.rows}
        assert list(rows) == ["GPU-0", "GPU-1", "GPU-2", "GPU-3"]
        assert rows["GPU-0"].use.holders == (("ann", ""),)
        assert rows["GPU-2"].use.holders == (("cy", ""),)
        assert rows["GPU-3"].use.holders == ()
        assert rows["GPU-1"].reading == GpuReading("GPU-1", 2048, 35)
        assert rows["GPU-0"].reading is None

    async def test_why_readings_are_missing(self):
        host = Host()
        await host.service.detect()
        assert host.service.overview(EPOCH).readings_age is None
        assert host.service.overview(EPOCH).readings_error is None
        host.probe.use_result = GpuUseResult.none("nvidia-smi exited with status 9")
        await host.readings.refresh_now()
        assert host.service.overview(EPOCH).readings_error == "nvidia-smi exited with status 9"

        async def broken() -> GpuUseResult:
            raise BackendUnavailable("engine away")

        failing = Refresher(
            broken, empty=GpuUseResult(), interval=timedelta(1), clock=host.clock, name="x"
        )
        await failing.refresh_now()
        service = GpuService(probe=host.probe, mode=GpuMode.AUTO, readings=failing)
        assert service.overview(EPOCH).readings_error == "engine away"
        assert service.overview(EPOCH).rows == ()  # before the probe answered

    async def test_without_a_readings_refresher(self):
        service = GpuService(probe=StaticGpuProbe(GpuProbeResult(FOUR)), mode=GpuMode.AUTO)
        await service.assign(("ann", ""))
        overview = service.overview(EPOCH)
        assert [row.reading for row in overview.rows] == [None] * 4
        assert overview.rows[0].use.holders == (("ann", ""),)
        assert overview.rows[0].use.sharing is SHARED
        assert (overview.readings_age, overview.readings_error) == (None, None)
