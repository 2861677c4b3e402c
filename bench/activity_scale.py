"""Benchmark: `GET /hub/api/activity` at 10,000 users with 7 days of samples, hub on PostgreSQL.

    .venv/bin/python bench/activity_scale.py [--users 10000] [--days 7] [--clients 10]
        [--requests 30] [--hub-log PATH]

Starts a throwaway PostgreSQL cluster (tests.backends) with two databases, JupyterHub's and the
platform's, and deploy/jupyterhub_config.py in a JupyterHub subprocess on loopback using them
(servers as local processes). Creating 10,000 users through the hub API would hash 10,000
generated passphrases with bcrypt (about 4 a second here: 40 minutes), so the bench writes the
population straight into the databases once the hub has created its schemas:

- JupyterHub's `users` rows, and NativeAuthenticator's `users_info` rows (authorized, all with
  one bcrypt hash), by executemany;
- DAYS of samples per user at the platform's sampling interval (10 minutes: 1,008 a user a
  week, 10 million in all) into `activity_samples` by COPY, and the tallies the platform keeps
  of them (`activity_tallies`, computed by the domain's own `tally_samples`), with a new tally
  generation so the hub reads them again.

Then CLIENTS concurrent clients (threads, one API token each) fetch the dashboard's first page
(1,000 rows, the route's largest page) REQUESTS times each, and once the whole dashboard walked
page by page. It prints p50, p90, p99 and max latency, the hub's worst event-loop lag during the
run (its loop monitor, `stellars_event_loop_lag_max_seconds`) beside an idle loop's in another
process (the machine's load alone), and as baselines in the same run JupyterHub's own list of
1,000 of the same users (`GET /hub/api/users?limit=1000`) and its cheapest authenticated route
(`GET /hub/api/user`). The hub logs every stall over the lag bar with its stack; the bench prints
where those of the dashboard run were, and --hub-log keeps the log. `--hub-loop-realtime` (root
only) sets STELLARS_HUB_LOOP_REALTIME (docs/operations.md): on a machine loaded by others, the
hub's loop thread then does not wait behind their tasks for a CPU.

Bars (issue 22, 2-core machine): p50 <= 200 ms, p99 <= 500 ms, loop lag <= 50 ms. Traffic goes
to 127.0.0.1 only; the numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import bcrypt
import psycopg
import sqlalchemy
from jupyterhub import orm
from nativeauthenticator.orm import UserInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from activity_api import hammer, loop_lag_ms, percentile, report
from loop_watch import bystander_lag, cpu_steal, print_stalls
from tests.backends.hub import JupyterHubProcess
from tests.backends.platform import ADMIN_PASSWORD, DEPLOY_CONFIG, HubClient, platform_env
from tests.backends.postgres import PostgresCluster

from stellars.adapters.sql.tallies import GENERATION_KEY, HALF_LIFE_KEY, half_life_text
from stellars.domain.activity import ActivityPolicy, RecordedSample, tally_samples

BAR_P50_MS = 200.0
BAR_P99_MS = 500.0
BAR_LAG_MS = 50.0
#: How many users share one pattern of active samples (user i is active at step s when
#: (i + s) % ACTIVE_EVERY == 0), so the tallies are computed once per pattern.
ACTIVE_EVERY = 3
PAGE = 1000


def driver_url(url: str) -> str:
    """A SQLAlchemy psycopg URL as libpq takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def sample_times(now: datetime, days: int, interval: timedelta) -> list[datetime]:
    """The sampler's ticks over `days` up to `now`, oldest first (naive UTC, as stored)."""
    steps = days * timedelta(days=1) // interval
    return [now - interval * step for step in range(steps - 1, -1, -1)]


def load_users(hub_db_url: str, names: list[str]) -> float:
    """JupyterHub users and authorized NativeAuthenticator accounts, by executemany."""
    started = time.perf_counter()
    hashed = bcrypt.hashpw(b"bench-passphrase", bcrypt.gensalt())
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    engine = sqlalchemy.create_engine(hub_db_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sqlalchemy.insert(orm.User.__table__),
                [
                    {"name": name, "admin": False, "last_activity": now - timedelta(minutes=i)}
                    for i, name in enumerate(names)
                ],
            )
            connection.execute(
                sqlalchemy.insert(UserInfo.__table__),
                [{"username": name, "password": hashed, "is_authorized": True} for name in names],
            )
    finally:
        engine.dispose()
    return time.perf_counter() - started


def copy_rows(names: list[str], times: list[datetime]) -> Iterator[bytes]:
    """activity_samples rows as COPY text, one tick of every user per chunk."""
    for step, taken in enumerate(times):
        stamp = taken.isoformat(sep=" ")
        buffer = io.StringIO()
        for index, name in enumerate(names):
            active = "t" if (index + step) % ACTIVE_EVERY == 0 else "f"
            buffer.write(f"{name}\t{stamp}\t\\N\t{active}\n")
        yield buffer.getvalue().encode()


def load_samples(
    stellars_db_url: str, names: list[str], times: list[datetime], policy: ActivityPolicy
) -> tuple[int, float, float]:
    """Samples by COPY and their tallies by executemany, in one transaction with a new tally
    generation. Returns the samples written, the seconds of the COPY and of the tallies."""
    half_life = policy.half_life
    aware = [taken.replace(tzinfo=timezone.utc) for taken in times]
    patterns = [
        tally_samples(
            (
                RecordedSample("pattern", taken, (offset + step) % ACTIVE_EVERY == 0, None)
                for step, taken in enumerate(aware)
            ),
            half_life,
        )
        for offset in range(ACTIVE_EVERY)
    ]
    with psycopg.connect(driver_url(stellars_db_url)) as connection:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            with cursor.copy(
                "COPY activity_samples (username, timestamp, last_activity, active) FROM STDIN"
            ) as copy:
                for chunk in copy_rows(names, times):
                    copy.write(chunk)
            copied = time.perf_counter() - started
            started = time.perf_counter()
            cursor.execute("DELETE FROM activity_tallies")
            cursor.executemany(
                "INSERT INTO activity_tallies (username, anchor, total_weight, active_weight,"
                " sample_count, active_count) VALUES (%s, %s, %s, %s, %s, %s)",
                [
                    (
                        name,
                        tally.anchor.replace(tzinfo=None) if tally.anchor else None,
                        tally.total_weight,
                        tally.active_weight,
                        tally.count,
                        tally.active_count,
                    )
                    for index, name in enumerate(names)
                    for tally in [patterns[index % ACTIVE_EVERY]]
                ],
            )
            for key, value in (
                (HALF_LIFE_KEY, half_life_text(half_life)),
                (GENERATION_KEY, os.urandom(16).hex()),
            ):
                cursor.execute("DELETE FROM stellars_meta WHERE key = %s", (key,))
                cursor.execute(
                    "INSERT INTO stellars_meta (key, value) VALUES (%s, %s)", (key, value)
                )
            tallied = time.perf_counter() - started
        connection.commit()
        connection.execute("ANALYZE")
    return len(names) * len(times), copied, tallied


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    header = ("figure", "value", "bar", "verdict")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    rule = "+-" + "-+-".join("-" * width for width in widths) + "-+"
    print(rule)
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        print("| " + " | ".join(cells) + " |")
        if row is header:
            print(rule)
    print(rule)


def walk(hub_url: str, token: str, total: int) -> float:
    """Seconds to fetch the whole dashboard page by page, as a script would."""
    started = time.perf_counter()
    offset: int | None = 0
    while offset is not None:
        pages = hammer(
            f"{hub_url}/activity?offset={offset}&limit={PAGE}", [token], 1, lambda body: None
        )
        assert pages
        offset = offset + PAGE if offset + PAGE < total else None
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument(
        "--settle",
        type=float,
        default=61.0,
        help="seconds of quiet before each run (the loop-lag window is 60 s)",
    )
    parser.add_argument(
        "--hub-loop-realtime",
        action="store_true",
        help="set STELLARS_HUB_LOOP_REALTIME: the hub's event-loop thread (only) runs under "
        "SCHED_RR at priority 1 (root only), so the machine's other load does not delay it",
    )
    parser.add_argument(
        "--hub-log", type=Path, help="copy the hub's log here (stall reports with their stacks)"
    )
    args = parser.parse_args()
    policy = ActivityPolicy()
    with (
        PostgresCluster("stellars") as postgres,
        tempfile.TemporaryDirectory(prefix="stellars-bench-scale-") as workdir,
    ):
        hub_db_url = postgres.create_database("jupyterhub")
        stellars_db_url = postgres.url
        data = Path(workdir) / "data"
        env = platform_env(
            data,
            JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
            STELLARS_SPAWNER="local",
            JUPYTERHUB_DB_URL=hub_db_url,
            STELLARS_DB_URL=stellars_db_url,
            # The bench writes the samples; the sampler must not tick during the run.
            JUPYTERHUB_ACTIVITYMON_SAMPLE_INTERVAL="86400",
            STELLARS_LOOP_STALL_REPORT_MS=str(int(BAR_LAG_MS)),
            **({"STELLARS_HUB_LOOP_REALTIME": "1"} if args.hub_loop_realtime else {}),
        )
        with JupyterHubProcess(DEPLOY_CONFIG, env, workdir=Path(workdir) / "hub") as hub:
            admin = HubClient(hub.public_url)
            admin.login("admin", ADMIN_PASSWORD)
            names = [f"user{index:05d}" for index in range(args.users)]
            users_seconds = load_users(hub_db_url, names)
            print(f"wrote {len(names)} users and accounts in {users_seconds:.1f} s")
            now = datetime.now(timezone.utc).replace(tzinfo=None, second=0, microsecond=0)
            times = sample_times(now, args.days, policy.sample_interval)
            written, copied, tallied = load_samples(stellars_db_url, names, times, policy)
            print(
                f"copied {written} samples ({len(times)} a user) in {copied:.1f} s, "
                f"wrote their tallies in {tallied:.1f} s"
            )
            tokens = [admin.new_token("admin") for _ in range(args.clients)]
            expected = args.users + 1

            def first_page(body: dict) -> None:
                assert body["total"] == expected and len(body["users"]) == min(expected, PAGE)
                last = body["users"][-1]
                # The sampler may have taken one more since the load (its tick at start).
                assert last["sample_count"] in {len(times), len(times) + 1}, last

            def user_list(body: object) -> None:
                assert isinstance(body, list)

            def who_am_i(body: dict) -> None:
                assert body["name"] == "admin"

            # Warm-up: the first requests load the hub's user objects and the SQL schema.
            started = time.perf_counter()
            hammer(hub.api_url + "/activity", tokens[:1], 1, first_page)
            cold = time.perf_counter() - started
            hammer(hub.api_url + "/activity", tokens[:1], 3, first_page)
            hammer(hub.api_url + "/users?limit=1000", tokens[:1], 3, user_list)
            walked = walk(hub.api_url, tokens[0], expected)
            time.sleep(
                args.settle
            )  # let the loop-lag window (60 s) forget the start-up and warm-up
            load = Path("/proc/loadavg").read_text().split()[:3]
            since = datetime.now()
            with bystander_lag() as bystander, cpu_steal() as steal:
                dashboard = hammer(hub.api_url + "/activity", tokens, args.requests, first_page)
            lag = loop_lag_ms(admin)
            until = datetime.now()
            baseline = hammer(hub.api_url + "/users?limit=1000", tokens, args.requests, user_list)
            time.sleep(args.settle)
            whoami = hammer(hub.api_url + "/user", tokens, args.requests, who_am_i)
            floor = loop_lag_ms(admin)
            realtime = ", hub loop under SCHED_RR 1" if args.hub_loop_realtime else ""
            print(
                f"{args.users} users, {args.days} days of samples, {args.clients} clients "
                f"x {args.requests} requests{realtime}; load average before the run "
                f"{' '.join(load)}"
            )
            report("baseline: GET /hub/api/users?limit=1000", baseline)
            report("GET /hub/api/activity (first 1,000 rows)", dashboard)
            report("floor: GET /hub/api/user (who am I)", whoami)
            print(f"first request after the load (cold build): {cold * 1000:.0f} ms")
            print(f"whole dashboard walked page by page ({PAGE} rows each): {walked:.2f} s")
            print(f"worst event-loop lag, dashboard run: {lag:.1f} ms; who-am-I run: {floor:.1f}")
            if bystander:
                print(
                    f"an idle event loop in another process, same run: {bystander[0] * 1000:.1f} ms"
                )
            if steal:
                print(
                    f"CPU stolen by the hypervisor during the run: {steal['total_ms']:.0f} ms "
                    f"(worst 100 ms slice {steal['worst_slice_ms']:.0f} ms)"
                )
            print("during the dashboard run: ", end="")
            print_stalls(hub.log_path, since, until)
            p50, p99 = percentile(dashboard, 0.5), percentile(dashboard, 0.99)
            rows = []
            for name, value, bar in (
                ("dashboard p50", p50, BAR_P50_MS),
                ("dashboard p99", p99, BAR_P99_MS),
                ("hub's worst loop lag", lag, BAR_LAG_MS),
            ):
                verdict = "met" if value <= bar else "MISSED"
                rows.append((name, f"{value:.1f} ms", f"<= {bar:.0f} ms", verdict))
            print_table(rows)
            if args.hub_log:
                shutil.copyfile(hub.log_path, args.hub_log)
    subprocess.run(["uptime"], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
