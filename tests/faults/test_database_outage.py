"""Fault 1: the platform's database (PostgreSQL, a private cluster) away for 30 s under a running
hub and its activity sampler. While it is away every page and API answers (200, or 503 with a
message), a tick fails and the sampler lives on; after it is back the pages and APIs answer
normally, the next tick records every user, and no sample is written twice (the table read back).

Ticks are triggered with SIGUSR1 (the sampler's "sample now") so that no test waits for the
sampling interval."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
import sqlalchemy

from tests.backends.fixtures import backend
from tests.backends.hub_helpers import wait_for
from tests.backends.platform import ADMIN_PASSWORD, HubClient, signed_up_user, start_platform
from tests.backends.processes import is_alive

from .rig import PausablePostgres, child_with, probe, problems, statuses

OUTAGE_SECONDS = 30  # the fault as the issue states it
USERS = ("bob", "carol")
FAULT = "database away 30 s"
TICK = "stellars.activity_sampler] Tick: "


@pytest.fixture
def private_postgres() -> Iterator[PausablePostgres]:
    cluster = PausablePostgres()
    with backend("postgresql"):
        cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def samples(url: str) -> list[tuple[str, datetime]]:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT username, timestamp FROM activity_samples ORDER BY id"
            )
            return [(name, at) for name, at in rows]
    finally:
        engine.dispose()


def tallied(url: str) -> dict[str, int]:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql("SELECT username, sample_count FROM activity_tallies")
            return {str(name): int(count) for name, count in rows}
    finally:
        engine.dispose()


def test_the_database_away_for_30_s_loses_nothing_and_every_page_answers(
    tmp_path, jupyterhub_factory, private_postgres: PausablePostgres, outcomes
):
    url = private_postgres.url
    hub = start_platform(
        jupyterhub_factory,
        tmp_path,
        {"STELLARS_SPAWNER": "local", "STELLARS_DB_URL": url},
    )
    assert hub.process is not None
    admin = HubClient(hub.public_url)
    admin.login("admin", ADMIN_PASSWORD)
    for name in USERS:
        signed_up_user(hub.public_url, admin, name, f"{name}-password-1")
    users = {"admin", *USERS}
    sampler = wait_for(
        lambda: child_with(hub.process.pid, "activity_sampler"), what="the sampler process"
    )
    today = datetime.now(timezone.utc).date().isoformat()
    # SIGUSR1 kills a sampler that has not set its handler yet: wait for its first tick.
    wait_for(lambda: TICK in hub.log_path.read_text(errors="replace"), 60, "the first tick")

    def sample_now(count: int) -> None:
        os.kill(sampler, signal.SIGUSR1)
        wait_for(lambda: len(samples(url)) >= count, timeout=60, what=f"{count} samples")

    sample_now(len(samples(url)) + len(users))
    before = samples(url)
    healthy = probe(admin, "bob", today)
    assert not problems(healthy), problems(healthy)
    assert all(answer.status == 200 for answer in healthy), statuses(healthy)

    private_postgres.pause()
    failures_before = hub.log_path.read_text(errors="replace").count("Tick failed")
    os.kill(sampler, signal.SIGUSR1)
    during = []
    away_until = time.monotonic() + OUTAGE_SECONDS
    while time.monotonic() < away_until:
        during.extend(probe(admin, "bob", today))
    wait_for(
        lambda: hub.log_path.read_text(errors="replace").count("Tick failed") > failures_before,
        what="a failed tick",
    )
    assert is_alive(sampler), "the sampler died with the database"
    assert hub.process.poll() is None, hub.log_tail()
    private_postgres.resume()

    assert not problems(during), problems(during)
    unavailable = sorted(path for path, seen in statuses(during).items() if 503 in seen)
    outcomes(FAULT, "pages and APIs while away", f"200, or 503+message: {' '.join(unavailable)}")

    sample_now(len(before) + len(users))
    after = samples(url)
    assert after[: len(before)] == before
    new = after[len(before) :]
    assert sorted(name for name, _ in new) == sorted(users)
    assert len(set(after)) == len(after), "a sample written twice"
    assert tallied(url) == {name: [who for who, _ in after].count(name) for name in users}
    outcomes(FAULT, "sampler", "failed tick logged, caught up after, no sample twice")

    recovered = probe(admin, "bob", today)
    assert not problems(recovered), problems(recovered)
    assert all(answer.status == 200 for answer in recovered), statuses(recovered)
    outcomes(FAULT, "pages and APIs after", "all 200")
