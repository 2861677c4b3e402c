"""Two processes on one SQLite file, as the hub and the sampler service share it: a writer
process ticks (insert + prune) while this process reads tallies and writes too. No "database is
locked", and the tallies are still exact afterwards."""

from __future__ import annotations

import asyncio
import sys
from asyncio.subprocess import PIPE
from datetime import datetime, timedelta, timezone

from stellars.adapters.sql import (
    SqlActivityStore,
    SqlDatabase,
    SqlSessionStore,
    create_store_engine,
)
from stellars.domain.activity import ActivityPolicy, score_samples
from stellars.domain.sessions import SessionDeadline

POLICY = ActivityPolicy(retention_days=1, half_life_hours=6)
START = datetime(2026, 5, 1, tzinfo=timezone.utc)
TICKS = 80
USERS = 150

# The sampler's side: every tick one sample per user in one transaction, then a prune.
_WRITER = f"""
import asyncio, sys
from datetime import datetime, timedelta, timezone
from stellars.adapters.sql import SqlActivityStore, SqlDatabase, create_store_engine
from stellars.domain.activity import RecordedSample

async def main():
    database = SqlDatabase(create_store_engine(sys.argv[1]))
    store = SqlActivityStore(
        database, half_life=timedelta(hours={POLICY.half_life_hours}), prune_batch_size=100
    )
    start = datetime(2026, 5, 1, tzinfo=timezone.utc)
    for tick in range({TICKS}):
        now = start + timedelta(minutes=10 * tick)
        await store.add([
            RecordedSample(f"user{{u:03d}}", now, (u + tick) % 4 == 0) for u in range({USERS})
        ])
        await store.prune(older_than=now - timedelta(hours=6))
    database.close()
    print("writer done")

asyncio.run(main())
"""


async def test_a_writer_process_and_a_reader_writer_process_share_one_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    database = SqlDatabase(create_store_engine(url))
    store = SqlActivityStore(database, half_life=POLICY.half_life)
    sessions = SqlSessionStore(database)
    database.ensure_schema()
    writer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _WRITER, url, stdout=PIPE, stderr=PIPE
    )
    reads = 0
    try:
        while writer.returncode is None:
            end = START + timedelta(minutes=10 * TICKS)
            tallies = await store.tallies(since=START - POLICY.retention, until=end)
            assert all(t.count > 0 for t in tallies.values())
            await store.summary()
            # the hub's side writes too: deadlines, and activity of a user it renames away
            await sessions.put(
                SessionDeadline("user001", "", START, START + timedelta(hours=reads))
            )
            await store.rename_user("ghost", "ghost2")
            reads += 1
            await asyncio.sleep(0.001)  # lets the event loop notice the writer's exit
        out, err = await asyncio.wait_for(writer.communicate(), timeout=120)
        assert writer.returncode == 0, err.decode()
        assert b"writer done" in out
        assert reads > 0, "the writer finished before the reader could overlap it"

        # Afterwards the incrementally kept tallies still score like the definition.
        now = START + timedelta(minutes=10 * (TICKS - 1))
        window = {"since": now - POLICY.retention, "until": now}
        tallies = await store.tallies(**window)
        assert len(tallies) == USERS
        for user in ["user000", "user001", "user077", f"user{USERS - 1:03d}"]:
            samples = await store.samples(user, **window)
            assert tallies[user].score(POLICY) == score_samples(samples, now=now, policy=POLICY)
            assert tallies[user].count == len(samples) == 36  # pruned to 6 h of 10-minute samples
    finally:
        if writer.returncode is None:
            writer.kill()
            await writer.communicate()
        database.close()
