"""The activity sampler against a real JupyterHub and a real database (SQLite file, PostgreSQL):
as a managed service of the hub, and as a process that outlives a hub restart and a database
outage. Ticks are triggered with SIGUSR1 (the sampler's "sample now"), so no test waits for the
interval and none asserts wall-clock times."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy

from stellars.adapters.sql import SqlActivityStore, SqlDatabase, create_store_engine
from stellars.domain.activity import ActivityPolicy
from tests.backends import JupyterHubProcess, PostgresCluster, is_alive
from tests.backends.hub import (
    ENV_ADMIN_TOKEN,
    ENV_HUB_PORT,
    ENV_PROXY_API_PORT,
    ENV_PUBLIC_PORT,
)
from tests.backends.hub_helpers import (
    SAMPLER_SCOPES,
    create_users,
    render_hub_config,
    report_activity,
    start_server,
    wait_for,
)
from tests.backends.processes import descendants, stop_process_group

pytestmark = pytest.mark.real

POLICY = ActivityPolicy()
SAMPLER_MODULE = "stellars.entrypoints.activity_sampler"
TICK = re.compile(r"Tick: (\d+) users \(active=(\d+), idle=(\d+), offline=(\d+)\)")


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'stellars.sqlite'}"
    return request.getfixturevalue("postgres_url")


def sampler_command(db_url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", SAMPLER_MODULE, "--db-url", db_url, *extra]


def managed_sampler_config(db_url: str) -> str:
    """The sampler as JupyterHub runs it: a managed service with a role of its own."""
    return f"""
c.JupyterHub.services.append({{
    "name": "activity-sampler",
    "command": {sampler_command(db_url, "--sample-interval-seconds", "3600")!r},
}})
c.JupyterHub.load_roles.append({{
    "name": "activity-sampler",
    "scopes": {SAMPLER_SCOPES!r},
    "services": ["activity-sampler"],
}})
"""


def ticks(log: Path) -> list[tuple[int, int, int, int]]:
    """(users, active, idle, offline) of every tick line logged so far."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return [tuple(map(int, match.groups())) for match in TICK.finditer(text)]


def failures(log: Path) -> int:
    return log.read_text(errors="replace").count("Tick failed") if log.exists() else 0


def sampler_pid(hub: JupyterHubProcess) -> int:
    assert hub.process is not None
    for pid in descendants(hub.process.pid):
        try:
            if SAMPLER_MODULE.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            continue
    raise AssertionError("the hub runs no activity sampler")


def tick_now(pid: int, log: Path, count: Callable[[Path], int]) -> None:
    """SIGUSR1 the sampler and wait until `count(log)` grows."""
    before = count(log)
    os.kill(pid, signal.SIGUSR1)
    wait_for(lambda: count(log) > before, what="a new tick in the log")


async def stored(db_url: str) -> tuple[dict, int]:
    """Per user their samples now in the window, and the total stored."""
    database = SqlDatabase(create_store_engine(db_url))
    try:
        store = SqlActivityStore(database, half_life=POLICY.half_life)
        now = datetime.now(timezone.utc) + timedelta(minutes=1)
        summary = await store.summary()
        users = await store.tallies(since=now - POLICY.retention, until=now)
        samples = {
            name: await store.samples(name, since=now - POLICY.retention, until=now)
            for name in users
        }
        return samples, summary.samples
    finally:
        database.close()


@pytest.fixture
def sampler_process(tmp_path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Factory: a sampler run by the test as the hub would run it (its token, its API URL)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(db_url: str, hub: JupyterHubProcess, log: Path) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "JUPYTERHUB_API_TOKEN": hub.admin_token,
            "JUPYTERHUB_API_URL": hub.api_url,
        }
        with log.open("ab") as out:
            process = subprocess.Popen(
                sampler_command(db_url, "--sample-interval-seconds", "3600"),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        started.append(process)
        return process

    yield start
    for process in started:
        stop_process_group(process, term_timeout=10)


async def test_the_managed_service_samples_every_user_as_the_domain_says(
    db_url, tmp_path, jupyterhub_factory
):
    config = render_hub_config(tmp_path / "config", extra=managed_sampler_config(db_url))
    (tmp_path / "hub").mkdir()  # our own state dir, so the hub's log outlives the hub
    hub = jupyterhub_factory(config, workdir=tmp_path / "hub")
    # The first tick runs as the service starts, before any user exists.
    wait_for(lambda: ticks(hub.log_path), what="the first tick")
    assert ticks(hub.log_path)[0] == (0, 0, 0, 0)

    create_users(hub, ["alice", "bob", "carol"])
    start_server(hub, "alice")
    report_activity(hub, "alice", datetime.now(timezone.utc))
    pid = sampler_pid(hub)
    tick_now(pid, hub.log_path, lambda log: len(ticks(log)))
    assert ticks(hub.log_path)[-1] == (3, 1, 0, 2)

    samples, total = await stored(db_url)
    assert total == 3
    assert {name: [s.active for s in rows] for name, rows in samples.items()} == {
        "alice": [True],
        "bob": [False],
        "carol": [False],
    }
    (alice,) = samples["alice"]
    assert alice.server_last_activity is not None  # the server's, as the hub reported it
    assert samples["bob"][0].server_last_activity is None

    hub.stop()  # stops its managed services with it
    assert not is_alive(pid)
    assert "Activity sampler stopped (2 ticks, 0 failed)" in hub.log_path.read_text()


def _restart(config: Path, first: JupyterHubProcess, factory) -> JupyterHubProcess:
    """The same hub again: same ports, same token, same state directory."""
    env = {
        name: first.env[name]
        for name in (ENV_PUBLIC_PORT, ENV_PROXY_API_PORT, ENV_HUB_PORT, ENV_ADMIN_TOKEN)
    }
    return factory(config, env=env, workdir=first.workdir)


async def test_a_hub_restart_fails_a_tick_and_the_next_one_records(
    tmp_path, jupyterhub_factory, sampler_process
):
    db_url = f"sqlite:///{tmp_path / 'stellars.sqlite'}"
    config = render_hub_config(tmp_path / "config")
    (tmp_path / "hub").mkdir()
    hub = jupyterhub_factory(config, workdir=tmp_path / "hub")
    create_users(hub, ["alice", "bob"])
    log = tmp_path / "sampler.log"
    sampler = sampler_process(db_url, hub, log)
    wait_for(lambda: ticks(log), what="the first tick")

    hub.stop()
    tick_now(sampler.pid, log, failures)
    assert sampler.poll() is None
    assert "hub API" in log.read_text()

    _restart(config, hub, jupyterhub_factory)
    tick_now(sampler.pid, log, lambda path: len(ticks(path)))
    assert ticks(log) == [(2, 0, 0, 2), (2, 0, 0, 2)]
    assert (await stored(db_url))[1] == 4  # both ticks, nothing lost

    sampler.send_signal(signal.SIGTERM)
    assert sampler.wait(timeout=30) == 0
    assert "Activity sampler stopped (2 ticks, 1 failed)" in log.read_text()


async def test_a_locked_sqlite_database_fails_a_tick_and_the_next_one_records(
    tmp_path, jupyterhub_factory, sampler_process
):
    path = tmp_path / "stellars.sqlite"
    hub = jupyterhub_factory(render_hub_config(tmp_path / "config"))
    create_users(hub, ["alice"])
    log = tmp_path / "sampler.log"
    sampler = sampler_process(f"sqlite:///{path}?timeout=0.5", hub, log)
    wait_for(lambda: ticks(log), what="the first tick")

    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        tick_now(sampler.pid, log, failures)
        assert "database is locked" in log.read_text()
        assert sampler.poll() is None
    finally:
        holder.close()
    tick_now(sampler.pid, log, lambda path: len(ticks(path)))
    assert (await stored(f"sqlite:///{path}"))[1] == 2
    assert sampler.poll() is None


async def test_a_postgres_outage_fails_a_tick_and_the_next_one_records(
    tmp_path, jupyterhub_factory, sampler_process, postgres: PostgresCluster, postgres_url
):
    hub = jupyterhub_factory(render_hub_config(tmp_path / "config"))
    create_users(hub, ["alice", "bob"])
    log = tmp_path / "sampler.log"
    sampler = sampler_process(postgres_url, hub, log)
    wait_for(lambda: ticks(log), what="the first tick")

    # The outage as a client sees it: its connections are killed and new ones are refused.
    name = sqlalchemy.make_url(postgres_url).database
    admin = sqlalchemy.create_engine(postgres.url_for("postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )
        tick_now(sampler.pid, log, failures)
        assert sampler.poll() is None
        with admin.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    finally:
        admin.dispose()
    tick_now(sampler.pid, log, lambda path: len(ticks(path)))
    assert (await stored(postgres_url))[1] == 4
    assert sampler.poll() is None
