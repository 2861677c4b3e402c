"""Benchmark: pages of the audit feed at 1,000,000 entries in PostgreSQL.

    .venv/bin/python bench/audit.py [--entries 1000000] [--users 1000] [--repeat 200]
        [--postgres-url URL]

Builds ENTRIES entries (a year of them, ids in time order, as the feed records them) in a
PostgreSQL database through the schema's migrations: a fresh cluster of the test tooling, or
the (emptied!) database at --postgres-url. Actors are mostly a few admins, targets the USERS
users, actions and outcomes spread over the whole enumeration. Then times, through
SqlAuditLog.page and as REPEAT pages each (a different user, action or range each time; the
kinds taken in turn, one page each, so that the machine's other work weighs on all alike):

  baseline   the unfiltered first page (50 entries)
  user       a user's entries (as actor or target), first page
  action     one action's entries, first page
  range      a 30-day range a random time back, first page
  user+range a user's entries within 90 days a random time back
  action+range
  deep       a user's entries, the page after a cursor half-way down their history

and prints the median and p99 of each in ms with their ratios to the baseline's. Bar: a filtered
page's p99 <= 100 ms. Prints figures only; the test suite never asserts times. Measure on an
idle machine: the load average is printed next to the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.backends.postgres import PostgresCluster

from stellars.adapters.sql import SqlAuditLog, SqlDatabase, create_store_engine
from stellars.domain.audit import AuditAction, AuditCursor, AuditOutcome, AuditQuery

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
SPAN = timedelta(days=365)
BAR_MS = 100.0
ADMINS = [f"admin{n}" for n in range(5)]
ACTIONS = list(AuditAction)
OUTCOMES = [AuditOutcome.OK] * 8 + [AuditOutcome.REFUSED, AuditOutcome.FAILED]
_COPY_BATCH = 50_000


def load_average() -> str:
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


def user_name(n: int) -> str:
    return f"user{n:05d}"


def build(database: SqlDatabase, entries: int, users: int) -> float:
    """The schema, then ENTRIES rows by COPY, oldest first; returns the seconds it took."""
    database.ensure_schema()
    started = time.perf_counter()
    chance = random.Random(7)
    step = SPAN / entries
    start = (NOW - SPAN).replace(tzinfo=None)
    with database.engine.begin() as connection:
        connection.execute(text("TRUNCATE audit_entries RESTART IDENTITY"))
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        columns = "at, actor, action, target, subject, address, outcome, detail, details"
        with cursor.copy(f"COPY audit_entries ({columns}) FROM STDIN") as copy:
            for n in range(entries):
                user = user_name(chance.randrange(users))
                actor = chance.choice(ADMINS) if chance.random() < 0.8 else user
                outcome = chance.choice(OUTCOMES)
                copy.write_row(
                    (
                        start + step * n,
                        actor,
                        chance.choice(ACTIONS).value,
                        user,
                        "",
                        f"10.0.{chance.randrange(256)}.{chance.randrange(256)}",
                        outcome.value,
                        "" if outcome is AuditOutcome.OK else "refused: a reason",
                        '{"total": 3}' if n % 50 == 0 else "{}",
                    )
                )
        connection.execute(text("ANALYZE audit_entries"))
    return time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def measure(url: str, entries: int, users: int, repeat: int) -> None:
    database = SqlDatabase(create_store_engine(url))
    try:
        seconds = build(database, entries, users)
        print(f"built {entries:,} entries for {users:,} users in {seconds:.1f} s")
        log = SqlAuditLog(database)
        chance = random.Random(11)

        def back(days_at_least: int) -> datetime:
            return NOW - timedelta(days=chance.uniform(days_at_least, 365))

        def some_user() -> str:
            return user_name(chance.randrange(users))

        async def deep_query() -> AuditQuery:
            user = some_user()
            middle = await log.page(AuditQuery(user=user, limit=500))
            halfway = middle.entries[len(middle.entries) // 2] if middle.entries else None
            cursor = AuditCursor.of(halfway) if halfway is not None else None
            return AuditQuery(user=user, before=cursor)

        kinds: dict[str, Callable[[], AuditQuery]] = {
            "baseline": lambda: AuditQuery(),
            "user": lambda: AuditQuery(user=some_user()),
            "action": lambda: AuditQuery(action=chance.choice(ACTIONS)),
            "range": lambda: _range(AuditQuery, back(30), 30),
            "user+range": lambda: _range(AuditQuery, back(90), 90, user=some_user()),
            "action+range": lambda: _range(AuditQuery, back(30), 30, action=chance.choice(ACTIONS)),
        }
        queries = {name: [make() for _ in range(repeat)] for name, make in kinds.items()}
        queries["deep"] = [await deep_query() for _ in range(repeat)]
        await log.page(AuditQuery())  # warm the pool and the cache
        # Round-robin over the kinds, one page each, so that what else runs on the machine
        # meanwhile weighs on every kind alike and the baseline stays comparable.
        times: dict[str, list[float]] = {name: [] for name in queries}
        rows: dict[str, int] = dict.fromkeys(queries, 0)
        for n in range(repeat):
            for name, made in queries.items():
                started = time.perf_counter()
                page = await log.page(made[n])
                times[name].append((time.perf_counter() - started) * 1000)
                rows[name] += len(page.entries)
        print(f"{load_average()}; {repeat} pages each, ms")
        print(f"{'query':<14}{'median':>9}{'p99':>9}{'x base':>8}{'p99 x base':>11}{'rows':>7}")
        base_median = statistics.median(times["baseline"])
        base_p99 = percentile(times["baseline"], 0.99)
        worst_filtered = 0.0
        for name, taken in times.items():
            median, p99 = statistics.median(taken), percentile(taken, 0.99)
            if name != "baseline":
                worst_filtered = max(worst_filtered, p99)
            print(
                f"{name:<14}{median:>9.2f}{p99:>9.2f}{median / base_median:>8.1f}"
                f"{p99 / base_p99:>11.1f}{rows[name] / repeat:>7.1f}"
            )
        verdict = "within" if worst_filtered <= BAR_MS else "OVER"
        print(f"worst filtered p99 {worst_filtered:.2f} ms: {verdict} the {BAR_MS:.0f} ms bar")
    finally:
        database.close()


def _range(
    make: Callable[..., AuditQuery], since: datetime, days: int, **filters: object
) -> AuditQuery:
    return make(since=since, until=since + timedelta(days=days), **filters)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--postgres-url", help="run on this (emptied!) PostgreSQL database")
    args = parser.parse_args()
    if args.postgres_url:
        asyncio.run(measure(args.postgres_url, args.entries, args.users, args.repeat))
        return
    with PostgresCluster() as cluster:
        asyncio.run(measure(cluster.url, args.entries, args.users, args.repeat))


if __name__ == "__main__":
    main()
