"""Benchmark: group policies at spawn. What resolving a user's policies costs a spawn, with 200
groups and 10,000 users, and the hub's worst event-loop lag while 20 servers start at once with
policies applied, each beside a baseline measured in the same run.

    .venv/bin/python bench/policies.py [--groups 200] [--users 10000] [--per-user 4]
        [--spawns 20] [--skip-hub]

1. Resolution, in this process. Every group has a policy (limits, images, variables, a team
   volume, some a Docker grant, some an idle timeout); every user is in --per-user groups drawn
   at random. Per spawn, the pre-spawn hook asks the resolver for the policies of the user's
   groups and applies the rule (`PolicyResolver.effective_for_groups`), and the user routes look
   the user's groups up first (`effective_for`). Measured:
   - on the in-memory fakes: the domain rule and the service's lookup alone;
   - on a JupyterHub application initialised in this process (SQLite, 200 groups and 10,000
     users in its tables): the hub's ORM store and directory, as the hub runs them;
   - the baseline: what a spawn asked before policies (the built-in Docker-access groups only,
     and, on the hub, the directory's lookup of the user).
   Bar: <= 1 ms per spawn. Figures: mean, median and 99th percentile over every user.
2. The hub's loop during 20 concurrent spawns. deploy/jupyterhub_config.py in a JupyterHub
   subprocess whose servers are lightweight stand-ins (tests/backends/lab_stand_in.py: a
   2-core machine does not hold 20 JupyterLab containers; what a lab gets from its policies is
   checked on the engine in tests/integration/test_policies_docker.py). Baseline window: 20
   users in no group start at once. Policies window (after QUIET_SECONDS, so the hub's 60 s
   lag window forgot the first): 20 other users, each in --per-user of the groups with
   policies, start at once. The figure is the hub's own `stellars_event_loop_lag_max_seconds`
   (the worst lateness of its loop-lag monitor over the last 60 s), read during and right after
   each window, beside the worst lag of an idle loop in another process (the machine's load
   alone). Bar: worst lag <= 50 ms with policies. `--hub-loop-realtime` runs the hub with
   STELLARS_HUB_LOOP_REALTIME=1 (root only; the output says whether it took), as a host whose
   labs boot on few cores should (docs/operations.md); `make bench` runs both.

Numbers are printed, never asserted. HTTP goes to 127.0.0.1 only; the working directory goes at
the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # for tests.backends when run as a script

import requests  # noqa: E402
from jupyterhub import orm  # noqa: E402
from jupyterhub.app import JupyterHub  # noqa: E402
from loop_watch import bystander_lag  # noqa: E402
from tests.backends.hub import JupyterHubProcess  # noqa: E402
from tests.backends.lab_stand_in import render_config  # noqa: E402
from tests.backends.platform import ADMIN_PASSWORD, HubClient, platform_env  # noqa: E402

from stellars.adapters.jupyterhub import HubHandle, HubPolicyStore, InProcessHubDirectory  # noqa: E402
from stellars.adapters.memory import InMemoryHubDirectory, InMemoryPolicyStore  # noqa: E402
from stellars.domain.docker_access import DockerAccessGroups, docker_access_for  # noqa: E402
from stellars.domain.hub import HubUser  # noqa: E402
from stellars.domain.policies import GIB, GroupPolicy, Mount, PlatformDefaults  # noqa: E402
from stellars.domain.policy_documents import PROPERTY_KEY, policy_document, policy_entry  # noqa: E402
from stellars.domain.services import PolicyService  # noqa: E402

BAR_SPAWN_MS = 1.0
BAR_LAG_MS = 50.0
QUIET_SECONDS = 61.0  # longer than the hub's loop-lag window (60 s)
METRIC_EVERY = 2.0
IMAGES = ("lab:default", "lab:cuda", "lab:viz")
VOLUMES = {"jupyterlab-{username}_home": "/home/jovyan", "jupyterhub_shared": "/mnt/shared"}
ACCESS = DockerAccessGroups()
DEFAULTS = PlatformDefaults(image="lab:default", idle_timeout_seconds=3600, max_extension_hours=4)
LAG_METRIC = re.compile(r"^stellars_event_loop_lag_max_seconds ([0-9.e+-]+)$", re.MULTILINE)


def make_policy(index: int) -> GroupPolicy:
    """The policy of group `index`: a bit of everything, so resolution has work to do."""
    return GroupPolicy(
        group=f"group{index:03d}",
        cpu_limit=1 + index % 8,
        memory_limit=(1 + index % 16) * GIB,
        pids_limit=256 + index,
        images=(IMAGES[index % 3], IMAGES[(index + 1) % 3]),
        environment={f"TEAM_{index}": f"team {index}", "SHARED_HINT": str(index)},
        mounts=(Mount(f"team{index:03d}", f"/mnt/team{index:03d}", read_only=index % 2 == 0),),
        docker_socket=index % 50 == 0,
        idle_timeout_seconds=3600 + 60 * (index % 10) if index % 3 == 0 else None,
    )


def memberships(users: int, groups: int, per_user: int, seed: int = 20) -> dict[str, list[str]]:
    chooser = random.Random(seed)
    names = [f"group{index:03d}" for index in range(groups)]
    return {f"user{index:05d}": chooser.sample(names, per_user) for index in range(users)}


def service(store: Any, directory: Any) -> PolicyService:
    return PolicyService(
        store=store,
        directory=directory,
        defaults=lambda: DEFAULTS,
        allowed_images=IMAGES,
        volumes=VOLUMES,
        access_groups=ACCESS,
    )


def timed(calls: Sequence[Callable[[], Any]], loop: asyncio.AbstractEventLoop) -> list[float]:
    """Milliseconds each call's awaitable took, one after another."""
    times = []
    for call in calls:
        started = time.perf_counter()
        loop.run_until_complete(call())
        times.append((time.perf_counter() - started) * 1000)
    return times


def summary(label: str, times: list[float], bar: float | None = None) -> None:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    verdict = "" if bar is None else f"  (bar {bar:.0f} ms: {'met' if p99 <= bar else 'MISSED'})"
    print(
        f"  {label:<58} mean {statistics.fmean(times):.3f} ms  median "
        f"{statistics.median(times):.3f} ms  p99 {p99:.3f} ms{verdict}"
    )


def resolution_on_fakes(policies: list[GroupPolicy], members: dict[str, list[str]]) -> None:
    store = InMemoryPolicyStore(policy.group for policy in policies)
    loop = asyncio.new_event_loop()
    for policy in policies:
        loop.run_until_complete(store.put(policy))
    directory = InMemoryHubDirectory(
        [HubUser(name=name, groups=frozenset(groups)) for name, groups in members.items()]
    )
    resolver = service(store, directory)
    names = list(members)
    print("on the in-memory fakes (the domain rule and the service's lookup):")
    baseline = []
    for name in names:
        started = time.perf_counter()
        docker_access_for(members[name], ACCESS)
        baseline.append((time.perf_counter() - started) * 1000)
    summary("baseline: the built-in groups alone (before policies)", baseline)
    summary(
        "a spawn: effective_for_groups(the user's groups)",
        timed([lambda n=n: resolver.effective_for_groups(members[n]) for n in names], loop),
        BAR_SPAWN_MS,
    )
    summary(
        "the user routes: effective_for(user), with the lookup",
        timed([lambda n=n: resolver.effective_for(n) for n in names], loop),
        BAR_SPAWN_MS,
    )
    loop.close()


async def in_process_hub(directory: Path) -> JupyterHub:
    config = directory / "jupyterhub_config.py"
    config.write_text("")
    app = JupyterHub(
        db_url=f"sqlite:///{directory / 'jupyterhub.sqlite'}",
        cookie_secret_file=str(directory / "cookie_secret"),
        pid_file=str(directory / "jupyterhub.pid"),
        authenticator_class="dummy",
        config_file=str(config),
    )
    await app.initialize([])
    return app


def fill_hub(app: JupyterHub, policies: list[GroupPolicy], members: dict[str, list[str]]) -> None:
    """The groups with their policies and the users with their memberships, in bulk."""
    db = app.db
    groups = {}
    for rank, policy in enumerate(policies):
        group = orm.Group(name=policy.group, properties={PROPERTY_KEY: policy_entry(policy, rank)})
        db.add(group)
        groups[policy.group] = group
    db.flush()
    for name in members:
        db.add(orm.User(name=name))
    db.flush()
    ids = dict(db.query(orm.User.name, orm.User.id))
    db.execute(
        orm.user_group_map.insert(),
        [
            {"user_id": ids[name], "group_id": groups[group].id}
            for name, names in members.items()
            for group in names
        ],
    )
    db.commit()


def resolution_on_the_hub(policies: list[GroupPolicy], members: dict[str, list[str]]) -> None:
    with tempfile.TemporaryDirectory(prefix="stellars-bench-policies-") as workdir:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        app = loop.run_until_complete(in_process_hub(Path(workdir)))
        started = time.perf_counter()
        fill_hub(app, policies, members)
        print(
            f"on the hub's ORM (SQLite; {len(policies)} groups and {len(members)} users "
            f"filled in {time.perf_counter() - started:.1f} s):"
        )
        handle = HubHandle()
        handle.bind(app)
        directory = InProcessHubDirectory(handle)
        resolver = service(HubPolicyStore(handle), directory)
        names = list(members)
        summary(
            "baseline: the directory's lookup of the user (before policies)",
            timed([lambda n=n: directory.get_user(n) for n in names], loop),
        )
        summary(
            "a spawn: effective_for_groups(the user's groups)",
            timed([lambda n=n: resolver.effective_for_groups(members[n]) for n in names], loop),
            BAR_SPAWN_MS,
        )
        summary(
            "the user routes: effective_for(user), with the lookup",
            timed([lambda n=n: resolver.effective_for(n) for n in names], loop),
            BAR_SPAWN_MS,
        )
        app.db.close()
        loop.close()


# --- the hub's loop during concurrent spawns ----------------------------------------------------


class Hub:
    def __init__(self, process: JupyterHubProcess) -> None:
        browser = HubClient(process.public_url)
        browser.login("admin", ADMIN_PASSWORD)
        self.client = HubClient(process.public_url, browser.new_token("admin"))

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(
            method,
            self.client.url(f"/api{path}"),
            headers={"Authorization": f"token {self.client.token}"},
            timeout=kwargs.pop("timeout", 120),
            **kwargs,
        )

    def lag(self) -> float:
        text = requests.get(
            self.client.url("/metrics"),
            headers={"Authorization": f"token {self.client.token}"},
            timeout=30,
        ).text
        match = LAG_METRIC.search(text)
        if match is None:
            raise RuntimeError("no stellars_event_loop_lag_max_seconds in /hub/metrics")
        return float(match.group(1))

    def ready(self, user: str) -> bool:
        model = self.call("GET", f"/users/{user}").json()
        return bool(((model.get("servers") or {}).get("") or {}).get("ready"))


@contextlib.contextmanager
def lag_readings(hub: Hub) -> Iterator[list[float]]:
    readings: list[float] = []
    done = threading.Event()

    def read() -> None:
        while not done.wait(METRIC_EVERY):
            with contextlib.suppress(requests.RequestException):
                readings.append(hub.lag())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield readings
    finally:
        done.set()
        reader.join()
        readings.append(hub.lag())


def spawn_window(hub: Hub, users: list[str]) -> dict[str, float]:
    """Every server of `users` started at once; the hub's worst lag until all are ready."""

    def start(user: str) -> bool:
        return hub.call("POST", f"/users/{user}/server").status_code in {201, 202}

    started = time.perf_counter()
    with bystander_lag() as bystander, lag_readings(hub) as readings:
        with ThreadPoolExecutor(len(users)) as pool:
            accepted = sum(pool.map(start, users))
        deadline = time.monotonic() + 300
        while not all(hub.ready(user) for user in users):
            if time.monotonic() > deadline:
                raise RuntimeError("the servers did not all start within 300 s")
            time.sleep(0.5)
    return {
        "accepted": accepted,
        "seconds": time.perf_counter() - started,
        "lag": max(readings),
        "bystander": bystander[0] if bystander else float("nan"),
    }


#: The stand-ins start the way DockerSpawner starts a lab: the call that starts it runs in a
#: worker thread, not on the hub's loop (DockerSpawner calls the engine from threads). JupyterHub's
#: local spawner calls Popen on the loop, which held it 45 to 50 ms per server on a hub of this
#: size even with vfork (no pre-exec function): all of it the test rig's. The working directory,
#: which the pre-exec function set, goes to Popen instead.
STAND_INS_STARTED_OFF_THE_LOOP = """
import asyncio as _asyncio
import os as _os
from subprocess import Popen as _Popen

from jupyterhub.spawner import SimpleLocalProcessSpawner as _Simple
from jupyterhub.utils import random_port as _random_port


class StandInSpawner(_Simple):
    async def start(self):
        _os.makedirs(self.home_dir, 0o755, exist_ok=True)
        if self.port == 0:
            self.port = _random_port()
        command = [*self.cmd, *self.get_args()]
        self.proc = await _asyncio.to_thread(
            _Popen, command, env=self.get_env(), cwd=self.home_dir, start_new_session=True
        )
        self.pid = self.proc.pid
        return (self.ip or "127.0.0.1", self.port)


c.JupyterHub.spawner_class = StandInSpawner  # noqa: F821
"""


def loop_during_spawns(
    policies: list[GroupPolicy],
    spawns: int,
    per_user: int,
    *,
    realtime: bool = False,
    stall_report_ms: int = 0,
) -> None:
    with tempfile.TemporaryDirectory(prefix="stellars-bench-policies-hub-") as workdir:
        root = Path(workdir)
        extra = {"STELLARS_HUB_LOOP_REALTIME": "1"} if realtime else {}
        if stall_report_ms:
            extra["STELLARS_LOOP_STALL_REPORT_MS"] = str(stall_report_ms)
        env = platform_env(
            root / "data",
            JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
            STELLARS_SPAWNER="local",
            STELLARS_ALLOWED_IMAGES=" ".join(IMAGES),
            JUPYTERHUB_ACTIVITYMON_SAMPLE_INTERVAL="86400",
            **extra,
        )
        config = render_config(root / "config")
        config.write_text(config.read_text() + STAND_INS_STARTED_OFF_THE_LOOP)
        with JupyterHubProcess(config, env, workdir=root / "hub", ready_timeout=120) as process:
            hub = Hub(process)
            for policy in policies:
                hub.call("POST", f"/groups/{policy.group}").raise_for_status()
                hub.call(
                    "PUT", f"/policies/{policy.group}", json=policy_document(policy)
                ).raise_for_status()
            plain = [f"plain{index:02d}" for index in range(spawns)]
            members = memberships(spawns, len(policies), per_user, seed=7)
            governed = [f"member{name[4:]}" for name in members]
            hub.call("POST", "/users", json={"usernames": plain + governed}).raise_for_status()
            for name, groups in zip(governed, members.values(), strict=True):
                for group in groups:
                    hub.call(
                        "POST", f"/groups/{group}/users", json={"users": [name]}
                    ).raise_for_status()
            scheduling = "the kernel's default scheduling"
            if realtime:
                log = process.log_path.read_text(errors="replace")
                took = "the event loop's thread runs under SCHED_RR 1" in log
                scheduling = (
                    "the loop thread under SCHED_RR 1 (STELLARS_HUB_LOOP_REALTIME)"
                    if took
                    else "STELLARS_HUB_LOOP_REALTIME set but refused (see the hub's log): "
                    "default scheduling"
                )
            print(
                f"the hub's loop while {spawns} servers start at once (stand-in servers; "
                f"{scheduling}; load average {os.getloadavg()[0]:.2f}):"
            )
            time.sleep(QUIET_SECONDS)
            baseline = spawn_window(hub, plain)
            print(
                f"  baseline: users in no group       worst lag {baseline['lag'] * 1000:.0f} ms"
                f"  (idle loop elsewhere {baseline['bystander'] * 1000:.0f} ms; "
                f"{baseline['accepted']:.0f} started in {baseline['seconds']:.1f} s)"
            )
            time.sleep(QUIET_SECONDS)
            measured = spawn_window(hub, governed)
            verdict = "met" if measured["lag"] * 1000 <= BAR_LAG_MS else "MISSED"
            print(
                f"  with {per_user} group policies each      worst lag "
                f"{measured['lag'] * 1000:.0f} ms  (idle loop elsewhere "
                f"{measured['bystander'] * 1000:.0f} ms; {measured['accepted']:.0f} started in "
                f"{measured['seconds']:.1f} s)  (bar {BAR_LAG_MS:.0f} ms: {verdict})"
            )
            if stall_report_ms:  # where the hub's loop was when it stalled, from its log
                print(f"  the hub's stall reports (over {stall_report_ms} ms):")
                lines = process.log_path.read_text(errors="replace").splitlines()
                reporting = False
                for line in lines:
                    if line.startswith("["):
                        reporting = "stellars: the event loop" in line
                    if reporting:
                        print(f"    {line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--per-user", type=int, default=4)
    parser.add_argument("--spawns", type=int, default=20)
    parser.add_argument("--skip-hub", action="store_true", help="resolution figures only")
    parser.add_argument(
        "--hub-loop-realtime",
        action="store_true",
        help="STELLARS_HUB_LOOP_REALTIME for the hub (root only): its loop thread first",
    )
    parser.add_argument(
        "--stall-report-ms",
        type=int,
        default=0,
        help="STELLARS_LOOP_STALL_REPORT_MS for the hub, and print where its loop stalled",
    )
    parser.add_argument("--skip-resolution", action="store_true", help="the hub's loop only")
    args = parser.parse_args()
    policies = [make_policy(index) for index in range(args.groups)]
    members = memberships(args.users, args.groups, args.per_user)
    print(
        f"policy resolution at spawn: {args.groups} groups with policies, {args.users} users "
        f"in {args.per_user} groups each"
    )
    if not args.skip_resolution:
        resolution_on_fakes(policies, members)
        resolution_on_the_hub(policies, members)
    if not args.skip_hub:
        loop_during_spawns(
            policies,
            args.spawns,
            args.per_user,
            realtime=args.hub_loop_realtime,
            stall_report_ms=args.stall_report_ms,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
