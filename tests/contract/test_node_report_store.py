"""Contract of the NodeReportStore port: the fake, SQLite and PostgreSQL keep one report per
(node, slot) exactly, refuse a second one for a slot, give each node's newest, list a node's
slots and prune old ones keeping each node's newest."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from stellars.adapters.memory.node_reports import InMemoryNodeReportStore
from stellars.adapters.sql.node_reports import SqlNodeReportStore
from stellars.domain.containers import ContainerReading, ContainerUsage
from stellars.domain.errors import InvalidValue
from stellars.domain.node_reports import LabReport, NodeReport
from stellars.domain.volumes import VolumeInfo
from tests.contract.sql import SQL_KINDS, sql_database
from tests.strategies import EPOCH

INTERVAL = timedelta(seconds=60)
SLOT = EPOCH + timedelta(days=3)
USAGE = ContainerUsage(cpu_percent=12.5, memory_bytes=3 * 2**20, memory_limit_bytes=2**33)
READING = ContainerReading(
    cpu_total_ns=2**62,  # counters past 32 bits
    system_cpu_ns=2**63 - 1,
    online_cpus=64,
    memory_usage_bytes=5 * 2**30,
    memory_limit_bytes=2**40,
    memory_inactive_file_bytes=7,
)


@pytest.fixture(params=["memory", *SQL_KINDS])
def store(request, tmp_path):
    """A fresh, empty store, one per implementation."""
    if request.param == "memory":
        yield InMemoryNodeReportStore()
        return
    with sql_database(request, request.param, tmp_path) as database:
        yield SqlNodeReportStore(database)


def report(node: str = "node-a", slot: datetime = SLOT, **fields: object) -> NodeReport:
    values: dict[str, object] = {"taken_at": slot + timedelta(seconds=1, microseconds=5)}
    values.update(fields)
    return NodeReport(node=node, slot=slot, **values)  # type: ignore[arg-type]


def slot(n: int) -> datetime:
    return SLOT + n * INTERVAL


async def test_an_empty_store_has_no_reports(store):
    assert await store.latest() == []
    assert await store.slots("node-a", EPOCH) == []
    assert await store.prune(SLOT + timedelta(days=1)) == 0


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"labs": (LabReport("jupyter-alice", USAGE),)},  # no raw reading
        {"labs": (LabReport("jupyter-alice", USAGE, READING),)},
        {
            "labs": (
                LabReport(
                    "jupyter-b",
                    ContainerUsage(cpu_percent=0.0, memory_bytes=0, memory_limit_bytes=0),
                ),
                LabReport("jupyter-a-gpu", USAGE, READING),
                LabReport(
                    "jupyter-é",
                    ContainerUsage(cpu_percent=1234.1, memory_bytes=2**50, memory_limit_bytes=1),
                ),
            )
        },
        {"volumes": (VolumeInfo("jupyterhub-user-alice"),)},  # size None, nothing known
        {
            "volumes": (
                VolumeInfo(
                    "jupyterhub-user-bob",
                    size_bytes=2**45,
                    created_at=EPOCH + timedelta(microseconds=123_456),
                    owner="bob",
                ),
                VolumeInfo("b", size_bytes=0, created_at=None, owner="ré"),
                VolumeInfo(
                    "c",
                    size_bytes=None,
                    created_at=datetime(2025, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
                ),
            )
        },
        {
            "labs": (LabReport("jupyter-alice", USAGE, READING),),
            "volumes": (VolumeInfo("v", size_bytes=1, owner="alice"),),
            "taken_at": SLOT + INTERVAL - timedelta(microseconds=1),
        },
    ],
)
async def test_a_report_round_trips_exactly(store, fields):
    assert await store.record(report(**fields)) is True
    assert await store.latest() == [report(**fields)]


async def test_a_second_report_for_a_slot_is_not_stored(store):
    first = report(labs=(LabReport("jupyter-alice", USAGE),))
    assert await store.record(first) is True
    second = report(taken_at=SLOT + timedelta(seconds=30), labs=())
    assert await store.record(second) is False
    assert await store.latest() == [first]
    assert await store.slots("node-a", EPOCH) == [SLOT]


async def test_concurrent_writers_of_one_slot_store_it_once(store):
    stored = await asyncio.gather(
        *(store.record(report(taken_at=SLOT + timedelta(seconds=n))) for n in range(6))
    )
    assert sorted(stored) == [False] * 5 + [True]
    assert await store.slots("node-a", EPOCH) == [SLOT]


async def test_the_same_slot_of_two_nodes_is_two_reports(store):
    assert await store.record(report("node-a")) is True
    assert await store.record(report("node-b")) is True
    assert await store.latest() == [report("node-a"), report("node-b")]


async def test_latest_is_the_newest_slot_of_each_node_by_name(store):
    # Recorded out of order: the newest slot wins, not the last one written.
    for node, n in [("node-b", 2), ("node-b", 5), ("node-a", 1), ("node-b", 3), ("node-c", 0)]:
        await store.record(report(node, slot(n), labs=(LabReport(f"{node}-{n}", USAGE),)))
    assert await store.latest() == [
        report("node-a", slot(1), labs=(LabReport("node-a-1", USAGE),)),
        report("node-b", slot(5), labs=(LabReport("node-b-5", USAGE),)),
        report("node-c", slot(0), labs=(LabReport("node-c-0", USAGE),)),
    ]


async def test_latest_uses_the_slot_not_the_time_taken(store):
    await store.record(report(slot=slot(1), taken_at=slot(1)))
    await store.record(report(slot=slot(0), taken_at=slot(9)))  # a slow, late report
    assert [found.slot for found in await store.latest()] == [slot(1)]


async def test_slots_are_one_nodes_at_or_after_since_oldest_first(store):
    for n in (4, 0, 2, 3):
        await store.record(report("node-a", slot(n)))
    await store.record(report("node-b", slot(1)))
    assert await store.slots("node-a", slot(2)) == [slot(2), slot(3), slot(4)]
    assert await store.slots("node-a", slot(2) - timedelta(microseconds=1)) == [
        slot(2), slot(3), slot(4)
    ]  # fmt: skip
    assert await store.slots("node-a", slot(2) + timedelta(microseconds=1)) == [slot(3), slot(4)]
    assert await store.slots("node-a", EPOCH) == [slot(0), slot(2), slot(3), slot(4)]
    assert await store.slots("node-b", EPOCH) == [slot(1)]
    assert await store.slots("node-c", EPOCH) == []
    assert await store.slots("node-a", slot(5)) == []


async def test_prune_removes_slots_before_the_cutoff_keeping_each_nodes_newest(store):
    for n in range(5):
        await store.record(report("node-a", slot(n)))
    await store.record(report("node-b", slot(0)))  # old, but node-b's newest
    await store.record(report("node-c", slot(1)))
    await store.record(report("node-c", slot(3)))
    removed = await store.prune(slot(3))
    # node-a: 0, 1, 2; node-c: 1; node-b's only report stays.
    assert removed == 4
    assert await store.slots("node-a", EPOCH) == [slot(3), slot(4)]
    assert await store.slots("node-b", EPOCH) == [slot(0)]
    assert await store.slots("node-c", EPOCH) == [slot(3)]
    assert await store.prune(slot(3)) == 0


async def test_prune_after_every_slot_keeps_only_each_nodes_newest(store):
    for n in range(3):
        await store.record(report("node-a", slot(n)))
        await store.record(report("node-b", slot(n + 1)))
    assert await store.prune(slot(100)) == 4
    assert [(found.node, found.slot) for found in await store.latest()] == [
        ("node-a", slot(2)),
        ("node-b", slot(3)),
    ]
    assert await store.slots("node-a", EPOCH) == [slot(2)]


async def test_a_pruned_slot_can_be_reported_again(store):
    await store.record(report(slot=slot(0)))
    await store.record(report(slot=slot(1)))
    assert await store.prune(slot(1)) == 1
    assert await store.record(report(slot=slot(0))) is True


@pytest.mark.parametrize("field", ["slot", "taken_at"])
async def test_a_naive_time_is_refused(store, field):
    naive = {"slot": SLOT, "taken_at": SLOT, field: SLOT.replace(tzinfo=None)}
    with pytest.raises(InvalidValue) as raised:
        await store.record(NodeReport(node="node-a", **naive))  # type: ignore[arg-type]
    assert raised.value.field == field
    assert await store.latest() == []


async def test_a_naive_since_or_cutoff_is_refused(store):
    with pytest.raises(InvalidValue):
        await store.slots("node-a", SLOT.replace(tzinfo=None))
    with pytest.raises(InvalidValue):
        await store.prune(SLOT.replace(tzinfo=None))
