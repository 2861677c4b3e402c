"""Benchmark: a broadcast to 50 (or 200) running servers, and the sequential pattern beside it.

    .venv/bin/python bench/broadcast.py [--servers 50] [--repeats 5] [--bar 2] [--concurrency N]
                                        [--baseline]

Starts deploy/jupyterhub_config.py in a JupyterHub subprocess on loopback whose servers are
lightweight local processes speaking the notifications extension's ingest API
(tests/backends/lab_stand_in.py: a 2-core machine does not hold 50 JupyterLab containers; the
real extension is exercised by tests/integration/test_notifications.py). Every delivery goes
through the platform's transport, with the server's own API token (see
adapters/jupyterhub/hub_objects/notifications.py). The stand-ins check each credential with the
hub on every ingest (a real lab caches its check for five minutes): the worst case for the hub.

It prints the time until the whole report comes back for one broadcast to every server (median
of REPEATS), and, in the same run, the sequential pattern: the same servers notified one after
another (one broadcast per recipient). With `--baseline`, a hub of the earlier design first (a
token minted and deleted around every delivery), the same number of servers, the same
broadcasts, and the two medians side by side. Bars: report complete <= 2 s for 50 servers (the
first bar), <= 1 s for 200 (issue 22: `--servers 200 --bar 1`). Traffic goes to 127.0.0.1 only;
the numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.backends.hub import JupyterHubProcess
from tests.backends.lab_stand_in import received, render_config
from tests.backends.platform import ADMIN_PASSWORD, HubClient, platform_env

BAR_SECONDS = 2.0


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (user + system, all its threads), from /proc/PID/stat: the
    hub's own work, which the machine's load does not inflate as it does wall time."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_servers(admin: HubClient, names: list[str]) -> None:
    def start(name: str) -> None:
        answer = admin.api("POST", f"/users/{name}/server")
        assert answer.status_code in {201, 202}, answer.text

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(start, names))
    deadline = time.monotonic() + 300
    while True:
        running = admin.api("GET", "/notifications/active-servers").json()["servers"]
        if len(running) >= len(names):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(running)} of {len(names)} servers started")
        time.sleep(1)


def broadcast(admin: HubClient, body: dict) -> tuple[float, dict]:
    started = time.perf_counter()
    answer = admin.api("POST", "/notifications/broadcast", json=body)
    elapsed = time.perf_counter() - started
    answer.raise_for_status()
    return elapsed, answer.json()


#: Appended to the stand-ins' hub configuration for the baseline: the earlier design.
MINTED_PER_DELIVERY = """
from stellars.adapters.jupyterhub import LabNotificationTransport
LabNotificationTransport.use_server_token = False
"""


def measure(args: argparse.Namespace, *, minted: bool, sequential: bool) -> float:
    """One hub with `args.servers` stand-ins: the median time of a broadcast to all of them
    (printed with the rest of the figures); `minted`: the earlier design's credentials."""
    with tempfile.TemporaryDirectory(prefix="stellars-bench-broadcast-") as workdir:
        root = Path(workdir)
        data = root / "data"
        env = platform_env(
            data,
            JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
            STELLARS_SPAWNER="local",
            JUPYTERHUB_ACTIVITYMON_SAMPLE_INTERVAL="86400",
            **(
                {"STELLARS_BROADCAST_CONCURRENCY": str(args.concurrency)}
                if args.concurrency
                else {}
            ),
        )
        config = render_config(root / "config")
        if minted:
            config.write_text(config.read_text() + MINTED_PER_DELIVERY)
        with JupyterHubProcess(config, env, workdir=root / "hub", ready_timeout=120) as hub:
            admin = HubClient(hub.public_url)
            admin.login("admin", ADMIN_PASSWORD)
            names = [f"lab{index:03d}" for index in range(args.servers)]
            admin.api("POST", "/users", json={"usernames": names}).raise_for_status()
            started = time.perf_counter()
            start_servers(admin, names)
            print(f"{args.servers} servers started in {time.perf_counter() - started:.1f} s")
            broadcast(admin, {"message": "warm-up"})
            everyone = []
            cpu_before = cpu_seconds(hub.process.pid)
            for repeat in range(args.repeats):
                elapsed, report = broadcast(admin, {"message": f"to everyone {repeat}"})
                if report["successful"] != args.servers:
                    errors = Counter(d["error"] for d in report["details"] if d["error"])
                    raise SystemExit(f"{report['message']} in {elapsed:.1f} s: {dict(errors)}")
                everyone.append(elapsed)
            hub_cpu = (cpu_seconds(hub.process.pid) - cpu_before) / args.repeats
            median = statistics.median(everyone)
            spread = f"min {min(everyone) * 1000:.0f}, max {max(everyone) * 1000:.0f}"
            print(
                f"broadcast to {args.servers} servers, report complete: "
                f"median {median * 1000:.0f} ms ({spread}, n={args.repeats})"
            )
            print(f"the hub's CPU time per broadcast: {hub_cpu * 1000:.0f} ms")
            if sequential:
                started = time.perf_counter()
                for name in names:
                    _, report = broadcast(admin, {"message": "one by one", "recipients": [name]})
                    assert report["successful"] == 1, report["message"]
                elapsed = time.perf_counter() - started
                print(
                    f"sequential pattern, one server after another: {elapsed * 1000:.0f} ms "
                    f"({elapsed / median:.1f}x the broadcast)"
                )
            records = [record for name in names for record in received(data, name)]
            own = sum(1 for record in records if record.get("own_token"))
            print(
                f"notifications received by the servers: {len(records)}, "
                f"{own} with the server's own token"
            )
            for name in names:
                admin.api("DELETE", f"/users/{name}/server")
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--bar", type=float, default=BAR_SECONDS, help="seconds the report may take"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        help="STELLARS_BROADCAST_CONCURRENCY: servers contacted at once (the platform's default "
        "when not given)",
    )
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="first a hub of the earlier design (a token minted per delivery), for comparison",
    )
    args = parser.parse_args()
    print(f"servers contacted at once: {args.concurrency or 'the default number of'}")
    baseline = None
    if args.baseline:
        print("\nbaseline: a token minted and deleted around every delivery (the earlier design)")
        baseline = measure(args, minted=True, sequential=False)
        print("\nnow: the server's own API token")
    median = measure(args, minted=False, sequential=True)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"\nload average after the run: {load}")
    if baseline is not None:
        print(
            f"baseline {baseline * 1000:.0f} ms -> now {median * 1000:.0f} ms "
            f"({baseline / median:.1f}x faster)"
        )
    verdict = "met" if median <= args.bar else "MISSED"
    print(
        f"bar: broadcast to {args.servers} servers, report complete "
        f"{median:.2f} s <= {args.bar:g} s: {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
