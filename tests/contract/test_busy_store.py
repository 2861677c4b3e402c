"""Contract of the BusyStore port: the fake, SQLite and PostgreSQL keep each server's busy record
exactly (every field, with and without a window, counters past 32 bits), replace it, list every
record in order, write a batch all or nothing, and prune by the latest reading's time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stellars.adapters.memory import InMemoryBusyStore
from stellars.adapters.sql import SqlBusyStore
from stellars.domain.busy import BusyRecord, BusyWindow, LoadReading
from stellars.domain.errors import InvalidValue
from tests.contract.sql import SQL_KINDS, sql_database
from tests.strategies import EPOCH

AT = EPOCH + timedelta(days=3, microseconds=123_456)
STARTED = AT - timedelta(hours=2, microseconds=7)


@pytest.fixture(params=["memory", *SQL_KINDS])
def store(request, tmp_path):
    """A fresh, empty store, one per implementation."""
    if request.param == "memory":
        yield InMemoryBusyStore()
        return
    with sql_database(request, request.param, tmp_path) as database:
        yield SqlBusyStore(database)


def record(user: str = "alice", server: str = "", *, at=AT, **fields: object) -> BusyRecord:
    values: dict[str, object] = {
        "started": STARTED,
        "reading": LoadReading(
            taken_at=at,
            cpu_total_ns=3 * 2**40,
            system_cpu_ns=2**62,  # a year of 64 CPUs, well past 32 bits
            online_cpus=64,
            gpu_percent=None,
        ),
        "window": None,
        "busy_until": None,
        **fields,
    }
    return BusyRecord(username=user, server_name=server, **values)  # type: ignore[arg-type]


WINDOW = BusyWindow(
    start=AT - timedelta(seconds=600, microseconds=1),
    end=AT,
    cpu_percent=97.123456789,
    gpu_percent=None,
    busy=True,
)


async def test_an_unknown_server_has_no_record(store):
    assert await store.get("alice") is None
    assert await store.get("alice", "gpu") is None
    assert await store.all() == []


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"started": None},
        {"window": WINDOW, "busy_until": AT},
        {
            "window": BusyWindow(start=STARTED, end=AT, cpu_percent=0.0, gpu_percent=0, busy=False),
            "busy_until": STARTED + timedelta(minutes=3),
        },
        {"window": BusyWindow(start=STARTED, end=AT, cpu_percent=1.5, gpu_percent=100, busy=True)},
    ],
)
async def test_a_record_round_trips_exactly(store, fields):
    kept = record(**fields)
    await store.put([kept])
    assert await store.get("alice") == kept
    assert await store.all() == [kept]


async def test_a_gpu_reading_round_trips(store):
    kept = record(
        reading=LoadReading(
            taken_at=AT, cpu_total_ns=0, system_cpu_ns=1, online_cpus=1, gpu_percent=0
        )
    )
    await store.put([kept])
    assert await store.get("alice") == kept


async def test_a_record_replaces_the_one_before_of_the_same_server_only(store):
    await store.put([record(), record(server="gpu"), record("bob")])
    newer = record(at=AT + timedelta(minutes=10), window=WINDOW, busy_until=AT)
    await store.put([newer])
    assert await store.get("alice") == newer
    assert await store.get("alice", "gpu") == record(server="gpu")
    assert await store.get("bob") == record("bob")
    assert await store.all() == [newer, record(server="gpu"), record("bob")]


async def test_all_is_sorted_by_user_then_server(store):
    await store.put([record("carol"), record("alice", "b"), record("alice", "a"), record("bob")])
    assert [(r.username, r.server_name) for r in await store.all()] == [
        ("alice", "a"),
        ("alice", "b"),
        ("bob", ""),
        ("carol", ""),
    ]


async def test_putting_nothing_changes_nothing(store):
    await store.put([record()])
    await store.put([])
    assert await store.all() == [record()]


async def test_a_batch_with_a_naive_time_is_refused_whole(store):
    naive = record("bob", at=AT.replace(tzinfo=None))
    with pytest.raises(InvalidValue):
        await store.put([record(), naive])
    assert await store.all() == []


async def test_prune_forgets_records_read_at_or_before_the_cutoff(store):
    await store.put(
        [
            record("old", at=AT - timedelta(seconds=1)),
            record("edge", at=AT),
            record("new", at=AT + timedelta(microseconds=1)),
        ]
    )
    assert await store.prune(older_than=AT) == 2
    assert [r.username for r in await store.all()] == ["new"]
    assert await store.prune(older_than=AT) == 0
