"""Benchmark: how soon the passphrases of 100 users an admin creates are ready.

    .venv/bin/python bench/passphrases.py [--users 100] [--hub-log PATH]

For each bcrypt cost of generated passphrases it starts deploy/jupyterhub_config.py in a
JupyterHub subprocess on loopback (SQLite, servers as local processes), creates USERS users in
one `POST /hub/api/users`, collects their passphrases through `POST /hub/api/admin/credentials`
(which waits until they are issued) and prints the seconds from the creation request to the
last passphrase in hand, and the hub's worst event-loop lag meanwhile, in two parts: the
stalls that began before `POST /hub/api/users` answered (JupyterHub creating the users in one
synchronous stretch, the same work at every cost) and those that began after it (issuing the
passphrases: hashing on the worker thread, one commit per account, and the collection). The
lag comes from the hub's own log: with STELLARS_LOOP_STALL_REPORT_MS at 10 the hub logs every
lag of 10 ms or more when the loop wakes, so a stall began its lag before that line; it also
logs the stack that held the loop (bench/loop_watch.py prints where, and how the loop's thread
spent the time: on a CPU, waiting for one, or off it). An idle loop in another process shows
what the machine's load alone does. The bench also reads the cost back from the stored hashes
and logs one user in with their passphrase through NativeAuthenticator's form.

The runs, in one invocation:
- baseline: bcrypt's default cost 12 for generated passphrases, as before (a bench-only
  switch: a config file that loads deploy/'s after making the store hash at 12);
- as deployed: the composition passes the policy's entropy, so the cost follows from it
  (the default policy's 50.3 bits: cost 4);
- the least entropy any accepted policy has (44 bits: cost 8), the same bench-only way.

Bars (2-core machine): all passphrases ready within 5 s, event-loop lag <= 50 ms. Traffic goes
to 127.0.0.1 only; the numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loop_watch import LATE, LINE_TIME, bystander_lag, print_stalls
from tests.backends.hub import JupyterHubProcess
from tests.backends.platform import ADMIN_PASSWORD, DEPLOY_CONFIG, HubClient, platform_env

from stellars.adapters.auth.credentials import DEFAULT_COST, generated_passphrase_cost
from stellars.adapters.passwords import XkcdPasswordGenerator
from stellars.domain.credentials import PassphrasePolicy

BAR_READY_SECONDS = 5.0
BAR_LAG_MS = 50.0
LAG_REPORT_MS = 10  # the hub logs every event-loop lag from this many milliseconds on
COLLECT_LIMIT_SECONDS = 300.0

# A bench-only hub configuration: deploy/'s, with the credential store's cost for generated
# passphrases set to COST first.
FORCED_COST_CONFIG = """
import stellars.adapters.auth as auth


class ForcedCostStore(auth.NativeCredentialStore):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.generated_cost = {cost}


auth.NativeCredentialStore = ForcedCostStore  # deploy/ imports it from here
load_subconfig({deploy!r})
"""


@dataclass(frozen=True)
class Run:
    label: str
    cost: int | None  # None: as deployed


@dataclass(frozen=True)
class Result:
    label: str
    stored_costs: frozenset[int]
    ready_seconds: float
    collected: int
    creating_lag_ms: float | None  # stalls begun before POST /hub/api/users answered
    issuing_lag_ms: float | None  # stalls begun after it (None: none of LAG_REPORT_MS or more)
    bystander_ms: float | None
    login_ok: bool
    log_path: Path  # the hub's log, kept until the report is printed
    since: datetime
    until: datetime


def lag_text(lag_ms: float | None) -> str:
    return f"<{LAG_REPORT_MS} ms" if lag_ms is None else f"{lag_ms:.0f} ms"


def logged_stalls(log_text: str, since: datetime, until: datetime) -> list[tuple[datetime, int]]:
    """(when the stall began, its lag in ms) for each lag the hub logged between the two."""
    stalls = []
    for line in log_text.splitlines():
        stamp, late = LINE_TIME.match(line), LATE.search(line)
        if stamp is None or late is None:
            continue
        logged = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S.%f")
        lag = int(late.group(1))
        if since <= logged <= until:
            stalls.append((logged - timedelta(milliseconds=lag), lag))
    return stalls


def worst(lags: list[int]) -> float | None:
    return float(max(lags)) if lags else None


def stored_costs(db_file: Path, names: list[str]) -> frozenset[int]:
    """The bcrypt costs in NativeAuthenticator's rows of these users ($2b$NN$...)."""
    wanted = set(names)
    with sqlite3.connect(db_file) as connection:
        rows = connection.execute("SELECT username, password FROM users_info").fetchall()
    return frozenset(int(bytes(hashed)[4:6]) for name, hashed in rows if name in wanted)


def config_for(run: Run, workdir: Path) -> Path:
    if run.cost is None:
        return DEPLOY_CONFIG
    path = workdir / "jupyterhub_config.py"
    path.write_text(FORCED_COST_CONFIG.format(cost=run.cost, deploy=str(DEPLOY_CONFIG)))
    return path


def measure(run: Run, users: int, logs: Path) -> Result:
    with tempfile.TemporaryDirectory(prefix="stellars-bench-passphrases-") as workdir:
        data = Path(workdir) / "data"
        env = platform_env(
            data,
            JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
            STELLARS_SPAWNER="local",
            JUPYTERHUB_ACTIVITYMON_SAMPLE_INTERVAL="86400",  # no sampler tick in the way
            STELLARS_LOOP_STALL_REPORT_MS=str(LAG_REPORT_MS),
        )
        config = config_for(run, Path(workdir))
        with JupyterHubProcess(config, env, workdir=Path(workdir) / "hub") as hub:
            admin = HubClient(hub.public_url)
            admin.login("admin", ADMIN_PASSWORD)
            admin.page("/home")  # the XSRF cookie, before the clock starts
            names = [f"learner{index:03d}" for index in range(users)]
            time.sleep(2)  # let the start-up's work settle
            since = datetime.now()
            with bystander_lag() as bystander:
                started = time.perf_counter()
                created = admin.api("POST", "/users", json={"usernames": names}, timeout=120)
                created.raise_for_status()
                answered = datetime.now()
                found: dict[str, str] = {}
                while len(found) < len(names):
                    if time.perf_counter() - started > COLLECT_LIMIT_SECONDS:
                        break
                    waiting = [name for name in names if name not in found]
                    answer = admin.api(
                        "POST", "/admin/credentials", json={"usernames": waiting}, timeout=300
                    )
                    answer.raise_for_status()
                    found.update(
                        (entry["username"], entry["password"])
                        for entry in answer.json()["credentials"]
                    )
                ready = time.perf_counter() - started
            until = datetime.now()
            stalls = logged_stalls(hub.log_path.read_text(errors="replace"), since, until)
            login_ok = False
            if found:
                name = sorted(found)[0]
                learner = HubClient(hub.public_url)
                try:
                    learner.login(name, found[name])
                    login_ok = True
                except AssertionError:
                    login_ok = False
            costs = stored_costs(data / "jupyterhub.sqlite", names)
            kept = logs / f"hub.{run.cost or 'deployed'}.log"
            shutil.copyfile(hub.log_path, kept)
    return Result(
        label=run.label,
        stored_costs=costs,
        ready_seconds=ready,
        collected=len(found),
        creating_lag_ms=worst([lag for began, lag in stalls if began <= answered]),
        issuing_lag_ms=worst([lag for began, lag in stalls if began > answered]),
        bystander_ms=bystander[0] * 1000 if bystander else None,
        login_ok=login_ok,
        log_path=kept,
        since=since,
        until=until,
    )


def report(results: list[Result], users: int) -> None:
    print(f"{users} users created in one request, passphrases collected until all are in:")
    print(
        f"{'generated passphrases hashed at':<44} {'cost':>4} {'ready':>7} {'got':>4} "
        f"{'lag: creating':>14} {'issuing':>8} {'idle loop':>10} {'login':>6}"
    )
    for result in results:
        costs = ",".join(str(cost) for cost in sorted(result.stored_costs)) or "?"
        idle = f"{result.bystander_ms:.0f} ms" if result.bystander_ms is not None else "?"
        print(
            f"{result.label:<44} {costs:>4} {result.ready_seconds:6.2f}s {result.collected:>4} "
            f"{lag_text(result.creating_lag_ms):>14} {lag_text(result.issuing_lag_ms):>8} "
            f"{idle:>10} {'ok' if result.login_ok else 'FAILED':>6}"
        )
    for result in results:
        print(f"{result.label}: ", end="")
        print_stalls(result.log_path, result.since, result.until)
    for result in results[1:]:
        ready = result.ready_seconds <= BAR_READY_SECONDS and result.collected == users
        print(
            f"bar ({result.label}): ready {result.ready_seconds:.2f} s <= "
            f"{BAR_READY_SECONDS:.0f} s: {'met' if ready else 'MISSED'}"
        )
        for part, lag in (
            ("creating the users", result.creating_lag_ms),
            ("issuing the passphrases", result.issuing_lag_ms),
        ):
            verdict = "met" if (lag or 0.0) <= BAR_LAG_MS else "MISSED"
            print(f"  lag while {part}: {lag_text(lag)} <= {BAR_LAG_MS:.0f} ms: {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--hub-log", help="keep each hub's log as PATH.hub.<cost>.log")
    args = parser.parse_args()
    policy = PassphrasePolicy()
    default_bits = policy.entropy_bits(XkcdPasswordGenerator().vocabulary_size(policy))
    runs = [
        Run(f"baseline: bcrypt's default cost {DEFAULT_COST}", DEFAULT_COST),
        Run(f"as deployed (the default policy's {default_bits:.1f} bits)", None),
        Run("the weakest policy accepted (44 bits)", generated_passphrase_cost(44.0)),
    ]
    with tempfile.TemporaryDirectory(prefix="stellars-bench-passphrases-logs-") as logs:
        results = [measure(run, args.users, Path(logs)) for run in runs]
        report(results, args.users)
        if args.hub_log:
            for result in results:
                shutil.copyfile(result.log_path, f"{args.hub_log}.{result.log_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
