"""Benchmark: activity scores for every user, and one sampler tick, at scale.

    .venv/bin/python bench/activity.py [--users 1000] [--days 7] [--postgres-url URL]

Builds USERS x (DAYS of 10-minute samples) in a SQLite file (and, with --postgres-url, in that
PostgreSQL database too: its tables are emptied first), then prints, as medians over several
repetitions:

  (a) all scores the naive way: every sample of the window loaded and weighed in Python,
      (a1) one query per user, as the original platform's get_score did, and
      (a2) one query for all samples, scored per user by the domain's definition;
  (b) all scores through ActivityService.scores() on SqlActivityStore (the tally fast path);
  (c) the ratio (a)/(b);
  (d) one ActivityService.tick() for all users (an in-memory hub directory of USERS users,
      the SQL store): insert USERS samples, prune the USERS that left the window, score all.

Bars (2-core machine, SQLite): all scores <= 20 ms, one tick <= 200 ms. Prints figures only; the
test suite never asserts times.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import delete, insert, select, text

from stellars.adapters.memory import InMemoryHubDirectory, ManualClock
from stellars.adapters.sql import SqlActivityStore, SqlDatabase, create_store_engine
from stellars.adapters.sql.schema import (
    activity_samples,
    activity_tallies,
    stellars_meta,
)
from stellars.domain.activity import (
    ActivityPolicy,
    RecordedSample,
    retention_cutoff,
    score_samples,
)
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.services.activity import ActivityService

POLICY = ActivityPolicy()
NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
BAR_SCORES_MS = 20.0
BAR_TICK_MS = 200.0


def working(user: int, at: datetime) -> bool:
    """Mixed habits: office hours, nights, always, never, and a deterministic coin."""
    habit = user % 5
    hour = at.hour
    if habit == 0:
        return 8 <= hour < 17 and at.weekday() < 5
    if habit == 1:
        return hour >= 20 or hour < 3
    if habit == 2:
        return True
    if habit == 3:
        return False
    return (user * 7919 + int(at.timestamp()) // 600) % 3 == 0


def name_of(user: int) -> str:
    return f"user{user:04d}"


def bulk_load(database: SqlDatabase, users: int, steps: int) -> None:
    """Samples at NOW - k * interval, k < steps, inserted with the indexes dropped and then
    rebuilt in one sort each (instead of a million scattered index inserts)."""
    interval = POLICY.sample_interval
    times = [NOW - interval * k for k in range(steps)]
    with database.writing() as connection:
        connection.execute(delete(activity_samples))
        connection.execute(delete(activity_tallies))
        connection.execute(delete(stellars_meta))
        for index in activity_samples.indexes:
            index.drop(connection)
    chunk: list[dict] = []
    for user in range(users):
        name = name_of(user)
        for taken in times:
            active = working(user, taken)
            chunk.append(
                {
                    "username": name,
                    "timestamp": taken.replace(tzinfo=None),
                    "last_activity": (taken - timedelta(minutes=3 if active else 200)).replace(
                        tzinfo=None
                    ),
                    "active": active,
                }
            )
        if len(chunk) >= 50_000 or user == users - 1:
            with database.writing() as connection:
                connection.execute(insert(activity_samples), chunk)
            chunk = []
    with database.writing() as connection:
        for index in activity_samples.indexes:
            index.create(connection)
        if database.sqlite:
            connection.exec_driver_sql("ANALYZE")
        else:
            connection.exec_driver_sql("ANALYZE activity_samples")


def naive_per_user(database: SqlDatabase, names: list[str]) -> dict[str, int | None]:
    """The original's get_score, once per user: load the window, weigh with exp() in Python."""
    decay = math.log(2) / POLICY.half_life_hours
    cutoff = (NOW - POLICY.retention).replace(tzinfo=None)
    now = NOW.replace(tzinfo=None)
    scores: dict[str, int | None] = {}
    query = select(activity_samples.c.timestamp, activity_samples.c.active).where(
        activity_samples.c.username == text(":name"), activity_samples.c.timestamp >= cutoff
    )
    with database.engine.connect() as connection:
        for name in names:
            rows = connection.execute(query, {"name": name}).all()
            if not rows:
                scores[name] = None
                continue
            total = active = 0.0
            for taken, was_active in rows:
                weight = math.exp(-decay * (now - taken).total_seconds() / 3600)
                total += weight
                active += weight if was_active else 0.0
            scores[name] = int(active / total * 100) if total else 0
    return scores


def naive_one_query(database: SqlDatabase) -> dict[str, int | None]:
    """All window samples in one query, each user scored by the domain's definition."""
    since = (NOW - POLICY.retention).replace(tzinfo=None)
    by_user: dict[str, list[RecordedSample]] = defaultdict(list)
    with database.engine.connect() as connection:
        rows = connection.execute(
            select(
                activity_samples.c.username,
                activity_samples.c.timestamp,
                activity_samples.c.active,
            ).where(activity_samples.c.timestamp > since)
        )
        for name, taken, active in rows:
            by_user[name].append(
                RecordedSample(name, taken.replace(tzinfo=timezone.utc), bool(active))
            )
    return {
        name: score_samples(samples, now=NOW, policy=POLICY).value
        for name, samples in by_user.items()
    }


def crowd(users: int, now: datetime) -> list[HubUser]:
    crowd = []
    for user in range(users):
        name = name_of(user)
        if user % 10 == 3:
            crowd.append(HubUser(name=name))  # no server
            continue
        seen = now - (timedelta(minutes=3) if working(user, now) else timedelta(hours=3))
        server = ServerSnapshot(
            username=name, ready=True, started=NOW - timedelta(days=1), last_activity=seen
        )
        crowd.append(HubUser(name=name, servers={"": server}))
    return crowd


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(function: Callable[[], object], repeat: int) -> tuple[float, object]:
    durations = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        durations.append(time.perf_counter() - started)
    return median_ms(durations), result


async def timed_async(
    function: Callable[[], Awaitable[object]], repeat: int
) -> tuple[float, object]:
    durations = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = await function()
        durations.append(time.perf_counter() - started)
    return median_ms(durations), result


def verdict(value: float, bar: float | None) -> str:
    if bar is None:
        return ""
    return f"  (bar <= {bar:.0f} ms: {'met' if value <= bar else 'MISSED'})"


async def run(url: str, label: str, users: int, days: int, repeat: int) -> None:
    steps = days * POLICY.samples_per_day
    database = SqlDatabase(create_store_engine(url))
    sqlite = database.sqlite
    try:
        database.ensure_schema()
        print(f"\n== {label}: {users} users x {steps} samples = {users * steps:,} samples")
        started = time.perf_counter()
        bulk_load(database, users, steps)
        loaded = time.perf_counter() - started
        store = SqlActivityStore(database, half_life=POLICY.half_life)
        started = time.perf_counter()
        tallied = await store.rebuild_tallies()
        rebuilt = time.perf_counter() - started
        print(f"bulk load: samples {loaded:.1f} s, tallies of {tallied} users {rebuilt:.1f} s")

        names = [name_of(user) for user in range(users)]
        naive1_ms, naive1 = timed(lambda: naive_per_user(database, names), max(1, repeat // 4))
        naive2_ms, naive2 = timed(lambda: naive_one_query(database), max(1, repeat // 4))

        clock = ManualClock(NOW)
        directory = InMemoryHubDirectory(crowd(users, NOW))
        service = ActivityService(store=store, directory=directory, clock=clock, policy=POLICY)
        fast_ms, fast = await timed_async(service.scores, repeat * 4)
        fast_values = {name: score.value for name, score in fast.items()}
        definition_equal = fast_values == naive2
        original_off = sum(1 for name in names if naive1.get(name) != fast_values.get(name))

        print(f"(a1) naive, one query per user (the original)      {naive1_ms:9.1f} ms")
        print(f"(a2) naive, one query, scored by the definition    {naive2_ms:9.1f} ms")
        print(
            f"(b)  ActivityService.scores(), tally fast path     {fast_ms:9.2f} ms"
            + verdict(fast_ms, BAR_SCORES_MS if sqlite else None)
        )
        print(
            f"(c)  ratio naive / fast: (a1) {naive1_ms / fast_ms:,.0f}x, "
            f"(a2) {naive2_ms / fast_ms:,.0f}x"
        )
        print(
            f"     fast path == definition for all {len(fast_values)} users: "
            f"{'yes' if definition_equal else 'NO'}; the original's exp()/int() differs for "
            f"{original_off}"
        )

        tick_durations = []
        pruned = []
        for _ in range(repeat):
            clock.advance(POLICY.sample_interval)
            for user in crowd(users, clock.now()):
                directory.put(user)
            started = time.perf_counter()
            summary = await service.tick()
            tick_durations.append(time.perf_counter() - started)
            pruned.append(summary.pruned)
        tick_ms = median_ms(tick_durations)
        print(
            f"(d)  one tick for {users} users (add + prune + scores) {tick_ms:7.1f} ms"
            + verdict(tick_ms, BAR_TICK_MS if sqlite else None)
            + f"  [pruned per tick: {sorted(set(pruned))}]"
        )
        window = await store.tallies(since=retention_cutoff(clock.now(), POLICY), until=clock.now())
        assert all(t.count == steps for t in window.values()), "window should hold 7 days"
    finally:
        database.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--days", type=int, default=POLICY.retention_days)
    parser.add_argument("--repeat", type=int, default=9, help="repetitions for the medians")
    parser.add_argument("--postgres-url", help="also run on this (emptied!) PostgreSQL database")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stellars-bench-") as directory:
        url = f"sqlite:///{Path(directory) / 'bench.sqlite'}"
        asyncio.run(run(url, "SQLite (WAL file)", args.users, args.days, args.repeat))
    if args.postgres_url:
        asyncio.run(run(args.postgres_url, "PostgreSQL", args.users, args.days, args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
