"""Lab limits on the real engine: deploy/jupyterhub_config.py in a real JupyterHub whose
DockerSpawner starts the project's lab image with small limits set by the deployer (384 MiB,
half a core, 192 processes), checked with `docker inspect`, `docker stats` and the engine's
account of how a container ended:

- every lab runs with its memory limit and swap off, its CPU quota and its process limit, and
  the lab and the settings page say them;
- a lab that allocates past its memory has that process killed inside its own container by the
  kernel's OOM killer, while its server, the hub and another user's lab keep answering;
- a CPU spinner on every core gets half a core, throttled by its quota, not the machine;
- a fork bomb stops at the process limit, and the hub and another user's lab keep answering;
- a server the OOM killer takes is told to its user as "stopped: ran out of memory (limit 384
  MiB)" by the API (the home page's browser test is tests/browser/test_last_stop.py), which
  only the user, an admin and tokens with `read:servers` on the user may read; its next start
  forgets it (and the user's own stop after it is told as theirs).

The hungry code runs as the lab's user through `docker exec`, each piece under `timeout`; the
fork bomb is held by the process limit and its lab is stopped by the hub afterwards. Every
container and volume the module creates carries its random tag and is removed at the end.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from typing import Any

import docker
import docker.errors
import pytest
import requests
from tooling.run import gateway

from stellars.adapters.docker import DEFAULT_SOCKET, probe_engine
from stellars.adapters.jupyterhub.plugin.docker_spawner import engine_time
from stellars.domain.limits import HostResources, LabLimitSettings
from tests.backends.hub_helpers import wait_for
from tests.backends.platform import (
    ADMIN_PASSWORD,
    DEPLOY_CONFIG,
    HubClient,
    platform_env,
    signed_up_user,
)
from tests.backends.processes import free_port

pytestmark = pytest.mark.real

TAG = secrets.token_hex(3)
ADMIN = f"adm{TAG}"
ANN = f"ann{TAG}"
BOB = f"bob{TAG}"
CAROL = f"carol{TAG}"
MEMORY = 384 * 2**20
CPU = 0.5
PIDS = 192
SHARED_VOLUME = "jupyterhub_shared"
LAB_USER = "1000"  # the lab image's jovyan

# Each hungry piece runs as the lab's user, under `timeout`, so nothing outlives its test.
ALLOCATE = """
chunks = []
for _ in range(64):  # 1 GiB in 16 MiB pieces, each written (so really resident)
    chunks.append(b"x" * (16 * 2**20))
print("allocated 1 GiB")
"""
# The OOM killer takes the biggest process; raising the server's own score (what any process
# may do to one of its user's) makes it take the server, as it does when the server holds the
# memory.
SERVER_FIRST = """
import os
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
    except OSError:
        continue
    if any(part.endswith(b"jupyterhub-singleuser") for part in argv[:2]):
        with open(f"/proc/{pid}/oom_score_adj", "w") as score:
            score.write("1000")
        print("marked", pid)
"""
SPIN = "for i in 1 2 3 4; do (while :; do :; done) & done; wait"  # four busy processes
FORK_BOMB = "bomb() { bomb | bomb & }; bomb"


@pytest.fixture(scope="module")
def engine_cleanup(docker_client):
    """Remove this module's containers and volumes (and the shared volume if it is new)."""
    shared_existed = bool(docker_client.volumes.list(filters={"name": SHARED_VOLUME}))
    yield
    for container in docker_client.containers.list(all=True, filters={"name": TAG}):
        container.remove(force=True)
    doomed = [v for v in docker_client.volumes.list(filters={"name": TAG}) if TAG in v.name]
    if not shared_existed:
        doomed += docker_client.volumes.list(filters={"name": SHARED_VOLUME})
    for volume in doomed:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            volume.remove(force=True)


class Site:
    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.url = hub.public_url
        self.admin = HubClient(self.url)
        self.admin.login(ADMIN, ADMIN_PASSWORD)
        self.users: dict[str, HubClient] = {}

    def user(self, name: str) -> HubClient:
        if name not in self.users:
            self.users[name] = signed_up_user(self.url, self.admin, name, f"{name}-password-1")
        return self.users[name]

    def client(self, token: str | None = None) -> HubClient:
        return HubClient(self.url, token)


@pytest.fixture(scope="module")
def site(jupyterhub_factory_module, tmp_path_factory, docker_client, lab_image, engine_cleanup):
    tmp = tmp_path_factory.mktemp("limits")
    bridge = gateway(docker_client, "bridge")
    assert bridge, "the default bridge network has no gateway"
    env = platform_env(
        tmp / "data",
        JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
        JUPYTERHUB_ADMIN=ADMIN,
        STELLARS_SPAWNER="docker",
        JUPYTERHUB_NOTEBOOK_IMAGE=lab_image,
        JUPYTERHUB_HUB_BIND_URL=f"http://{bridge}:{free_port(bridge)}",
        STELLARS_LAB_MEMORY_LIMIT="384MiB",
        STELLARS_LAB_CPU_LIMIT=str(CPU),
        STELLARS_LAB_PIDS_LIMIT=str(PIDS),
    )
    return Site(jupyterhub_factory_module(DEPLOY_CONFIG, env, workdir=tmp / "hub"))


def server_of(client: HubClient, user: str) -> dict[str, Any] | None:
    return (client.api("GET", f"/users/{user}").json().get("servers") or {}).get("")


def start(client: HubClient, user: str) -> None:
    answer = client.api("POST", f"/users/{user}/server")
    assert answer.status_code in {201, 202}, answer.text
    wait_for(lambda: (server_of(client, user) or {}).get("ready"), 180, f"{user} ready")


def running(site: Site, user: str) -> HubClient:
    """`user`, logged in, with a running server (started if it is not)."""
    client = site.user(user)
    if not (server_of(client, user) or {}).get("ready"):
        start(client, user)
    return client


def container(docker_client, user: str):
    return docker_client.containers.get(f"jupyterlab-{user}")


def lab_answers(site: Site, client: HubClient, user: str) -> bool:
    """Whether the user's JupyterLab answers its API through the proxy."""
    token = client.new_token(user, [f"access:servers!server={user}/"])
    status = requests.get(
        f"{site.url}/user/{user}/api/status",
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    return status.status_code == 200


def hub_answers(site: Site) -> bool:
    return site.admin.api("GET", "/users", timeout=30).status_code == 200


def as_lab_user(box, command: list[str], **options: Any):
    return box.exec_run(command, user=LAB_USER, **options)


def oom_kills(box) -> int:
    """How many processes the kernel's OOM killer took in the container (its memory
    cgroup's count, cgroup v1 or v2), read from inside as the lab's user."""
    read = as_lab_user(
        box,
        ["sh", "-c", "cat /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null || "
         "cat /sys/fs/cgroup/memory.events"],
    )  # fmt: skip
    counts = dict(line.split() for line in read.output.decode().splitlines() if line.strip())
    return int(counts["oom_kill"])


def pids_now(box) -> int:
    return int(box.stats(stream=False)["pids_stats"]["current"])


class TestEveryLabRunsUnderItsLimits:
    def test_docker_inspect_shows_memory_without_swap_the_cpu_quota_and_the_process_limit(
        self, site, docker_client
    ):
        running(site, ANN)
        attrs = container(docker_client, ANN).attrs
        host = attrs["HostConfig"]
        assert (host["Memory"], host["MemorySwap"]) == (MEMORY, MEMORY)  # swap off
        assert (host["CpuQuota"], host["CpuPeriod"]) == (50_000, 100_000)  # half a core
        assert host["PidsLimit"] == PIDS
        environment = dict(item.split("=", 1) for item in attrs["Config"]["Env"])
        assert (environment["MEM_LIMIT"], environment["CPU_LIMIT"]) == (str(MEMORY), "0.5")

    def test_the_lab_sees_them_from_inside(self, site, docker_client):
        running(site, ANN)
        box = container(docker_client, ANN)
        cgroup = as_lab_user(
            box,
            ["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
             "/sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max "
             "/sys/fs/cgroup/pids.max"],
        )  # fmt: skip
        assert cgroup.exit_code == 0, cgroup.output
        assert cgroup.output.decode().split() == [str(MEMORY), str(PIDS)]

    def test_the_settings_page_says_them_and_where_they_came_from(self, site):
        facts = site.admin.api("GET", "/settings").json()["facts"]
        assert facts["Lab memory limit"] == "384 MiB (set by the deployer)"
        assert facts["Lab CPU limit"] == "0.5 cores (set by the deployer)"
        assert facts["Lab process limit"] == "192 processes (set by the deployer)"
        rows = {
            row["variable"]: row for row in site.admin.api("GET", "/settings").json()["settings"]
        }
        assert rows["STELLARS_LAB_MEMORY_LIMIT"]["value"] == "384 MiB"

    def test_unset_limits_would_come_from_this_engines_host(self, docker_client):
        info = docker_client.info()
        probe = probe_engine(os.environ.get("DOCKER_HOST", DEFAULT_SOCKET), "none")
        host = HostResources(cpus=info["NCPU"], memory_bytes=info["MemTotal"])
        assert probe.problem is None and probe.host == host
        lines = dict(LabLimitSettings().resolve(probe.host).lines())
        assert f"derived from the host's {info['NCPU']} cores" in lines["Lab CPU limit"]


class TestOneLabCannotTakeTheMachine:
    def test_an_allocation_past_the_memory_is_killed_inside_its_own_container(
        self, site, docker_client
    ):
        ann, bob = running(site, ANN), running(site, BOB)
        box = container(docker_client, ANN)
        hungry = as_lab_user(box, ["timeout", "-s", "KILL", "120", "python3", "-c", ALLOCATE])
        assert hungry.exit_code == 137, hungry.output  # SIGKILL, from the OOM killer
        assert b"allocated" not in hungry.output
        box.reload()
        assert box.attrs["State"]["Running"] is True  # only the hungry process went
        assert oom_kills(box) >= 1  # the kernel's own count: its OOM killer did it
        assert lab_answers(site, ann, ANN)
        assert lab_answers(site, bob, BOB)
        assert hub_answers(site)
        stats = box.stats(stream=False)["memory_stats"]
        assert stats["limit"] == MEMORY

    def test_a_spinner_on_every_core_gets_half_a_core(self, site, docker_client):
        running(site, ANN)
        box = container(docker_client, ANN)
        idle = pids_now(box)
        as_lab_user(box, ["timeout", "-s", "KILL", "40", "sh", "-c", SPIN], detach=True)
        wait_for(lambda: pids_now(box) >= idle + 5, 30, "the spinners")
        # Four seconds or more of spinning, timed by the engine's own clock.
        before = after = box.stats(stream=False)
        while engine_seconds(after["read"]) - engine_seconds(before["read"]) < 4:
            after = box.stats(stream=False)
        used = cpu_nanoseconds(after) - cpu_nanoseconds(before)
        elapsed = engine_seconds(after["read"]) - engine_seconds(before["read"])
        throttled = throttled_periods(after) - throttled_periods(before)
        cores = used / 1e9 / elapsed
        assert cores <= CPU * 1.2, f"{cores:.2f} cores used"  # its quota, never the machine
        assert throttled > 0  # held back by its own quota, not by a lack of work
        wait_for(lambda: pids_now(box) <= idle, 60, "the spinners gone")

    def test_a_fork_bomb_stops_at_the_process_limit(self, site, docker_client):
        ann, bob = running(site, ANN), running(site, BOB)
        box = container(docker_client, ANN)
        as_lab_user(box, ["timeout", "-s", "KILL", "30", "bash", "-c", FORK_BOMB], detach=True)
        peak = wait_for(lambda: (n := pids_now(box)) >= PIDS - 2 and n, 60, "the bomb at the limit")
        assert peak <= PIDS
        assert hub_answers(site)
        assert lab_answers(site, bob, BOB)
        assert pids_now(box) <= PIDS
        # The hub stops the lab and every process in it, whatever it is doing.
        answer = ann.api("DELETE", f"/users/{ANN}/server")
        assert answer.status_code in {202, 204}, answer.text
        wait_for(lambda: server_of(ann, ANN) is None, 120, "the lab stopped")
        with pytest.raises(docker.errors.NotFound):
            container(docker_client, ANN)


class TestTheUserLearnsWhy:
    def test_a_server_the_oom_killer_took_says_so_in_the_api(self, site, docker_client):
        carol = running(site, CAROL)
        assert carol.api("GET", f"/users/{CAROL}/last-stop").json()["last_stop"] is None
        box = container(docker_client, CAROL)
        marked = as_lab_user(box, ["python3", "-c", SERVER_FIRST])
        assert marked.exit_code == 0 and marked.output.startswith(b"marked"), marked.output
        with contextlib.suppress(docker.errors.APIError, requests.RequestException):
            as_lab_user(box, ["timeout", "-s", "KILL", "120", "python3", "-c", ALLOCATE])
        wait_for(lambda: (box.reload() or box.attrs["State"]["Status"]) == "exited", 60)
        assert (box.attrs["State"]["OOMKilled"], box.attrs["State"]["ExitCode"]) == (True, 137)
        # The user's next visit to the home page makes the hub look (JupyterHub polls too).
        assert carol.page("/home").status_code == 200
        wait_for(lambda: server_of(carol, CAROL) is None, 60, "the hub to see the stop")
        answer = carol.api("GET", f"/users/{CAROL}/last-stop")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["server_active"] is False
        stop = body["last_stop"]
        assert stop["message"] == "stopped: ran out of memory (limit 384 MiB)"
        assert (stop["reason"], stop["exit_code"]) == ("out_of_memory", 137)
        assert stop["memory_limit_bytes"] == MEMORY
        assert stop["at"].endswith("Z")
        # JupyterHub stops nothing that already ended: DockerSpawner removes the container at
        # the server's next start.
        assert container(docker_client, CAROL).attrs["State"]["Status"] == "exited"

    def test_only_the_user_admins_and_tokens_with_read_servers_may_read_it(self, site):
        carol, bob = site.user(CAROL), site.user(BOB)
        path = f"/users/{CAROL}/last-stop"
        assert site.client().api("GET", path).status_code == 403  # anonymous
        refused = bob.api("GET", path)  # another user
        assert refused.status_code == 403
        assert refused.json()["message"] == (
            f"Action is not authorized with current scopes; requires read:servers on user '{CAROL}'"
        )
        assert carol.api("GET", path).status_code == 200
        assert site.admin.api("GET", path).json()["last_stop"]["reason"] == "out_of_memory"
        own = site.client(carol.new_token(CAROL, [f"read:servers!user={CAROL}"]))
        assert own.api("GET", path).status_code == 200
        admins = site.client(site.admin.new_token(ADMIN, ["read:servers"]))
        assert admins.api("GET", path).status_code == 200
        other = site.client(bob.new_token(BOB))
        assert other.api("GET", path).status_code == 403
        unscoped = site.client(carol.new_token(CAROL, [f"read:users!user={CAROL}"]))
        assert unscoped.api("GET", path).status_code == 403
        fetch = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"}
        assert carol.api("GET", path, xsrf=False, headers=fetch).status_code == 403
        unknown = site.admin.api("GET", "/users/nobody/last-stop")
        assert unknown.status_code == 404
        assert unknown.json() == {"status": 404, "message": "No user named 'nobody'"}

    def test_the_next_start_forgets_it(self, site, docker_client):
        carol = running(site, CAROL)
        body = carol.api("GET", f"/users/{CAROL}/last-stop").json()
        assert (body["server_active"], body["last_stop"]) == (True, None)
        attrs = container(docker_client, CAROL).attrs  # a new container, with the limits
        assert (attrs["State"]["Running"], attrs["HostConfig"]["Memory"]) == (True, MEMORY)
        answer = carol.api("DELETE", f"/users/{CAROL}/server")  # asked for: by whom is told
        assert answer.status_code in {202, 204}
        wait_for(lambda: server_of(carol, CAROL) is None, 120, "the stop")
        stop = carol.api("GET", f"/users/{CAROL}/last-stop").json()["last_stop"]
        assert (stop["reason"], stop["actor"]) == ("stopped_by_user", CAROL)


def engine_seconds(stamp: str) -> float:
    """The engine's RFC 3339 time ("...T12:00:00.123456789Z") as seconds since the epoch."""
    moment = engine_time(stamp)
    assert moment is not None, stamp
    return moment.timestamp()


def cpu_nanoseconds(stats: dict[str, Any]) -> int:
    return int(stats["cpu_stats"]["cpu_usage"]["total_usage"])


def throttled_periods(stats: dict[str, Any]) -> int:
    return int(stats["cpu_stats"]["throttling_data"]["throttled_periods"])
