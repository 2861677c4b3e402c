"""Benchmark: 50 wrong logins at once, and what another user's requests meanwhile see.

    .venv/bin/python bench/logins.py [--attempts 50] [--hub-log PATH]

For each run it starts deploy/jupyterhub_config.py in a JupyterHub subprocess on loopback
(SQLite, servers as local processes), signs up and authorizes a bystander, waits until the
hub's loop-lag window (60 s) holds no start-up stall, then posts ATTEMPTS wrong passwords for
the admin to `/hub/login` at once, each from its own connection with its own form (one
address, 127.0.0.11: one visitor). Meanwhile the bystander calls `GET /hub/api/user` over and
over with a token. It prints, per run: how many attempts were checked and how many answered
429, how long the burst took, the bystander's latencies, and the hub's worst event-loop lag
from its own `stellars_event_loop_lag_max_seconds` (read once the burst is over, so its
60-second window holds the burst and nothing of the start). With STELLARS_LOOP_STALL_REPORT_MS
at 10 the hub also logs every stall of 10 ms or more and where it was; those are summed up
below the table. An idle loop in another process shows what the machine's load alone does.

The runs, in one invocation:
- baseline: NativeAuthenticator 1.3 as it was, bcrypt on the event loop, no limit and no
  lockout (a bench-only switch: a config that loads deploy/'s and puts its login check back);
- as deployed: bcrypt on the login threads, at most 10 attempts a minute per address;
- bcrypt off the loop and no per-address limit: every attempt checked, to show the loop alone.

Bar (2-core machine): the hub's worst loop lag <= 50 ms while the 50 logins run. Traffic goes
to 127.0.0.1 only; the numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loop_watch import bystander_lag, print_stalls
from tests.backends.hub import JupyterHubProcess
from tests.backends.platform import (
    ADMIN_PASSWORD,
    DEPLOY_CONFIG,
    HubClient,
    platform_env,
    signed_up_user,
)

BAR_LAG_MS = 50.0
LAG_REPORT_MS = 10
ATTACKER = "127.0.0.11"
LAG_METRIC = re.compile(r"^stellars_event_loop_lag_max_seconds ([0-9.e+-]+)$", re.MULTILINE)
SETTLE_LIMIT_SECONDS = 90.0  # the window is 60 s: start-up stalls are gone after that
QUIET_LAG_SECONDS = 0.03

# The bench-only baseline: deploy/'s configuration with NativeAuthenticator 1.3's own login
# check (bcrypt on the loop, and again on the page for a failed login) and neither the
# per-address limit nor a lockout, as before.
ON_THE_LOOP_CONFIG = """
from nativeauthenticator import NativeAuthenticator

from stellars.adapters.auth import StellarsNativeAuthenticator
from stellars.adapters.jupyterhub import with_platform


class OnTheLoop(StellarsNativeAuthenticator):
    async def authenticate(self, handler, data):
        return await NativeAuthenticator.authenticate(self, handler, data)

    async def waits_for_authorization(self, username, password):
        info = self.get_user(username)
        return info is not None and info.is_valid_password(password) and not info.is_authorized


load_subconfig({deploy!r})
c.JupyterHub.authenticator_class = with_platform(OnTheLoop)
c.StellarsNativeAuthenticator.attempts_per_minute = 0
c.NativeAuthenticator.allowed_failed_logins = 0
"""


@dataclass(frozen=True)
class Run:
    label: str
    env: dict[str, str]
    baseline: bool = False


@dataclass(frozen=True)
class Result:
    label: str
    checked: int
    refused: int
    burst_seconds: float
    bystander_ms: list[float]
    hub_lag_ms: float
    idle_loop_ms: float | None
    log_path: Path
    since: datetime
    until: datetime


def hub_lag_seconds(admin: HubClient) -> float:
    text = admin.session.get(admin.url("/metrics"), timeout=30).text
    match = LAG_METRIC.search(text)
    if match is None:
        raise RuntimeError("the hub's /hub/metrics has no stellars_event_loop_lag_max_seconds")
    return float(match.group(1))


def settle(admin: HubClient) -> None:
    """Wait until the hub's lag window no longer holds the start-up's stalls."""
    deadline = time.monotonic() + SETTLE_LIMIT_SECONDS
    while hub_lag_seconds(admin) > QUIET_LAG_SECONDS and time.monotonic() < deadline:
        time.sleep(5)


def burst(public_url: str, attempts: int) -> list[int]:
    """ATTEMPTS wrong passwords for the admin, released together from one address."""
    start = threading.Barrier(attempts)
    statuses: list[int] = [0] * attempts

    def attempt(index: int) -> None:
        client = HubClient(public_url, source=ATTACKER)
        xsrf = client.form_xsrf("/login")
        start.wait(timeout=120)
        answer = client.session.post(
            client.url("/login"),
            data={"username": "admin", "password": f"guess-{index}", "_xsrf": xsrf},
            allow_redirects=False,
            timeout=300,
        )
        statuses[index] = answer.status_code

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def measure(run: Run, attempts: int, logs: Path) -> Result:
    with tempfile.TemporaryDirectory(prefix="stellars-bench-logins-") as workdir:
        env = platform_env(
            Path(workdir) / "data",
            JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
            STELLARS_SPAWNER="local",
            JUPYTERHUB_ACTIVITYMON_SAMPLE_INTERVAL="86400",  # no sampler tick in the way
            STELLARS_LOOP_STALL_REPORT_MS=str(LAG_REPORT_MS),
            **run.env,
        )
        config = DEPLOY_CONFIG
        if run.baseline:
            config = Path(workdir) / "jupyterhub_config.py"
            config.write_text(ON_THE_LOOP_CONFIG.format(deploy=str(DEPLOY_CONFIG)))
        with JupyterHubProcess(config, env, workdir=Path(workdir) / "hub") as hub:
            admin = HubClient(hub.public_url, source="127.0.0.2")
            admin.login("admin", ADMIN_PASSWORD)
            bob = signed_up_user(hub.public_url, admin, "bob", "bobs-password-1")
            token = bob.new_token("bob")
            settle(admin)
            latencies: list[float] = []
            done = threading.Event()

            def bystander() -> None:
                with requests.Session() as session:
                    while not done.is_set():
                        started = time.perf_counter()
                        session.get(
                            f"{hub.public_url}/hub/api/user",
                            headers={"Authorization": f"token {token}"},
                            timeout=300,
                        ).raise_for_status()
                        latencies.append((time.perf_counter() - started) * 1000)
                        time.sleep(0.02)

            since = datetime.now()
            with bystander_lag() as idle:
                watcher = threading.Thread(target=bystander)
                watcher.start()
                started = time.perf_counter()
                statuses = burst(hub.public_url, attempts)
                took = time.perf_counter() - started
                time.sleep(0.5)  # the bystander's calls right after the burst count too
                done.set()
                watcher.join()
            until = datetime.now()
            lag = hub_lag_seconds(admin)
            kept = logs / f"hub.{len(list(logs.iterdir()))}.log"
            shutil.copyfile(hub.log_path, kept)
    return Result(
        label=run.label,
        checked=sum(status != 429 for status in statuses),
        refused=sum(status == 429 for status in statuses),
        burst_seconds=took,
        bystander_ms=latencies,
        hub_lag_ms=lag * 1000,
        idle_loop_ms=idle[0] * 1000 if idle else None,
        log_path=kept,
        since=since,
        until=until,
    )


def report(results: list[Result], attempts: int) -> None:
    print(f"{attempts} wrong logins for the admin at once from one address; a bystander polls:")
    print(
        f"{'run':<46} {'checked':>7} {'429':>4} {'burst':>7} {'bystander p50':>13} "
        f"{'max':>8} {'hub loop lag':>12} {'idle loop':>9}"
    )
    for result in results:
        latencies = result.bystander_ms or [float("nan")]
        idle = f"{result.idle_loop_ms:.0f} ms" if result.idle_loop_ms is not None else "?"
        print(
            f"{result.label:<46} {result.checked:>7} {result.refused:>4} "
            f"{result.burst_seconds:6.2f}s {statistics.median(latencies):10.0f} ms "
            f"{max(latencies):5.0f} ms {result.hub_lag_ms:9.0f} ms {idle:>9}"
        )
    for result in results:
        print(f"{result.label}: ", end="")
        print_stalls(result.log_path, result.since, result.until)
    for result in results[1:]:
        verdict = "met" if result.hub_lag_ms <= BAR_LAG_MS else "MISSED"
        print(
            f"bar ({result.label}): hub loop lag {result.hub_lag_ms:.0f} ms <= "
            f"{BAR_LAG_MS:.0f} ms: {verdict}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=50)
    parser.add_argument("--hub-log", help="keep each hub's log as PATH.hub.<n>.log")
    args = parser.parse_args()
    runs = [
        Run("baseline: bcrypt on the loop, no limit", {}, baseline=True),
        Run("as deployed: off the loop, 10 a minute", {}),
        Run(
            "off the loop, no limit: all checked",
            {"STELLARS_LOGIN_ATTEMPTS_PER_MINUTE": "0", "STELLARS_LOGIN_LOCKOUT_FAILURES": "0"},
        ),
    ]
    with tempfile.TemporaryDirectory(prefix="stellars-bench-logins-logs-") as logs:
        results = [measure(run, args.attempts, Path(logs)) for run in runs]
        report(results, args.attempts)
        if args.hub_log:
            for result in results:
                shutil.copyfile(result.log_path, f"{args.hub_log}.{result.log_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
