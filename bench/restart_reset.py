"""Benchmark: the hub's worst event-loop lag while 10 servers restart and 10 users reset their
volumes at once, beside the original's pattern (a blocking restart on the event loop) in the
same run, on the same engine and the same containers.

    .venv/bin/python bench/restart_reset.py [--servers 10] [--resets 10] [--repeat 3]
        [--time-limit 3600] [--hub-log PATH] [--hub-niceness N] [--hub-loop-realtime]
        [--report-ms MS]
        [--asyncio-debug]

Set-up: deploy/jupyterhub_config.py in a JupyterHub subprocess with DockerSpawner and the
project's lab image (built offline if needed); SERVERS users whose servers run (started
START_AT_ONCE at a time, reused by every repetition) and RESETS other users, stopped, whose three
volumes (home, workspace, cache) the bench creates before each window.

Each repetition:

- Platform. After QUIET_SECONDS without load (so the hub's loop-lag window, 60 s, has forgotten
  everything before), and longer while the hub's last minute still has a lag over the bar
  (labs the original's pattern restarted may still be booting), one request per user at once:
  `POST /hub/api/users/{u}/restart-server` for the running ones and
  `DELETE /hub/api/users/{u}/manage-volumes` (all three volumes) for the stopped ones. The
  hub's worst event-loop lag is its own `stellars_event_loop_lag_max_seconds` (LoopLagMonitor
  inside the hub: lateness of a 50 ms sleep, worst over the last 60 s), read every few seconds
  during the window and right after it; the figure is the worst reading.
  Checked: every restart answered 200, every reset removed its three volumes (its answer and
  the engine's listing), and every lab answers through the proxy right afterwards.
- Original's pattern. The same work as the original platform did it: each request's handler
  calls the docker SDK synchronously (`container.restart()`, `volume.remove()`) inside a
  coroutine on the event loop. Here the loop is a small asyncio loop in the bench process with
  the same LoopLagMonitor; its worst lag is printed beside the platform's. The hub's own
  metric over that window (the hub does nothing then) shows how late the hub's loop runs
  from the machine's load alone.

Beside the hub's figure, for the same window: the worst lag of an idle event loop in another
process (the machine's load alone) and the CPU time the hypervisor took from this virtual
machine (steal, from /proc/stat: in all, and the most one CPU lost in a 100 ms slice).
`--hub-loop-realtime` (root only) sets STELLARS_HUB_LOOP_REALTIME: the hub's event-loop thread
alone runs under the kernel's round-robin real-time policy at the lowest priority (SCHED_RR 1),
so it never waits behind ordinary tasks for a CPU; the table shows the policy the kernel has
for that thread.
`--hub-niceness` runs the hub at another scheduling priority (root only below 0), to tell the
hub's own stalls from the machine's.

The hub logs every stall over the bar (or `--report-ms`) with the stack its loop was blocked
in and where the loop thread's time went: on a CPU (its own work), waiting for a CPU (the
machine's load) or off the CPU (I/O, a lock, the GIL) (STELLARS_LOOP_STALL_REPORT_MS); the
bench prints where they were at the end.

The bar: the platform's worst lag <= 50 ms. Numbers are printed, never asserted. All HTTP
traffic goes to 127.0.0.1 (one request per user per window, a metric read every few seconds);
every container and volume the bench created, and its working directory, are removed at the
end, also when interrupted (Ctrl-C, SIGTERM) or past --time-limit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # for tests.backends and tooling when run as a script

import docker  # noqa: E402
import docker.errors  # noqa: E402
import requests  # noqa: E402
from loop_watch import bystander_lag, cpu_steal, print_stalls  # noqa: E402
from tests.backends import JupyterHubProcess, docker_client, ensure_lab_image, free_port  # noqa: E402
from tests.backends.platform import (  # noqa: E402
    ADMIN_PASSWORD,
    DEPLOY_CONFIG,
    HubClient,
    platform_env,
)
from tooling.run import gateway  # noqa: E402

from stellars.adapters.jupyterhub.hub_process import LoopLagMonitor  # noqa: E402

BAR_LAG_MS = 50.0
START_AT_ONCE = 3  # servers started together during set-up (2-core machine)
QUIET_SECONDS = 61.0  # longer than the hub's loop-lag window (60 s)
SETTLE_LIMIT_SECONDS = 180.0  # more quiet, at most, while the last minute still has stalls
METRIC_EVERY = 5.0  # seconds between two reads of the hub's metric during a window
WINDOW_TIMEOUT = 900.0  # the longest one request may take before the bench gives up
# Ten labs starting at once on two shared cores take minutes, longer than the default deadline
# (120 s) of a restart; the deployer's JUPYTERHUB_SPAWN_TIMEOUT sets it.
SPAWN_TIMEOUT = "600"
SHARED_VOLUME = "jupyterhub_shared"
LABELS = ("home", "workspace", "cache")
LAG_METRIC = re.compile(r"^stellars_event_loop_lag_max_seconds ([0-9.e+-]+)$", re.MULTILINE)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def volume_names(user: str) -> list[str]:
    return [f"jupyterlab-{user}_{label}" for label in LABELS]


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not after {timeout:g} s")
        time.sleep(0.5)


class Hub:
    """The hub under test, reached as its admin with an API token (no cookies, no XSRF)."""

    def __init__(self, process: JupyterHubProcess, admin: str) -> None:
        self.process = process
        browser = HubClient(process.public_url)
        browser.login(admin, ADMIN_PASSWORD)
        self.token = browser.new_token(admin)  # the admin's own permissions
        self.client = HubClient(process.public_url, self.token)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One API request on a session of its own (requests' sessions are not thread-safe)."""
        kwargs.setdefault("timeout", WINDOW_TIMEOUT)
        return requests.request(
            method,
            self.client.url(f"/api{path}"),
            headers={"Authorization": f"token {self.token}"},
            **kwargs,
        )

    def lag_seconds(self) -> float:
        """The hub's worst event-loop lag over the last 60 s, from its own metric."""
        text = requests.get(
            self.client.url("/metrics"),
            headers={"Authorization": f"token {self.token}"},
            timeout=30,
        ).text
        match = LAG_METRIC.search(text)
        if match is None:
            raise RuntimeError("the hub's /hub/metrics has no stellars_event_loop_lag_max_seconds")
        return float(match.group(1))

    def server(self, user: str) -> dict[str, Any]:
        model = self.call("GET", f"/users/{user}", timeout=30).json()
        return dict((model.get("servers") or {}).get("") or {})

    def start(self, user: str) -> None:
        answer = self.call("POST", f"/users/{user}/server", timeout=60)
        if answer.status_code not in {201, 202}:
            raise RuntimeError(f"start of {user}: {answer.status_code} {answer.text}")
        wait_until(lambda: bool(self.server(user).get("ready")), 300, f"{user}'s server ready")

    def stop(self, user: str) -> None:
        self.call("DELETE", f"/users/{user}/server", timeout=60)
        wait_until(lambda: not self.server(user), 120, f"{user}'s server stopped")

    def lab_answers(self, user: str) -> bool:
        """Whether the user's lab answers its API through the proxy."""
        try:
            answer = requests.get(
                f"{self.process.public_url}/user/{user}/api/status",
                headers={"Authorization": f"token {self.token}"},
                allow_redirects=False,
                timeout=10,
            )
        except requests.RequestException:
            return False
        return answer.status_code == 200


# A bystander: an idle asyncio loop in a process of its own, with the hub's LoopLagMonitor, run
# during the platform's window; its worst lag is what the machine's load alone (ten labs booting
# on shared cores, the other processes) does to any event loop, the hub's included.
@contextlib.contextmanager
def lag_readings(hub: Hub) -> Iterator[list[tuple[float, float]]]:
    """The hub's metric read every METRIC_EVERY seconds while the block runs, and once after:
    (seconds into the block, worst lag of the 60 s before) pairs."""
    readings: list[tuple[float, float]] = []
    done = threading.Event()
    started = time.perf_counter()

    def read() -> None:
        while not done.wait(METRIC_EVERY):
            with contextlib.suppress(requests.RequestException):
                lag = hub.lag_seconds()
                readings.append((time.perf_counter() - started, lag))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield readings
    finally:
        done.set()
        reader.join()
        lag = hub.lag_seconds()
        readings.append((time.perf_counter() - started, lag))


def platform_window(
    hub: Hub, client: docker.DockerClient, running: list[str], stopped: list[str]
) -> dict[str, Any]:
    """Every restart and every reset requested at once through the platform's routes."""
    idle = hub.lag_seconds()  # the 60 s before the window: should be quiet

    def restart(user: str) -> tuple[str, float, bool]:
        started = time.perf_counter()
        answer = hub.call("POST", f"/users/{user}/restart-server")
        ok = answer.status_code == 200
        if not ok:
            print(f"  restart of {user}: {answer.status_code} {answer.text}", file=sys.stderr)
        return "restart", time.perf_counter() - started, ok

    def reset(user: str) -> tuple[str, float, bool]:
        started = time.perf_counter()
        answer = hub.call("DELETE", f"/users/{user}/manage-volumes", json={"volumes": LABELS})
        ok = answer.status_code == 200 and sorted(answer.json().get("reset_volumes", ())) == sorted(
            LABELS
        )
        if not ok:
            print(f"  reset of {user}: {answer.status_code} {answer.text}", file=sys.stderr)
        return "reset", time.perf_counter() - started, ok

    started = time.perf_counter()
    since = datetime.now()
    with (
        bystander_lag() as bystander,
        cpu_steal() as steal,
        lag_readings(hub) as readings,
        ThreadPoolExecutor(len(running) + len(stopped)) as pool,
    ):
        futures = [pool.submit(restart, user) for user in running]
        futures += [pool.submit(reset, user) for user in stopped]
        results = [future.result() for future in futures]
    window = time.perf_counter() - started
    until = datetime.now()
    worst = max(lag for _, lag in readings)
    # The first reading that showed the worst: the stall happened in the METRIC_EVERY seconds
    # before it (each reading is the worst of the last 60 s).
    first_seen = min(at for at, lag in readings if lag == worst)
    return {
        "idle lag": idle,
        "lag": worst,
        "worst seen at": f"+{first_seen:.0f} s",
        "bystander lag": bystander[0] if bystander else float("nan"),
        "steal": steal,
        "window": window,
        "restart times": [took for kind, took, _ in results if kind == "restart"],
        "reset times": [took for kind, took, _ in results if kind == "reset"],
        "failures": sum(not ok for _, _, ok in results),
        "serving after": sum(hub.lab_answers(user) for user in running),
        "volumes left": volumes_left(client, stopped),
        "since": since,
        "until": until,
    }


def blocking_window(
    client: docker.DockerClient, running: list[str], stopped: list[str]
) -> dict[str, Any]:
    """The original's pattern: each request's coroutine calls the docker SDK synchronously on
    the event loop; the loop's lag measured as the hub measures its own."""
    names = [f"jupyterlab-{user}" for user in running]
    calls: list[float] = []
    failures: list[str] = []

    async def restart(name: str) -> None:
        await asyncio.sleep(0)  # a request arrives, then its handler runs
        started = time.perf_counter()
        try:  # blocks the loop, as the original's handler did
            client.containers.get(name).restart(timeout=10)
        except docker.errors.APIError as error:
            failures.append(f"restart of {name}: {error}")
        calls.append(time.perf_counter() - started)

    async def reset(user: str) -> None:
        await asyncio.sleep(0)
        started = time.perf_counter()
        for name in volume_names(user):
            try:
                client.volumes.get(name).remove()  # blocks the loop too
            except docker.errors.APIError as error:
                failures.append(f"removal of {name}: {error}")
        calls.append(time.perf_counter() - started)

    async def window() -> tuple[float, float]:
        monitor = LoopLagMonitor(interval=0.05, window=3600.0)
        monitor.start()
        await asyncio.sleep(1.0)  # the monitor's idle figure first
        idle = monitor.worst
        await asyncio.gather(*(restart(name) for name in names), *(reset(u) for u in stopped))
        await asyncio.sleep(0.2)  # the monitor wakes, late, and records the stall
        await monitor.stop()
        return idle, monitor.worst

    started = time.perf_counter()
    idle, worst = asyncio.run(window())
    for failure in failures:
        print(f"  {failure}", file=sys.stderr)
    return {
        "idle lag": idle,
        "lag": worst,
        "window": time.perf_counter() - started - 1.2,
        "longest call": max(calls),
        "failures": len(failures),
    }


def volumes_left(client: docker.DockerClient, users: list[str]) -> int:
    """How many of the users' volumes the engine still lists."""
    wanted = {name for user in users for name in volume_names(user)}
    return sum(volume.name in wanted for volume in client.volumes.list())


def missing_containers(client: docker.DockerClient, users: list[str]) -> list[str]:
    """The users whose container does not run (gone, or stopped)."""
    running = {c.name for c in client.containers.list(filters={"status": "running"})}
    return [user for user in users if f"jupyterlab-{user}" not in running]


def ensure_running(hub: Hub, client: docker.DockerClient, users: list[str]) -> int:
    """Start again (START_AT_ONCE at a time) the servers whose container is gone; how many."""
    missing = missing_containers(client, users)

    def again(user: str) -> None:
        hub.stop(user)
        hub.start(user)

    with ThreadPoolExecutor(START_AT_ONCE) as pool:
        list(pool.map(again, missing))
    return len(missing)


def summary(result: dict[str, Any]) -> str:
    return ", ".join(
        f"{key} {ms(value) if isinstance(value, float) else value}"
        for key, value in result.items()
        if not isinstance(value, list | dict | datetime)
    )


def make_volumes(client: docker.DockerClient, users: list[str]) -> None:
    for user in users:
        for name in volume_names(user):
            client.volumes.create(name)


def quiet(seconds: float = QUIET_SECONDS) -> None:
    print(f"  quiet for {seconds:.0f} s (the hub's lag window forgets)", flush=True)
    time.sleep(seconds)


def settled(hub: Hub) -> None:
    """Quiet until the hub's metric, the worst lag of the last 60 s, is under the bar, so that
    what the window reads is the window's own: labs that the original's pattern restarted may
    still be booting after QUIET_SECONDS. At most SETTLE_LIMIT_SECONDS more."""
    quiet()
    waited = 0.0
    while hub.lag_seconds() * 1000 > BAR_LAG_MS and waited < SETTLE_LIMIT_SECONDS:
        time.sleep(METRIC_EVERY)
        waited += METRIC_EVERY
    if waited:
        print(f"  and {waited:.0f} s more, until the hub's last minute was under the bar")


def measure(args: argparse.Namespace, tag: str, rows: list[tuple[str, str]]) -> None:
    client = docker_client()
    image = ensure_lab_image(client)
    bridge = gateway(client, "bridge")
    if not bridge:
        raise SystemExit("the default bridge network has no gateway")
    admin = f"benchadm{tag}"
    running = [f"bench{tag}r{index:02d}" for index in range(args.servers)]
    stopped = [f"bench{tag}s{index:02d}" for index in range(args.resets)]
    shared_existed = bool(client.volumes.list(filters={"name": SHARED_VOLUME}))
    work = Path(tempfile.mkdtemp(prefix="stellars-bench-restart-"))
    env = platform_env(
        work / "data",
        JUPYTERHUB_ADMIN=admin,
        JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
        STELLARS_SPAWNER="docker",
        JUPYTERHUB_NOTEBOOK_IMAGE=image,
        JUPYTERHUB_HUB_BIND_URL=f"http://{bridge}:{free_port(bridge)}",
        JUPYTERHUB_SPAWN_TIMEOUT=SPAWN_TIMEOUT,
        # Every stall above the bar (or --report-ms) is logged with the stack that blocked the
        # loop and where the loop thread's time went.
        STELLARS_LOOP_STALL_REPORT_MS=str(args.report_ms),
    )
    if args.hub_loop_realtime:
        env["STELLARS_HUB_LOOP_REALTIME"] = "1"
    if args.asyncio_debug:  # diagnosis: the hub logs every callback that holds its loop 100 ms
        env["PYTHONASYNCIODEBUG"] = "1"
    process = JupyterHubProcess(
        DEPLOY_CONFIG, env, workdir=work / "hub", niceness=args.hub_niceness
    )
    rows.append(("lab image", image))
    platform: list[dict[str, Any]] = []
    try:
        process.start()
        hub = Hub(process, admin)
        created = hub.call("POST", "/users", json={"usernames": running + stopped}, timeout=60)
        created.raise_for_status()
        started = time.perf_counter()
        pid = process.process.pid if process.process else None
        niceness = niceness_of(pid) if pid else None
        rows.append(("hub's niceness (scheduling priority; 0 is the default)", f"{niceness}"))
        # The loop runs on the hub's main thread, whose id is the process id.
        policy = os.sched_getscheduler(pid) & ~os.SCHED_RESET_ON_FORK if pid else None
        loop_policy = "SCHED_RR 1" if policy == os.SCHED_RR else "ordinary"
        rows.append(("hub's loop thread: scheduling policy", loop_policy))
        print(
            f"hub pid {pid}, niceness {niceness}; starting "
            f"{len(running)} servers, {START_AT_ONCE} at a time",
            flush=True,
        )
        with ThreadPoolExecutor(START_AT_ONCE) as pool:
            list(pool.map(hub.start, running))
        rows.append(
            (f"set-up: {len(running)} servers started", f"{time.perf_counter() - started:.0f} s")
        )

        blocking: list[dict[str, Any]] = []
        hub_during_blocking: list[float] = []
        for repetition in range(1, args.repeat + 1):
            print(f"repetition {repetition} of {args.repeat}", flush=True)
            restarted = ensure_running(hub, client, running)
            if restarted:
                print(f"  started {restarted} lost server(s) again", flush=True)
            make_volumes(client, stopped)
            settled(hub)
            print("  platform: restarts and resets at once", flush=True)
            mine = platform_window(hub, client, running, stopped)
            mine["lost"] = len(missing_containers(client, running))
            platform.append(mine)
            print(f"  {summary(mine)}", flush=True)
            quiet()
            make_volumes(client, stopped)
            print("  original's pattern: blocking calls on a loop", flush=True)
            theirs = blocking_window(client, running, stopped)
            time.sleep(5)  # the engine finishes what the blocked restarts left (auto-removals)
            theirs["lost"] = len(missing_containers(client, running))
            theirs["volumes left"] = volumes_left(client, stopped)
            blocking.append(theirs)
            hub_during_blocking.append(hub.lag_seconds())
            print(f"  {summary(theirs)}", flush=True)
            # The next platform window heals the routes that the bare restarts left stale.

        report(rows, platform, blocking, hub_during_blocking, len(running), len(stopped))
    finally:
        process.stop()
        if process.log_path.exists():
            for index, mine in enumerate(platform, start=1):
                print(f"#{index} platform window: ", end="")
                print_stalls(process.log_path, mine["since"], mine["until"])
        rows.append(("cleaned up", cleanup(client, tag, shared_existed)))
        client.close()
        if args.hub_log is not None and process.log_path.exists():
            shutil.copyfile(process.log_path, args.hub_log)
            rows.append(("hub's log kept at", str(args.hub_log)))
        shutil.rmtree(work, ignore_errors=True)


def report(
    rows: list[tuple[str, str]],
    platform: list[dict[str, Any]],
    blocking: list[dict[str, Any]],
    hub_during_blocking: list[float],
    servers: int,
    resets: int,
) -> None:
    what = f"{servers} restarts + {resets} resets at once"
    for index, (mine, theirs, floor) in enumerate(
        zip(platform, blocking, hub_during_blocking, strict=True), start=1
    ):
        rows.append(
            (
                f"#{index} platform: hub's worst loop lag, {what}",
                f"{ms(mine['lag'])} (first read {mine['worst seen at']} into the window)",
            )
        )
        rows.append(
            (
                f"#{index} platform: an idle loop in another process, same window (load alone)",
                ms(mine["bystander lag"]),
            )
        )
        steal = mine["steal"]
        if steal:
            rows.append(
                (
                    f"#{index} platform: CPU taken by the hypervisor (steal): total / worst "
                    "100 ms slice of one CPU",
                    f"{steal['total_ms']:.0f} ms / {steal['worst_slice_ms']:.0f} ms",
                )
            )
        rows.append(
            (f"#{index} original's pattern: loop lag (blocking on the loop)", ms(theirs["lag"]))
        )
        rows.append(
            (
                f"#{index} platform: window / restart p50, max / reset p50, max",
                f"{mine['window']:.1f} s / "
                f"{ms(statistics.median(mine['restart times']))}, "
                f"{ms(max(mine['restart times']))} / "
                f"{ms(statistics.median(mine['reset times']))}, {ms(max(mine['reset times']))}",
            )
        )
        rows.append(
            (
                f"#{index} platform: failed requests / labs answering / containers lost / "
                "volumes left",
                f"{mine['failures']} / {mine['serving after']} of {servers} / {mine['lost']} / "
                f"{mine['volumes left']}",
            )
        )
        rows.append(
            (
                f"#{index} original's pattern: window / longest blocking call / failed / "
                "lost / volumes left",
                f"{theirs['window']:.1f} s / {ms(theirs['longest call'])} / "
                f"{theirs['failures']} / {theirs['lost']} / {theirs['volumes left']}",
            )
        )
        rows.append(
            (
                f"#{index} idle lag before: hub / bench loop",
                f"{ms(mine['idle lag'])} / {ms(theirs['idle lag'])}",
            )
        )
        rows.append((f"#{index} hub's own lag while the bench blocked its loop", ms(floor)))
    worst = max(mine["lag"] for mine in platform)
    verdict = "met" if worst * 1000 <= BAR_LAG_MS else "MISSED"
    rows.append(("bar: platform's worst loop lag <= 50 ms", f"{ms(worst)}: {verdict}"))
    rows.append(
        (
            "original's pattern: worst loop lag",
            f"{ms(max(theirs['lag'] for theirs in blocking))}",
        )
    )


def cleanup(client: docker.DockerClient, tag: str, shared_existed: bool) -> str:
    """Remove every container and volume named with this run's tag (and the shared volume when
    this run created it)."""
    containers = client.containers.list(all=True, filters={"name": tag})
    for container in containers:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            container.remove(force=True)
    volumes = [v for v in client.volumes.list(filters={"name": tag}) if tag in v.name]
    if not shared_existed:
        volumes += client.volumes.list(filters={"name": SHARED_VOLUME})
    for volume in volumes:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            volume.remove(force=True)
    return f"{len(containers)} container(s), {len(volumes)} volume(s)"


def print_table(rows: list[tuple[str, str]]) -> None:
    if not rows:
        return
    width = max(len(label) for label, _ in rows)
    value_width = max(len(value) for _, value in rows)
    rule = f"+-{'-' * width}-+-{'-' * value_width}-+"
    print(rule)
    for label, value in rows:
        print(f"| {label:<{width}} | {value:>{value_width}} |")
    print(rule)


class OutOfTime(KeyboardInterrupt):
    """The run took longer than --time-limit (ends it as Ctrl-C does, clean-up included)."""


def interrupted(signum: int, frame: object) -> None:
    """SIGTERM ends the run through the same clean-up as Ctrl-C."""
    raise KeyboardInterrupt


def out_of_time(signum: int, frame: object) -> None:
    raise OutOfTime("past --time-limit; cleaning up")


def niceness_of(pid: int) -> int:
    """The niceness of process `pid` as the kernel has it (field 19 of /proc/PID/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[16])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--servers", type=int, default=10, help="running servers to restart")
    parser.add_argument("--resets", type=int, default=10, help="stopped users to reset")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--time-limit",
        type=int,
        default=3600,
        help="seconds after which the run stops and cleans up (0: none)",
    )
    parser.add_argument("--hub-log", type=Path, help="keep a copy of the hub's log there")
    parser.add_argument(
        "--hub-niceness",
        type=int,
        default=0,
        help="run the hub at this niceness: below 0 (root only) the hub is scheduled before "
        "the engine and the labs, as a deployment gives its hub CPU priority",
    )
    parser.add_argument(
        "--hub-loop-realtime",
        action="store_true",
        help="set STELLARS_HUB_LOOP_REALTIME: the hub's event-loop thread (only) runs under "
        "SCHED_RR at priority 1 (root only)",
    )
    parser.add_argument(
        "--report-ms",
        type=int,
        default=int(BAR_LAG_MS),
        help="the hub logs each stall at least this long, with its stack and where the loop "
        "thread's time went (default: the bar); lower it to see what stays under the bar",
    )
    parser.add_argument(
        "--asyncio-debug",
        action="store_true",
        help="run the hub in asyncio's debug mode (slow callbacks logged; slower: diagnosis only)",
    )
    args = parser.parse_args()
    if min(args.servers, args.resets, args.repeat, args.report_ms) < 1:
        parser.error("--servers, --resets, --repeat and --report-ms must be at least 1")
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(max(args.time_limit, 0))
    rows: list[tuple[str, str]] = []
    try:
        measure(args, secrets.token_hex(3), rows)
    finally:
        print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
