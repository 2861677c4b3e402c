"""GPUs read back from the servers, and what a lab learns of its GPUs: the rules 6 to 9 of
`stellars.domain.gpu_allocation` by example and as a property, the lab environment, and the
readings of the GPUs' use."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.gpu import Gpu, GpuReading, GpuUseResult
from stellars.domain.gpu_allocation import (
    CUDA_VISIBLE_DEVICES,
    GPU_SHARING_VARIABLE,
    NO_GPU,
    NVIDIA_VISIBLE_DEVICES,
    ContainerGpus,
    GpuAssignment,
    Holding,
    gpus_from_environment,
    held_by_container,
    reconcile,
    sharing_from_environment,
)
from stellars.domain.policies import GpuSharing

EXCLUSIVE, SHARED = GpuSharing.EXCLUSIVE, GpuSharing.SHARED
FOUR = tuple(Gpu(index=i, name="A100", memory_mib=40_960, uuid=f"GPU-{i}") for i in range(4))
ANN, BOB, CY = ("ann", ""), ("bob", ""), ("cy", "gpu")
RUNNING, PENDING = True, False


class TestWhatAContainerHolds:
    def test_the_gpus_it_names_with_the_sharing_it_records(self):
        found = ContainerGpus(devices=("GPU-2", "GPU-0"), sharing=SHARED)
        assert held_by_container(FOUR, ANN, found) == Holding(ANN, ("GPU-2", "GPU-0"), SHARED)

    def test_unrecorded_sharing_is_exclusive_so_nothing_is_given_twice(self):
        found = ContainerGpus(devices=("GPU-1",))
        assert held_by_container(FOUR, ANN, found) == Holding(ANN, ("GPU-1",), EXCLUSIVE)

    def test_a_request_for_every_gpu_holds_them_all_shared(self):
        found = ContainerGpus(every_gpu=True, sharing=EXCLUSIVE)
        assert held_by_container(FOUR[::-1], ANN, found) == Holding(
            ANN, ("GPU-0", "GPU-1", "GPU-2", "GPU-3"), SHARED
        )

    def test_nothing_named_or_nothing_on_the_host_holds_nothing(self):
        assert held_by_container(FOUR, ANN, ContainerGpus()) is None
        assert held_by_container(FOUR, ANN, ContainerGpus(sharing=SHARED)) is None
        assert held_by_container((), ANN, ContainerGpus(every_gpu=True)) is None


class TestReconcile:
    def test_a_server_the_hub_no_longer_runs_holds_nothing(self):  # rule 6
        holdings = {ANN: Holding(ANN, ("GPU-0",), EXCLUSIVE)}
        assert reconcile(FOUR, holdings, {}, {}) == {}
        # ... even when its container is still there
        found = {ANN: ContainerGpus(devices=("GPU-0",))}
        assert reconcile(FOUR, holdings, {}, found) == {}

    def test_a_running_server_holds_what_its_container_names(self):  # rule 7
        holdings = {ANN: Holding(ANN, ("GPU-0",), EXCLUSIVE)}
        found = {ANN: ContainerGpus(devices=("GPU-3",), sharing=SHARED), BOB: None}
        assert reconcile(FOUR, holdings, {ANN: RUNNING, BOB: RUNNING}, found) == {
            ANN: Holding(ANN, ("GPU-3",), SHARED)
        }

    def test_a_running_server_without_its_container_or_gpus_holds_nothing(self):  # rule 7
        holdings = {
            ANN: Holding(ANN, ("GPU-0",), EXCLUSIVE),
            BOB: Holding(BOB, ("GPU-1",), EXCLUSIVE),
        }
        found = {ANN: None, BOB: ContainerGpus()}
        assert reconcile(FOUR, holdings, {ANN: RUNNING, BOB: RUNNING}, found) == {}

    def test_a_starting_server_keeps_what_it_was_given(self):  # rule 8
        holdings = {ANN: Holding(ANN, ("GPU-0",), EXCLUSIVE)}
        for found in ({ANN: None}, {ANN: ContainerGpus(devices=("GPU-3",))}, {}):
            assert reconcile(FOUR, holdings, {ANN: PENDING}, found) == holdings

    def test_a_starting_server_given_nothing_holds_what_its_container_names(self):  # rule 8
        found = {ANN: ContainerGpus(devices=("GPU-3",), sharing=SHARED), BOB: None}
        assert reconcile(FOUR, {}, {ANN: PENDING, BOB: PENDING}, found) == {
            ANN: Holding(ANN, ("GPU-3",), SHARED)
        }

    def test_a_server_not_read_keeps_its_holding(self):  # rule 9
        holdings = {ANN: Holding(ANN, ("GPU-0",), EXCLUSIVE)}
        assert reconcile(FOUR, holdings, {ANN: RUNNING, BOB: RUNNING}, {}) == holdings

    def test_a_holding_that_changed_meanwhile_stays_as_it_is_now(self):  # rule 9
        holdings = {ANN: Holding(ANN, ("GPU-0",), EXCLUSIVE)}
        # Assigned while the containers were read: the hub listed it before it started.
        assert reconcile(FOUR, holdings, {}, {}, changed={ANN}) == holdings
        # Released meanwhile: its container was read before it went.
        found = {BOB: ContainerGpus(devices=("GPU-1",))}
        servers = {ANN: PENDING, BOB: RUNNING}
        assert reconcile(FOUR, holdings, servers, found, changed={BOB}) == holdings

    def test_read_back_after_a_restart_restores_every_holder(self):
        found = {
            ANN: ContainerGpus(devices=("GPU-0",), sharing=EXCLUSIVE),
            BOB: ContainerGpus(devices=("GPU-1",), sharing=SHARED),
            CY: ContainerGpus(devices=("GPU-1",), sharing=SHARED),
        }
        servers = {ANN: PENDING, BOB: PENDING, CY: RUNNING}
        assert reconcile(FOUR, {}, servers, found) == {
            ANN: Holding(ANN, ("GPU-0",), EXCLUSIVE),
            BOB: Holding(BOB, ("GPU-1",), SHARED),
            CY: Holding(CY, ("GPU-1",), SHARED),
        }


servers_strategy = st.dictionaries(st.sampled_from([ANN, BOB, CY]), st.booleans(), max_size=3)
holding_strategy = st.builds(
    Holding,
    st.sampled_from([ANN, BOB, CY]),
    st.lists(st.sampled_from([g.uuid for g in FOUR]), min_size=1, max_size=2, unique=True).map(
        tuple
    ),
    st.sampled_from([EXCLUSIVE, SHARED]),
)
container_strategy = st.none() | st.builds(
    ContainerGpus,
    devices=st.lists(st.sampled_from([g.uuid for g in FOUR]), max_size=2, unique=True).map(tuple),
    every_gpu=st.booleans(),
    sharing=st.none() | st.sampled_from([EXCLUSIVE, SHARED]),
)


@given(
    st.lists(holding_strategy, max_size=3),
    servers_strategy,
    st.dictionaries(st.sampled_from([ANN, BOB, CY]), container_strategy, max_size=3),
    st.sets(st.sampled_from([ANN, BOB, CY])),
)
def test_every_server_holds_by_exactly_one_rule(holding_list, servers, found, changed):
    holdings = {holding.server: holding for holding in holding_list}
    result = reconcile(FOUR, holdings, servers, found, changed)
    for server in (ANN, BOB, CY):
        container = found.get(server)
        read = None if container is None else held_by_container(FOUR, server, container)
        if server in changed:
            expected = holdings.get(server)
        elif server not in servers:
            expected = None
        elif server not in found:
            expected = holdings.get(server)
        elif servers[server]:
            expected = read
        else:
            expected = holdings.get(server) or read
        assert result.get(server) == expected
    assert all(key == holding.server for key, holding in result.items())
    assert all(holding.devices for holding in result.values())


class TestTheLabEnvironment:
    def test_gpus_given_one_by_one_are_named_by_uuid_with_their_sharing(self):
        given_two = GpuAssignment(
            enabled=True, detected=True, devices=("GPU-1", "GPU-3"), sharing=SHARED
        )
        assert given_two.has_gpus
        assert given_two.environment == {
            "ENABLE_GPU_SUPPORT": "1",
            "ENABLE_GPUSTAT": "1",
            "NVIDIA_DETECTED": "1",
            NVIDIA_VISIBLE_DEVICES: "GPU-1,GPU-3",
            CUDA_VISIBLE_DEVICES: "GPU-1,GPU-3",
            GPU_SHARING_VARIABLE: "shared",
        }

    def test_a_server_given_none_while_gpus_are_given_out_sees_none(self):
        none = GpuAssignment(enabled=True, detected=True)
        assert not none.has_gpus
        assert none.environment == {
            "ENABLE_GPU_SUPPORT": "0",
            "ENABLE_GPUSTAT": "0",
            "NVIDIA_DETECTED": "1",
            NVIDIA_VISIBLE_DEVICES: NO_GPU,
            CUDA_VISIBLE_DEVICES: "",
        }
        assert NO_GPU == "void"

    def test_every_gpu_and_gpus_off_name_none(self):
        every = GpuAssignment(enabled=True, every_gpu=True)
        assert every.has_gpus
        assert every.environment == {
            "ENABLE_GPU_SUPPORT": "1",
            "ENABLE_GPUSTAT": "1",
            "NVIDIA_DETECTED": "0",
        }
        off = GpuAssignment(detected=True, devices=("GPU-1",))  # not enabled: never named
        assert off.environment == {
            "ENABLE_GPU_SUPPORT": "1",
            "ENABLE_GPUSTAT": "1",
            "NVIDIA_DETECTED": "1",
        }
        assert GpuAssignment().environment == {
            "ENABLE_GPU_SUPPORT": "0",
            "ENABLE_GPUSTAT": "0",
            "NVIDIA_DETECTED": "0",
        }
        assert GpuAssignment().sharing is EXCLUSIVE
        assert not GpuAssignment().has_gpus

    def test_the_environment_reads_back_as_the_gpus_it_names(self):
        given_two = GpuAssignment(
            enabled=True, detected=True, devices=("GPU-1", "MIG-7"), sharing=EXCLUSIVE
        )
        assert gpus_from_environment(given_two.environment) == ContainerGpus(
            devices=("GPU-1", "MIG-7"), sharing=EXCLUSIVE
        )
        none = GpuAssignment(enabled=True, detected=True)
        assert gpus_from_environment(none.environment) == ContainerGpus()

    def test_only_uuids_are_read_back(self):
        environment = {CUDA_VISIBLE_DEVICES: " GPU-a , 0,1,,gpu-b, MIG-c", "OTHER": "GPU-z"}
        assert gpus_from_environment(environment).devices == ("GPU-a", "MIG-c")
        assert gpus_from_environment({}) == ContainerGpus()

    @pytest.mark.parametrize(
        ("text", "sharing"),
        [
            ("exclusive", EXCLUSIVE),
            (" Shared ", SHARED),
            ("SHARED", SHARED),
            ("", None),
            ("both", None),
        ],
    )
    def test_the_sharing_recorded(self, text, sharing):
        assert sharing_from_environment({GPU_SHARING_VARIABLE: text}) is sharing
        assert sharing_from_environment({}) is None


def test_readings_by_device():
    first = GpuReading("GPU-0", 1024, 50)
    again = GpuReading("GPU-0", 2048, None)
    other = GpuReading("GPU-1", None, 7)
    result = GpuUseResult((first, other, again))
    assert result.by_device() == {"GPU-0": again, "GPU-1": other}
    assert result.reason == ""
    assert GpuUseResult.none("no driver") == GpuUseResult((), "no driver")
    assert GpuUseResult().by_device() == {}


def test_what_the_allocator_refuses_names_its_field_and_an_empty_holding_its_server():
    """Beside tests/unit/test_gpu_allocation.py: the fields a refusal names, and the server of
    a holding of no GPU."""
    from stellars.domain.errors import InvalidValue
    from stellars.domain.gpu_allocation import allocate, holdings_by_server

    with pytest.raises(InvalidValue) as refused:
        allocate(FOUR, {}, ANN, -1, EXCLUSIVE)
    assert refused.value.field == "gpus"
    assert allocate(FOUR, {}, ANN, 0, SHARED) == Holding(ANN, (), SHARED)
    one = Holding(ANN, ("GPU-0",), SHARED)
    with pytest.raises(InvalidValue) as twice:
        holdings_by_server([one, one])
    assert (twice.value.field, twice.value.message) == ("holdings", "two holdings for ann")
