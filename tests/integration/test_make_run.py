"""`make run` as a newcomer runs it: tooling/run.py (through make where make's part matters) in
a process group of its own, with its own RUN_DIR and free ports.

- The first start generates the admin's password, prints it once and keeps it in RUN_DIR
  (mode 0600); the admin logs in with it through the login page; later starts reuse the file
  and never print the password again.
- The `[make run]` line names the address the hub really listens on.
- With a lab running in Docker and the culler on, SIGINT or SIGTERM to make's process group
  stops make, the hub, the proxy and the services, with no error line; the seconds it took are
  printed (the bound asserted here only detects a hang).
- The project's lab image never asks to fetch Jupyter's news: JupyterLab's settings API of a
  running lab reports fetchNews "false".
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import docker
import docker.errors
import pytest
import requests
from tooling.run import ADMIN_PASSWORD_FILE, gateway

from tests.backends.paths import REPO_ROOT, node_bin
from tests.backends.platform import HubClient
from tests.backends.processes import descendants, free_port, free_ports, is_alive, tail

pytestmark = [pytest.mark.real, pytest.mark.hub]

#: A hang detector, not the target: stops are measured and printed (the target is 5 s).
STOP_BOUND_SECONDS = 10.0
READY_SECONDS = 180.0  # may include building the lab image on a busy machine
NEWS_SETTINGS = "@jupyterlab/apputils-extension:notification"
_PASSWORD_LINE = re.compile(r"with the password (\S+) \(generated now and kept in (\S+),")
#: Lines that must never appear in make run's output while it stops.
_ERROR_LINE = re.compile(r"^(make: \*\*\*|Traceback|\[E |.*Task was destroyed)", re.MULTILINE)


class MakeRun:
    """`make run` (or `python -m tooling.run`) in a session of its own, output in a file."""

    def __init__(
        self, run_dir: Path, env: Mapping[str, str], *, via_make: bool, piped: bool = False
    ) -> None:
        self.run_dir = run_dir
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.port, self.proxy_api_port = free_ports(2)
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("JUPYTERHUB_", "STELLARS_", "MAKE", "MFLAGS"))
        }
        self.env.update(
            {
                "RUN_DIR": str(run_dir),
                "JUPYTERHUB_PORT": str(self.port),
                "JUPYTERHUB_PROXY_API_PORT": str(self.proxy_api_port),
                "STELLARS_CHP": str(node_bin("configurable-http-proxy")),
                "JUPYTERHUB_GPU_ENABLED": "0",  # no GPU probe container
                # CI runs as root: the local-server runs here are a throwaway test rig.
                "STELLARS_ALLOW_LOCAL_AS_ROOT": "1",
                **env,
            }
        )
        venv = Path(sys.executable).parent.parent  # the venv running the tests (compat runs too)
        self.command = (
            ["make", "--no-print-directory", "-C", str(REPO_ROOT), "run", f"VENV={venv}",
             f"RUN_DIR={run_dir}"]
            if via_make
            else [sys.executable, "-m", "tooling.run"]
        )  # fmt: skip
        self.log_path = (
            run_dir.parent / f"{run_dir.name}-{secrets.token_hex(4)}.out"
        )  # one per start
        self.piped = piped  # output into a pipe this test reads (`make run | tee log`)
        self.process: subprocess.Popen[bytes] | None = None
        self.seen: set[int] = set()  # every process of this run seen so far

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> MakeRun:
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                self.command,
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if self.piped else out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, as a terminal's job would be
            )
        if self.piped:  # like tee: copy the pipe into the log until the reader is closed
            threading.Thread(target=self._copy_output, daemon=True).start()
        return self

    def _copy_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with contextlib.suppress(ValueError, OSError), self.log_path.open("ab") as out:
            for line in iter(self.process.stdout.readline, b""):
                out.write(line)
                out.flush()

    def close_reader(self) -> None:
        """The reader of the pipe goes away (tee killed by the same Ctrl-C)."""
        assert self.process is not None and self.process.stdout is not None
        self.process.stdout.close()

    def wait_ready(self, timeout: float = READY_SECONDS) -> None:
        """Until the hub answers through the proxy."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"make run exited with {self.process.returncode}:\n{self.output}")
            with contextlib.suppress(requests.RequestException):
                answer = requests.get(f"{self.public_url}/hub/api/", timeout=2)
                if answer.status_code == 200 and '"version"' in answer.text:
                    return
            time.sleep(0.2)
        pytest.fail(f"the hub did not answer within {timeout:.0f} s:\n{tail(self.log_path, 80)}")

    def processes(self) -> list[int]:
        """make run's process and everything it started (the hub, its proxy and services)."""
        assert self.process is not None
        return [self.process.pid, *descendants(self.process.pid)]

    def stop(self, sig: signal.Signals) -> float:
        """Send `sig` to the process group, as a terminal or `kill -- -PGID` does; return the
        seconds until every process of the group and every process it started is gone."""
        assert self.process is not None
        everything = self.processes()
        self.seen.update(everything)
        started = time.monotonic()
        os.killpg(self.process.pid, sig)
        while time.monotonic() - started < STOP_BOUND_SECONDS + 20:
            self.process.poll()  # reap make itself
            alive = [pid for pid in everything if is_alive(pid)]
            if not alive and not _group_exists(self.process.pid):
                return time.monotonic() - started
            time.sleep(0.02)
        return float("inf")

    def kill(self) -> None:
        """Whatever is left (a failed test): SIGKILL to the group and to what it started."""
        if self.process is None:
            return
        leftovers = {*self.seen, *(self.processes() if self.process.poll() is None else [])}
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        for pid in leftovers:
            if is_alive(pid):  # pids seen earlier: only those still running
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def make_runs() -> Iterator[list[MakeRun]]:
    runs: list[MakeRun] = []
    yield runs
    for run in runs:
        run.kill()


def new_password_of(output: str) -> tuple[str, Path]:
    match = _PASSWORD_LINE.search(output)
    assert match, f"no generated password in the output:\n{output}"
    return match.group(1), Path(match.group(2))


def hub_line(output: str) -> str:
    lines = [line for line in output.splitlines() if "the hub listens on" in line]
    assert len(lines) == 1, output
    return lines[0]


def test_the_first_start_generates_the_admin_password_and_later_starts_reuse_it(
    tmp_path, make_runs
):
    run_dir = tmp_path / "run"
    env = {
        "STELLARS_SPAWNER": "local",
        "JUPYTERHUB_HUB_BIND_URL": f"http://127.0.0.1:{free_port()}",
    }
    first = MakeRun(run_dir, env, via_make=False)
    make_runs.append(first)
    first.start().wait_ready()
    password, path = new_password_of(first.output)
    assert path == run_dir / ADMIN_PASSWORD_FILE
    assert len(password) >= 16
    assert path.read_text() == password + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    admin = HubClient(first.public_url)
    admin.login("admin", password)  # POST /hub/login with the XSRF field and cookie
    assert "/hub/admin" in admin.page("/home").text
    intruder = HubClient(first.public_url)
    assert (
        "Invalid username or password"
        in intruder.session.post(
            intruder.url("/login"),
            data={
                "username": "admin",
                "password": "admin1234",
                "_xsrf": intruder.form_xsrf("/login"),
            },
            timeout=10,
        ).text
    )
    assert first.stop(signal.SIGINT) < STOP_BOUND_SECONDS

    second = MakeRun(run_dir, env, via_make=False)
    make_runs.append(second)
    second.start().wait_ready()
    assert password not in second.output
    assert f"log in as 'admin' with the password in {path}" in second.output
    HubClient(second.public_url).login("admin", password)
    assert second.stop(signal.SIGTERM) < STOP_BOUND_SECONDS


def test_the_deployers_password_wins_and_nothing_is_generated(tmp_path, make_runs):
    run_dir = tmp_path / "run"
    secret = tmp_path / "admin-secret"
    secret.write_text("a-password-of-the-deployer\n")
    run = MakeRun(
        run_dir,
        {
            "STELLARS_SPAWNER": "local",
            "JUPYTERHUB_HUB_BIND_URL": f"http://127.0.0.1:{free_port()}",
            "JUPYTERHUB_ADMIN_PASSWORD_FILE": str(secret),
        },
        via_make=False,
    )
    make_runs.append(run)
    run.start().wait_ready()
    assert "log in as 'admin' with the password you set" in run.output
    assert not (run_dir / ADMIN_PASSWORD_FILE).exists()
    HubClient(run.public_url).login("admin", "a-password-of-the-deployer")
    assert run.stop(signal.SIGTERM) < STOP_BOUND_SECONDS


def test_the_make_run_line_names_the_address_the_hub_listens_on(tmp_path, make_runs):
    port = free_port()
    run = MakeRun(
        tmp_path / "run",
        {"STELLARS_SPAWNER": "local", "JUPYTERHUB_HUB_BIND_URL": f"http://127.0.0.1:{port}"},
        via_make=False,
    )
    make_runs.append(run)
    run.start().wait_ready()
    assert hub_line(run.output).endswith(f"the hub listens on 127.0.0.1:{port}")
    # The hub itself answers there, not on the default 8081.
    assert requests.get(f"http://127.0.0.1:{port}/hub/api/", timeout=10).status_code == 200
    assert "8081" not in hub_line(run.output)
    assert run.stop(signal.SIGTERM) < STOP_BOUND_SECONDS


def test_a_stop_needs_no_reader_of_the_output(tmp_path, make_runs):
    """`make run | tee log`: the terminal's Ctrl-C stops tee too, so every line written while
    stopping meets a closed pipe. The hub and everything it started still stop."""
    run = MakeRun(
        tmp_path / "run",
        {"STELLARS_SPAWNER": "local", "JUPYTERHUB_HUB_BIND_URL": f"http://127.0.0.1:{free_port()}"},
        via_make=True,
        piped=True,
    )
    make_runs.append(run)
    run.start().wait_ready()
    run.close_reader()
    seconds = run.stop(signal.SIGINT)
    print(f"make run | tee stopped on SIGINT in {seconds:.2f} s")
    assert seconds < STOP_BOUND_SECONDS, run.output


# --- a lab in Docker, the culler on, through make ----------------------------------------------


@pytest.fixture
def admin_name(docker_client: docker.DockerClient) -> Iterator[str]:
    """A fresh admin name; the container and volumes DockerSpawner made for it go at the end."""
    name = f"adm{secrets.token_hex(3)}"
    shared_existed = bool(docker_client.volumes.list(filters={"name": "jupyterhub_shared"}))
    yield name
    for container in docker_client.containers.list(all=True, filters={"name": name}):
        container.remove(force=True)
    doomed = docker_client.volumes.list(filters={"name": name})
    if not shared_existed:
        doomed += docker_client.volumes.list(filters={"name": "jupyterhub_shared"})
    for volume in doomed:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            volume.remove(force=True)


def _wait_server_ready(admin: HubClient, name: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    model: dict = {}
    while time.monotonic() < deadline:
        model = admin.api("GET", f"/users/{name}").json()
        server = (model.get("servers") or {}).get("")
        if server and server["ready"]:
            return
        time.sleep(0.5)
    pytest.fail(f"server not ready: {model}")


def test_make_run_stops_quickly_with_a_lab_running_and_the_culler_on(
    tmp_path, make_runs, docker_client, lab_image, admin_name
):
    bridge = gateway(docker_client, "bridge")
    assert bridge, "the default bridge network has no gateway"
    run_dir = tmp_path / "run"
    env = {
        "JUPYTERHUB_ADMIN": admin_name,
        "STELLARS_SPAWNER": "docker",
        "JUPYTERHUB_NOTEBOOK_IMAGE": lab_image,  # the image `make run` builds: found, not rebuilt
        "JUPYTERHUB_HUB_BIND_URL": f"http://{bridge}:{free_port(bridge)}",
        "JUPYTERHUB_IDLE_CULLER_ENABLED": "1",
    }
    first = MakeRun(run_dir, env, via_make=True)
    make_runs.append(first)
    first.start().wait_ready()
    assert hub_line(first.output).endswith(
        f"the hub listens on {env['JUPYTERHUB_HUB_BIND_URL'].removeprefix('http://')}"
    )
    password, _ = new_password_of(first.output)
    admin = HubClient(first.public_url)
    admin.login(admin_name, password)
    started = admin.api("POST", f"/users/{admin_name}/server")
    assert started.status_code in {201, 202}, started.text
    _wait_server_ready(admin, admin_name)
    token = admin.new_token(admin_name, [f"access:servers!server={admin_name}/"])
    settings = requests.get(
        f"{first.public_url}/user/{admin_name}/lab/api/settings/{NEWS_SETTINGS}",
        headers={"Authorization": f"token {token}"},
        timeout=60,
    )
    assert settings.status_code == 200, settings.text
    # The composite value, as JupyterLab computes it: the user's settings (none here) over the
    # schema's defaults, which the server has already overridden from overrides.json. Stock
    # JupyterLab asks ("none"); the project's image never fetches and never asks.
    answer = settings.json()
    defaults = {key: spec.get("default") for key, spec in answer["schema"]["properties"].items()}
    assert answer["settings"] == {}
    assert {**defaults, **answer["settings"]}["fetchNews"] == "false"

    commands = [" ".join(_command(pid)) for pid in first.processes()]
    assert any("stellars.entrypoints.idle_culler" in command for command in commands), commands
    assert any("stellars.entrypoints.activity_sampler" in command for command in commands)
    seconds = first.stop(signal.SIGINT)  # Ctrl-C in a terminal
    print(f"make run stopped on SIGINT in {seconds:.2f} s (lab running, culler on)")
    assert seconds < STOP_BOUND_SECONDS, first.output
    stopping = first.output.split("stopping the hub", 1)[-1]
    assert not _ERROR_LINE.search(stopping), stopping
    assert docker_client.containers.get(f"jupyterlab-{admin_name}").status == "running"

    second = MakeRun(run_dir, env, via_make=True)  # the lab is still running
    make_runs.append(second)
    second.start().wait_ready()
    assert password not in second.output
    seconds = second.stop(signal.SIGTERM)  # `kill -- -PGID`
    print(f"make run stopped on SIGTERM in {seconds:.2f} s (lab running, culler on)")
    assert seconds < STOP_BOUND_SECONDS, second.output
    stopping = second.output.split("stopping the hub", 1)[-1]
    assert not _ERROR_LINE.search(stopping), stopping


def _command(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []
