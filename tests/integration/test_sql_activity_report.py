"""ActivityService.report() over the SQL store: two days of ticks for a crowd of users with
different habits give the same dashboard rows and tick summaries as over the in-memory fake."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from stellars.adapters.memory import InMemoryActivityStore, InMemoryHubDirectory, ManualClock
from stellars.adapters.sql import SqlActivityStore, SqlDatabase, create_store_engine
from stellars.domain.activity import ActivityLevel, ActivityPolicy, score_samples
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.services.activity import ActivityService

# A one-day window so that two days of ticks also exercise the pruning of every tick.
POLICY = ActivityPolicy(retention_days=1, half_life_hours=6, inactive_after_minutes=30)
START = datetime(2026, 6, 1, tzinfo=timezone.utc)
USERS = 40


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.real)])
def sql_store(request, tmp_path) -> Iterator[SqlActivityStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'report.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    database = SqlDatabase(create_store_engine(url))
    try:
        yield SqlActivityStore(database, half_life=POLICY.half_life)
    finally:
        database.close()


def crowd_at(now: datetime, rng: random.Random) -> list[HubUser]:
    """Users working office hours, nights, always, never, or at random; some servers stopped."""
    users = []
    for index in range(USERS):
        name = f"user{index:02d}"
        habit = index % 5
        hour = now.hour
        working = {
            0: 8 <= hour < 17,
            1: hour >= 20 or hour < 4,
            2: True,
            3: False,
            4: rng.random() < 0.5,
        }[habit]
        if habit == 3 and index % 2:
            users.append(HubUser(name=name))  # never started a server
            continue
        seen = now - (timedelta(minutes=rng.randint(0, 20)) if working else timedelta(hours=2))
        server = ServerSnapshot(
            username=name, ready=True, started=START, last_activity=seen, url=f"/user/{name}/"
        )
        users.append(HubUser(name=name, servers={"": server}))
    return users


async def test_two_days_of_ticks_report_the_same_over_sql_as_over_the_fake(sql_store):
    clock = ManualClock(START)
    directory = InMemoryHubDirectory()
    fake_store = InMemoryActivityStore(half_life=POLICY.half_life)
    over_sql = ActivityService(store=sql_store, directory=directory, clock=clock, policy=POLICY)
    over_fake = ActivityService(store=fake_store, directory=directory, clock=clock, policy=POLICY)
    rng = random.Random(3)
    for _ in range(2 * POLICY.samples_per_day):
        clock.advance(POLICY.sample_interval)
        for user in crowd_at(clock.now(), rng):
            directory.put(user)
        assert await over_sql.tick() == await over_fake.tick()
    # Between ticks too: the window moved on, the oldest samples are not pruned yet.
    clock.advance(POLICY.sample_interval / 2)
    rows = await over_sql.report()
    assert rows == await over_fake.report()

    assert [row.username for row in rows] == sorted(f"user{i:02d}" for i in range(USERS))
    by_name = {row.username: row for row in rows}
    assert by_name["user02"].level is ActivityLevel.VERY_HIGH  # always working
    assert by_name["user03"].score == 0  # server up, never used
    assert by_name["user08"].level is ActivityLevel.NONE
    assert all(row.enough_data for row in rows)
    for row in rows:
        samples = await sql_store.samples(
            row.username, since=clock.now() - POLICY.retention, until=clock.now()
        )
        expected = score_samples(samples, now=clock.now(), policy=POLICY)
        assert (row.score, row.sample_count) == (expected.value, expected.sample_count)
    summary = await sql_store.summary()
    assert summary.users == USERS
