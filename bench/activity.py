"""Benchmark: activity scores for every user, and one sampler tick, at scale.

    .venv/bin/python bench/activity.py [--users 10000] [--compare 1000] [--days 7] [--repeat 9]
        [--check-users 500] [--cache-dir /tmp] [--postgres-url URL]

For USERS (and then, as a comparison, for COMPARE users) builds USERS x (DAYS of 10-minute
samples) in a SQLite file (WAL), in the order the sampler writes them (one tick after another),
with their tallies. The built file is cached in CACHE_DIR under a name made of its parameters,
so reruns only copy it; each run works on a copy. With --postgres-url the same is done in that
PostgreSQL database too (its tables are emptied first; never cached). Then prints, as medians
over several repetitions:

  (a) all scores the naive way: every sample of the window loaded in one query and weighed in
      Python, (a1) with the original platform's exp() and int(), (a2) by the domain's
      definition; above CHECK_USERS users, for that many users only;
  (b) all scores through ActivityService.scores() on SqlActivityStore (the tally fast path),
      with the tally rows known to the store (no change since it read them) and (b') read,
      checked equal to (a2) for the users (a2) scored, before and after the ticks;
  (c) the ratio (a)/(b);
  (d) one ActivityService.tick() for all users (an in-memory hub directory of USERS users,
      the SQL store): insert USERS samples, prune the USERS that left the window, score all;
      with the time its store calls took (add, prune, tallies).

Bars (2-core machine, SQLite): at 10,000 users all scores <= 50 ms and one tick <= 1 s; at
1,000 users <= 20 ms and <= 200 ms. Prints figures only; the test suite never asserts times.
Measure on an idle machine: the load average is printed next to the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select

from stellars.adapters.memory import InMemoryHubDirectory, ManualClock
from stellars.adapters.sql import SqlActivityStore, SqlDatabase, create_store_engine
from stellars.adapters.sql.migrations import head_revision
from stellars.adapters.sql.schema import activity_samples
from stellars.domain.activity import (
    ActivityPolicy,
    DecayedTally,
    RecordedSample,
    retention_cutoff,
    score_samples,
)
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.services.activity import ActivityService

POLICY = ActivityPolicy()
NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
#: users -> (all scores, one tick) in ms, on SQLite.
BARS = {1_000: (20.0, 200.0), 10_000: (50.0, 1000.0)}
#: Part of the cached file's name: change it when the built content changes.
BUILD_FORMAT = 5
_BUILD_SAMPLES = 100_000


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
    return f"user{user:05d}"


def load_average() -> str:
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


# --- building the data -----------------------------------------------------------------------


def history(users: int, steps: int) -> Iterator[RecordedSample]:
    """`steps` ticks of one sample per user, oldest tick first, as the sampler takes them."""
    names = [name_of(user) for user in range(users)]
    for step in reversed(range(steps)):
        taken = NOW - POLICY.sample_interval * step
        seen_active, seen_idle = taken - timedelta(minutes=3), taken - timedelta(minutes=200)
        for user, name in enumerate(names):
            active = working(user, taken)
            yield RecordedSample(name, taken, active, seen_active if active else seen_idle)


async def build(database: SqlDatabase, users: int, steps: int) -> None:
    """Schema, then the history through the store itself (which keeps the tallies), many ticks
    per transaction."""
    database.ensure_schema()
    store = SqlActivityStore(database, half_life=POLICY.half_life)
    await store.reset()
    started = time.perf_counter()
    samples = history(users, steps)
    while batch := list(itertools.islice(samples, _BUILD_SAMPLES)):
        await store.add(batch)
    with database.writing() as connection:
        connection.exec_driver_sql("ANALYZE" if database.sqlite else "ANALYZE activity_samples")
    summary = await store.summary()
    print(
        f"  built: {summary.samples:,} samples of {summary.users} users through the store in "
        f"{time.perf_counter() - started:.1f} s"
    )


def cached_sqlite(cache_dir: Path, users: int, days: int) -> tuple[Path, float, bool]:
    """The path of the built SQLite file for these parameters (built now if not cached yet),
    how long its build took, and whether it was built now."""
    key = (
        f"stellars-bench-activity-f{BUILD_FORMAT}-r{head_revision()}-{users}u-{days}d-"
        f"{POLICY.sample_interval_seconds}s-h{POLICY.half_life_hours}-"
        f"{NOW:%Y%m%dT%H%M}.sqlite"
    )
    path = cache_dir / key
    facts = path.with_suffix(".json")
    if path.exists() and facts.exists():
        return path, float(json.loads(facts.read_text())["build_seconds"]), False
    partial = path.with_suffix(".building")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    started = time.perf_counter()
    database = SqlDatabase(create_store_engine(f"sqlite:///{partial}"))
    try:
        asyncio.run(build(database, users, days * POLICY.samples_per_day))
        with database.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        database.close()
    seconds = time.perf_counter() - started
    partial.replace(path)
    Path(f"{partial}-wal").unlink(missing_ok=True)
    Path(f"{partial}-shm").unlink(missing_ok=True)
    facts.write_text(json.dumps({"build_seconds": seconds, "users": users, "days": days}))
    return path, seconds, True


# --- the naive ways --------------------------------------------------------------------------


def window_samples(
    database: SqlDatabase, names: Sequence[str] | None, now: datetime
) -> dict[str, list[tuple[datetime, bool]]]:
    """The (naive UTC time, active) samples of `names` (None: everyone) in the window that ends
    at `now`, in one query."""
    since = (now - POLICY.retention).replace(tzinfo=None)
    columns = activity_samples.c
    query = select(columns.username, columns.timestamp, columns.active).where(
        columns.timestamp > since, columns.timestamp <= now.replace(tzinfo=None)
    )
    if names is not None:
        query = query.where(columns.username.in_(names))
    by_user: dict[str, list[tuple[datetime, bool]]] = defaultdict(list)
    with database.engine.connect() as connection:
        for name, taken, active in connection.execute(query).all():
            by_user[name].append((taken, bool(active)))
    return by_user


def the_original(
    database: SqlDatabase, names: Sequence[str] | None, now: datetime
) -> dict[str, int | None]:
    """The original platform's get_score: weigh the window with exp() and truncate with int()."""
    decay = math.log(2) / POLICY.half_life_hours
    naive_now = now.replace(tzinfo=None)
    scores: dict[str, int | None] = {}
    for name, rows in window_samples(database, names, now).items():
        total = active = 0.0
        for taken, was_active in rows:
            weight = math.exp(-decay * (naive_now - taken).total_seconds() / 3600)
            total += weight
            active += weight if was_active else 0.0
        scores[name] = int(active / total * 100) if total else 0
    return scores


def by_definition(
    database: SqlDatabase, names: Sequence[str] | None, now: datetime
) -> dict[str, int | None]:
    """Each user's window scored by the domain's definition."""
    return {
        name: score_samples(
            [RecordedSample(name, taken.replace(tzinfo=timezone.utc), a) for taken, a in rows],
            now=now,
            policy=POLICY,
        ).value
        for name, rows in window_samples(database, names, now).items()
    }


# --- the service -----------------------------------------------------------------------------


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


class TimedStore:
    """The SQL store, timing the calls a tick makes."""

    def __init__(self, store: SqlActivityStore) -> None:
        self.store = store
        self.seconds: dict[str, list[float]] = defaultdict(list)

    async def _timed(self, name: str, call: Awaitable[Any]) -> Any:
        started = time.perf_counter()
        try:
            return await call
        finally:
            self.seconds[name].append(time.perf_counter() - started)

    async def add(self, samples: Sequence[RecordedSample]) -> None:
        await self._timed("add", self.store.add(samples))

    async def prune(self, *, older_than: datetime) -> int:
        return int(await self._timed("prune", self.store.prune(older_than=older_than)))

    async def tallies(self, *, since: datetime, until: datetime) -> Mapping[str, DecayedTally]:
        return dict(await self._timed("tallies", self.store.tallies(since=since, until=until)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def median_ms(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1000


def timed(function: Callable[[], object], repeat: int) -> tuple[float, Any]:
    durations = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        durations.append(time.perf_counter() - started)
    return median_ms(durations), result


async def timed_async(function: Callable[[], Awaitable[object]], repeat: int) -> tuple[float, Any]:
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


def checked_names(users: int, check_users: int) -> list[str] | None:
    """Every user when there are at most `check_users`, else that many spread evenly."""
    if users <= check_users:
        return None
    step = users / check_users
    return sorted({name_of(int(index * step)) for index in range(check_users)})


async def measure(
    url: str, users: int, days: int, repeat: int, check_users: int, bars: tuple[float, float] | None
) -> None:
    steps = days * POLICY.samples_per_day
    database = SqlDatabase(create_store_engine(url))
    try:
        database.ensure_schema()
        store = SqlActivityStore(database, half_life=POLICY.half_life)
        timed_store = TimedStore(store)
        names = [name_of(user) for user in range(users)]
        subset = checked_names(users, check_users)
        checked = names if subset is None else subset
        print(f"  measuring ({load_average()})")

        naive1_ms, naive1 = timed(lambda: the_original(database, subset, NOW), max(1, repeat // 4))
        naive2_ms, naive2 = timed(lambda: by_definition(database, subset, NOW), max(1, repeat // 4))

        clock = ManualClock(NOW)
        directory = InMemoryHubDirectory(crowd(users, NOW))
        service = ActivityService(store=store, directory=directory, clock=clock, policy=POLICY)
        await service.scores()  # the first read may check (and warm) more than the others
        fast_ms, fast = await timed_async(service.scores, repeat * 4)

        async def scores_of_a_new_store() -> object:
            new = SqlActivityStore(database, half_life=POLICY.half_life)
            return await ActivityService(
                store=new, directory=directory, clock=clock, policy=POLICY
            ).scores()

        cold_ms, cold = await timed_async(scores_of_a_new_store, repeat * 4)
        fast_values = {name: score.value for name, score in fast.items()}
        cold_values = {name: score.value for name, score in cold.items()}
        equal_before = cold_values == fast_values and all(
            fast_values.get(name) == naive2.get(name) for name in checked
        )
        original_off = sum(1 for name in checked if naive1.get(name) != fast_values.get(name))

        scope = "" if subset is None else f" [{len(checked)} users]"
        print(f"  (a1) naive, the original's exp()/int()           {naive1_ms:10.1f} ms{scope}")
        print(f"  (a2) naive, scored by the definition             {naive2_ms:10.1f} ms{scope}")
        print(
            f"  (b)  ActivityService.scores(), tally fast path   {fast_ms:10.2f} ms"
            + verdict(fast_ms, bars[0] if bars else None)
            + "\n       (the store knows the tally rows: nothing changed since it last read them)"
        )
        print(
            f"  (b') the same, the store reads the tally rows    {cold_ms:10.2f} ms"
            + verdict(cold_ms, bars[0] if bars else None)
            + "\n       (a new store each time: what the hub pays once after each tick)"
        )
        if subset is None:
            print(
                f"  (c)  ratio naive / fast: (a1) {naive1_ms / fast_ms:,.0f}x, "
                f"(a2) {naive2_ms / fast_ms:,.0f}x"
            )
        else:  # the naive ways read the whole window whatever the number of users they score
            print("  (c)  ratio naive / fast: not comparable (the naive ways scored a subset)")
        print(
            f"       fast path == definition for {len(checked)} users: "
            f"{'yes' if equal_before else 'NO'}; the original's exp()/int() differs for "
            f"{original_off}"
        )

        ticking = ActivityService(
            store=timed_store,  # type: ignore[arg-type]
            directory=directory,
            clock=clock,
            policy=POLICY,
        )
        tick_durations = []
        pruned = []
        for _ in range(repeat):
            clock.advance(POLICY.sample_interval)
            for user in crowd(users, clock.now()):
                directory.put(user)
            started = time.perf_counter()
            summary = await ticking.tick()
            tick_durations.append(time.perf_counter() - started)
            pruned.append(summary.pruned)
        tick_ms = median_ms(tick_durations)
        parts = ", ".join(
            f"{name} {median_ms(timed_store.seconds[name]):.0f}"
            for name in ("add", "prune", "tallies")
        )
        print(
            f"  (d)  one tick for {users} users (add + prune + scores) {tick_ms:7.1f} ms"
            + verdict(tick_ms, bars[1] if bars else None)
            + f"\n       store calls (median ms): {parts}; pruned per tick: {sorted(set(pruned))}"
        )
        now = clock.now()
        window = await store.tallies(since=retention_cutoff(now, POLICY), until=now)
        taken = [NOW - POLICY.sample_interval * k for k in range(-repeat, steps)]
        held = sum(1 for at in taken if retention_cutoff(now, POLICY) < at <= now)
        assert all(t.count == held for t in window.values()), f"each window should hold {held}"
        after = {name: tally.score(POLICY).value for name, tally in window.items()}
        expected = by_definition(database, subset, now)
        equal_after = all(after.get(name) == expected.get(name) for name in checked)
        print(
            f"       after the ticks, fast path == definition for {len(checked)} users: "
            f"{'yes' if equal_after else 'NO'} ({load_average()})"
        )
    finally:
        database.close()


def run_sqlite(args: argparse.Namespace, users: int) -> None:
    steps = args.days * POLICY.samples_per_day
    print(f"\n== SQLite (WAL file): {users} users x {steps} samples = {users * steps:,} samples")
    path, seconds, built = cached_sqlite(Path(args.cache_dir), users, args.days)
    state = "built now" if built else "cached"
    print(f"  data: {path} ({state}; its build took {seconds:.1f} s)")
    with tempfile.TemporaryDirectory(prefix="stellars-bench-", dir=args.cache_dir) as directory:
        work = Path(directory) / "bench.sqlite"
        shutil.copyfile(path, work)
        asyncio.run(
            measure(
                f"sqlite:///{work}",
                users,
                args.days,
                args.repeat,
                args.check_users,
                BARS.get(users),
            )
        )


def run_postgres(args: argparse.Namespace, users: int) -> None:
    steps = args.days * POLICY.samples_per_day
    print(f"\n== PostgreSQL: {users} users x {steps} samples = {users * steps:,} samples")
    database = SqlDatabase(create_store_engine(args.postgres_url))
    started = time.perf_counter()
    try:
        asyncio.run(build(database, users, steps))
    finally:
        database.close()
    print(f"  data: built in {time.perf_counter() - started:.1f} s")
    asyncio.run(measure(args.postgres_url, users, args.days, args.repeat, args.check_users, None))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument(
        "--compare", type=int, default=1_000, help="users of a second, comparison run (0: none)"
    )
    parser.add_argument("--days", type=int, default=POLICY.retention_days)
    parser.add_argument("--repeat", type=int, default=9, help="repetitions for the medians")
    parser.add_argument(
        "--check-users",
        type=int,
        default=1000,
        help="users checked against the definition (and timed the naive ways) at scale",
    )
    parser.add_argument("--cache-dir", default=tempfile.gettempdir(), help="built SQLite files")
    parser.add_argument("--postgres-url", help="also run on this (emptied!) PostgreSQL database")
    args = parser.parse_args(argv)
    print(f"bench/activity.py, {load_average()}")
    scales = [args.users] + ([args.compare] if args.compare else [])
    for users in scales:
        run_sqlite(args, users)
    if args.postgres_url:
        for users in scales:
            run_postgres(args, users)
    return 0


if __name__ == "__main__":
    sys.exit(main())
