"""GPUs given out one by one: each rule of `stellars.domain.gpu_allocation` by example, and as a
property over random starts and stops (an exclusive GPU is never given twice)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.errors import InvalidValue, Refused
from stellars.domain.gpu import Gpu
from stellars.domain.gpu_allocation import (
    Holding,
    allocate,
    check_holdings,
    gpu_label,
    gpu_use,
    holdings_by_server,
)
from stellars.domain.policies import GpuSharing

EXCLUSIVE, SHARED = GpuSharing.EXCLUSIVE, GpuSharing.SHARED
FOUR = tuple(Gpu(index=i, name="A100", memory_mib=40_960, uuid=f"GPU-{i}") for i in range(4))


def held(*holdings: Holding) -> dict[tuple[str, str], Holding]:
    return {holding.server: holding for holding in holdings}


class TestExclusive:
    def test_the_lowest_free_indices_first(self):
        got = allocate(FOUR, {}, ("ann", ""), 2, EXCLUSIVE)
        assert got == Holding(("ann", ""), ("GPU-0", "GPU-1"), EXCLUSIVE)

    def test_never_a_gpu_someone_holds_however_held(self):
        holdings = held(
            Holding(("bob", ""), ("GPU-0",), EXCLUSIVE), Holding(("cy", ""), ("GPU-2",), SHARED)
        )
        got = allocate(FOUR, holdings, ("ann", ""), 2, EXCLUSIVE)
        assert got.devices == ("GPU-1", "GPU-3")

    def test_refused_naming_who_holds_each_gpu(self):
        holdings = held(
            Holding(("bob", ""), ("GPU-0", "GPU-1"), EXCLUSIVE),
            Holding(("cy", "gpu"), ("GPU-2",), SHARED),
            Holding(("dee", ""), ("GPU-2",), SHARED),
        )
        with pytest.raises(Refused) as refused:
            allocate(FOUR, holdings, ("ann", ""), 2, EXCLUSIVE)
        assert refused.value.reason == (
            "No 2 GPU(s) free for ann (exclusive): GPU 0 (A100): held exclusively by bob; "
            "GPU 1 (A100): held exclusively by bob; GPU 2 (A100): held shared by cy/gpu, dee; "
            "GPU 3 (A100): free. Ask a holder to stop their server, or an admin."
        )


class TestShared:
    def test_spread_by_load_then_index_and_never_on_an_exclusive_gpu(self):
        holdings = held(
            Holding(("bob", ""), ("GPU-0",), EXCLUSIVE),
            Holding(("cy", ""), ("GPU-1",), SHARED),
            Holding(("dee", ""), ("GPU-1", "GPU-2"), SHARED),
        )
        got = allocate(FOUR, holdings, ("ann", ""), 2, SHARED)
        assert got.devices == ("GPU-3", "GPU-2")  # 0 holders, then 1 (GPU 1 has 2)

    def test_refused_when_every_gpu_is_held_exclusively(self):
        holdings = held(Holding(("bob", ""), tuple(d.uuid for d in FOUR), EXCLUSIVE))
        with pytest.raises(Refused):
            allocate(FOUR, holdings, ("ann", ""), 1, SHARED)

    def test_shared_gpus_take_any_number_of_servers(self):
        holdings: dict[tuple[str, str], Holding] = {}
        for n in range(10):
            got = allocate(FOUR[:1], holdings, (f"u{n}", ""), 1, SHARED)
            holdings[got.server] = got
        assert len(gpu_use(FOUR[:1], holdings)[0].holders) == 10


class TestAServerThatHoldsAlready:
    def test_keeps_its_gpus_when_it_asks_for_the_same(self):
        mine = Holding(("ann", ""), ("GPU-3",), EXCLUSIVE)
        assert allocate(FOUR, held(mine), ("ann", ""), 1, EXCLUSIVE) is mine

    def test_asking_for_more_or_another_sharing_reallocates_without_counting_its_own(self):
        mine = Holding(("ann", ""), ("GPU-0",), EXCLUSIVE)
        assert allocate(FOUR, held(mine), ("ann", ""), 2, EXCLUSIVE).devices == ("GPU-0", "GPU-1")
        assert allocate(FOUR, held(mine), ("ann", ""), 1, SHARED).devices == ("GPU-0",)


def test_no_gpu_asked_is_an_empty_holding_and_a_bad_count_is_refused():
    assert allocate(FOUR, {}, ("ann", ""), 0, EXCLUSIVE).devices == ()
    with pytest.raises(InvalidValue):
        allocate(FOUR, {}, ("ann", ""), -1, EXCLUSIVE)
    with pytest.raises(Refused) as refused:
        allocate(FOUR, {}, ("ann", ""), 5, SHARED)
    assert refused.value.reason == "ann asks for 5 GPU(s) but this host has 4."


def test_read_back_holdings_that_the_allocator_would_never_make_are_named():
    holdings = held(
        Holding(("a", ""), ("GPU-0",), EXCLUSIVE),
        Holding(("b", ""), ("GPU-0",), SHARED),
        Holding(("c", ""), ("GPU-9",), SHARED),
    )
    assert check_holdings(FOUR, holdings) == (
        "GPU-0 is held exclusively but by a, b",
        "GPU-9 is held but not on this host",
    )
    assert check_holdings(FOUR, {}) == ()


def test_the_use_of_every_gpu_for_the_activity_page():
    holdings = held(
        Holding(("bob", ""), ("GPU-1",), EXCLUSIVE),
        Holding(("cy", ""), ("GPU-2",), SHARED),
        Holding(("ann", ""), ("GPU-2",), SHARED),
    )
    use = gpu_use(FOUR[::-1], holdings)
    assert [(u.device.index, u.holders, u.sharing) for u in use] == [
        (0, (), None),
        (1, (("bob", ""),), EXCLUSIVE),
        (2, (("ann", ""), ("cy", "")), SHARED),
        (3, (), None),
    ]
    assert gpu_label(FOUR[0]) == "GPU 0 (A100)"
    assert gpu_label(Gpu(index=7, name="", memory_mib=0, uuid="x")) == "GPU 7"


def test_holdings_are_one_per_server():
    one = Holding(("ann", ""), ("GPU-0",), SHARED)
    assert holdings_by_server([one]) == {("ann", ""): one}
    with pytest.raises(InvalidValue):
        holdings_by_server([one, one])


events = st.lists(
    st.tuples(
        st.sampled_from(["start", "stop"]),
        st.integers(0, 7),
        st.integers(0, 3),
        st.sampled_from([EXCLUSIVE, SHARED]),
    ),
    max_size=60,
)


@given(events)
def test_over_any_starts_and_stops_no_gpu_is_ever_given_twice_exclusively(sequence):
    holdings: dict[tuple[str, str], Holding] = {}
    for action, user, count, sharing in sequence:
        server = (f"u{user}", "")
        if action == "stop":
            holdings.pop(server, None)
            continue
        try:
            holding = allocate(FOUR, holdings, server, count, sharing)
        except Refused:
            continue
        assert len(holding.devices) == count == len(set(holding.devices))
        holdings[server] = holding
        assert check_holdings(FOUR, holdings) == ()
