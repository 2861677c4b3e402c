"""Benchmark: `make run` from nothing to a lab answering through the proxy, cold and warm, and how
long Ctrl-C takes to stop it.

    .venv/bin/python bench/make_run.py [--warm-runs 3] [--skip-cold] [--keep] [--time-limit 1800]

Cold: a fresh clone of this repository's HEAD in a temporary directory (no .venv, no
.tooling: uv, configurable-http-proxy and playwright-core come from their registries), empty
uv, pip and npm caches and an empty lab-build package cache, and the lab image's tag removed from
the engine first (only that tag, and only when no container uses it). Warm: `make run` again in
the same clone, with the venv, the node tools and the image there, the run directory kept.

Each run, timed from `make run`'s start:

- the stages make and tooling/run.py go through, from their output lines (uv, the venv, the
  node tools, the lab image, the hub's launch);
- the hub answering through the proxy (`/hub/api/`);
- the admin logged in through the login page, with the password `make run` generated (printed
  on the first start, read from RUN_DIR/admin-password later);
- the admin's server started (`POST /hub/api/users/<admin>/server`) and JupyterLab answering
  through the proxy at `/user/<admin>/lab`, the browser's way (hub cookie, then the lab's
  OAuth with the hub): the total.

Then SIGINT goes to make's process group (a terminal's Ctrl-C) with the lab running and the
idle culler on; the stop time is until make, the hub, its proxy and services are all gone.

Figures are printed, never asserted. The hub gets free loopback ports and a free port on the
Docker bridge's gateway, so other hubs on this machine are untouched; the bench's admin has a
name of its own, and its container and volumes, the clone and the caches are removed at the
end (`--keep` keeps the clone), also when interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tooling.images import lab_recipe  # noqa: E402
from tooling.run import ADMIN_PASSWORD_FILE, gateway  # noqa: E402

_XSRF_FIELD = re.compile(r'name="_xsrf" value="([^"]+)"')
_PASSWORD = re.compile(r"with the password (\S+) \(generated now")
#: Output lines that mark a stage: (label, pattern). make echoes a recipe line as it starts it.
_STAGES = (
    ("uv installed", re.compile(r"touch \.tooling/uv/\.tried-stamp")),
    ("lab build started", re.compile(r"\[make run\] the lab image builds while")),
    ("venv installed", re.compile(r"touch \.venv/\.installed-stamp")),
    ("node tools installed", re.compile(r"\[make run\] state in ")),  # tooling/run.py starts
    ("lab image ready", re.compile(r"\[make run\] lab image \S+: ")),
    ("hub launched", re.compile(r"\[make run\] open http")),
)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Run:
    """One `make run`: its output lines with the second each arrived, and the marks reached."""

    label: str
    started: float = field(default_factory=time.monotonic)
    lines: list[tuple[float, str]] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> None:
        self.marks[name] = time.monotonic() - self.started

    def read(self, stream: object) -> None:
        for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
            line = raw.decode(errors="replace").rstrip()
            seconds = time.monotonic() - self.started
            self.lines.append((seconds, line))
            for name, pattern in _STAGES:
                if name not in self.marks and pattern.search(line):
                    self.marks[name] = seconds

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="stellars-bench-make-run-"))
        self.clone = self.work / "stellars-hub"
        self.admin = f"bench{secrets.token_hex(3)}"
        self.client = docker.from_env(version="auto", timeout=120)
        self.bridge = gateway(self.client, "bridge")
        if self.bridge is None:
            raise SystemExit("the default bridge network has no gateway")
        caches = self.work / "caches"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("JUPYTERHUB_", "STELLARS_", "MAKE", "MFLAGS", "VIRTUAL_ENV"))
        }
        self.env.update(
            {  # a bare machine: nothing cached from earlier installs or builds
                "UV_CACHE_DIR": str(caches / "uv"),
                "PIP_NO_CACHE_DIR": "1",
                "npm_config_cache": str(caches / "npm"),
                "XDG_CACHE_HOME": str(caches / "xdg"),
                "JUPYTERHUB_ADMIN": self.admin,
                "JUPYTERHUB_IDLE_CULLER_ENABLED": "1",
                "JUPYTERHUB_GPU_ENABLED": "0",
            }
        )
        self.process: subprocess.Popen[bytes] | None = None

    # --- set-up ---------------------------------------------------------------------------

    def prepare(self, cold: bool) -> None:
        """The clone; for a cold run, also the lab image's tag gone from the engine."""
        subprocess.run(
            ["git", "clone", "--quiet", "--no-hardlinks", str(REPO_ROOT), str(self.clone)],
            check=True,
        )
        if not cold:
            return
        tag = lab_recipe().tag  # the clone's recipe is HEAD's, with the same JupyterHub
        users = self.client.containers.list(all=True, filters={"ancestor": tag})
        if users:
            raise SystemExit(f"{tag} is used by {[c.name for c in users]}: not removing it")
        with contextlib.suppress(docker.errors.ImageNotFound):
            self.client.images.remove(tag)
            print(f"removed the lab image tag {tag} for the cold run")

    # --- one run --------------------------------------------------------------------------

    def run(self, label: str) -> Run:
        port, api_port = free_port(), free_port()
        env = {
            **self.env,
            "JUPYTERHUB_PORT": str(port),
            "JUPYTERHUB_PROXY_API_PORT": str(api_port),
            "JUPYTERHUB_HUB_BIND_URL": f"http://{self.bridge}:{free_port(self.bridge)}",
        }
        record = Run(label)
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"RUN_DIR={self.clone / '.run'}"],
            cwd=self.clone,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        reader = threading.Thread(target=record.read, args=(self.process.stdout,), daemon=True)
        reader.start()
        public = f"http://127.0.0.1:{port}"
        try:
            self._until(record, lambda: _answers(f"{public}/hub/api/"), "the hub")
            record.mark("hub answers")
            session = self._login(record, public)
            record.mark("admin logged in")
            self._start_lab(record, session, public)
            record.mark("lab answers")
        finally:
            record.marks["stop"] = self._stop()
            reader.join(timeout=5)
        return record

    def _until(self, record: Run, check: object, what: str, timeout: float = 900) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"make run exited before {what}:\n{record.text()[-3000:]}")
            if check():  # type: ignore[operator]
                return
            time.sleep(0.1)
        raise RuntimeError(f"{what} not there after {timeout:.0f} s:\n{record.text()[-3000:]}")

    def _login(self, record: Run, public: str) -> requests.Session:
        match = _PASSWORD.search(record.text())
        password = (
            match.group(1)
            if match
            else (self.clone / ".run" / ADMIN_PASSWORD_FILE).read_text().splitlines()[0]
        )
        session = requests.Session()
        page = session.get(f"{public}/hub/login", timeout=30)
        xsrf = _XSRF_FIELD.search(page.text)
        assert xsrf, "no _xsrf field on the login page"
        answer = session.post(
            f"{public}/hub/login",
            data={"username": self.admin, "password": password, "_xsrf": xsrf.group(1)},
            allow_redirects=False,
            timeout=30,
        )
        if answer.status_code != 302:
            raise RuntimeError(f"login refused: {answer.status_code} {answer.text[:300]}")
        return session

    def _start_lab(self, record: Run, session: requests.Session, public: str) -> None:
        session.get(f"{public}/hub/home", timeout=30)  # the hub's _xsrf cookie
        headers = {"X-XSRFToken": session.cookies.get("_xsrf", path="/hub/") or ""}
        started = session.post(
            f"{public}/hub/api/users/{self.admin}/server", headers=headers, timeout=120
        )
        if started.status_code not in {201, 202, 400}:  # 400: already running
            raise RuntimeError(f"server start: {started.status_code} {started.text[:300]}")

        def lab_answers() -> bool:
            with contextlib.suppress(requests.RequestException):
                lab = session.get(f"{public}/user/{self.admin}/lab", timeout=30)
                return lab.status_code == 200 and "JupyterLab" in lab.text
            return False

        self._until(record, lab_answers, "the lab")

    def _stop(self) -> float:
        """SIGINT to make's group; seconds until make and everything it started are gone."""
        process = self.process
        if process is None or process.poll() is not None:
            return float("nan")
        everything = [process.pid, *_descendants(process.pid)]
        started = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)
        while time.monotonic() - started < 60:
            process.poll()
            if not any(_alive(pid) for pid in everything):
                return time.monotonic() - started
            time.sleep(0.02)
        for pid in everything:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return float("inf")

    def remove_lab(self) -> None:
        """The admin's container (left running by the stop, as JupyterHub leaves servers)."""
        for container in self.client.containers.list(all=True, filters={"name": self.admin}):
            container.remove(force=True)

    def clean_up(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.remove_lab()
        for volume in self.client.volumes.list(filters={"name": self.admin}):
            with contextlib.suppress(docker.errors.APIError):
                volume.remove(force=True)
        if self.args.keep:
            print(f"kept {self.clone}")
            shutil.rmtree(self.work / "caches", ignore_errors=True)
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def _answers(url: str) -> bool:
    with contextlib.suppress(requests.RequestException):
        answer = requests.get(url, timeout=2)
        return answer.status_code == 200 and '"version"' in answer.text
    return False


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError):
            if entry.name.isdigit():
                stat = (entry / "stat").read_text()
                parent = int(stat[stat.rindex(")") + 2 :].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], list(children.get(pid, []))
    while queue:
        child = queue.pop()
        found.append(child)
        queue.extend(children.get(child, []))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def report(run: Run) -> None:
    print(f"\n{run.label}")
    previous = 0.0
    for name, seconds in sorted(run.marks.items(), key=lambda item: item[1]):
        if name == "stop":
            continue
        print(f"  {name:<24} at {seconds:6.1f} s  (+{seconds - previous:5.1f} s)")
        previous = seconds
    print(f"  {'total (lab answers)':<24}    {run.marks.get('lab answers', float('nan')):6.1f} s")
    print(f"  {'stop on SIGINT':<24}    {run.marks['stop']:6.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm-runs", type=int, default=3, help="warm runs after the cold one")
    parser.add_argument("--skip-cold", action="store_true", help="warm runs only (in a clone)")
    parser.add_argument("--keep", action="store_true", help="keep the clone at the end")
    parser.add_argument("--time-limit", type=float, default=1800, help="seconds for it all")
    args = parser.parse_args()
    bench = Bench(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGALRM, lambda *_: sys.exit("time limit reached"))
    signal.alarm(int(args.time_limit))
    runs: list[Run] = []
    try:
        bench.prepare(cold=not args.skip_cold)
        if args.skip_cold:  # warm runs still need the venv, the node tools and the image
            subprocess.run(["make", "--no-print-directory", "venv", "node"], cwd=bench.clone)
        else:
            runs.append(bench.run("cold (fresh clone, empty caches, no lab image)"))
            report(runs[-1])
            bench.remove_lab()
        for number in range(1, args.warm_runs + 1):
            runs.append(bench.run(f"warm {number} (venv, node tools and image there)"))
            report(runs[-1])
            bench.remove_lab()
    finally:
        bench.clean_up()
    warm = [run.marks["lab answers"] for run in runs if run.label.startswith("warm")]
    stops = [run.marks["stop"] for run in runs]
    print("\nsummary")
    if not args.skip_cold and runs:
        print(f"  cold: {runs[0].marks.get('lab answers', float('nan')):.1f} s")
    if warm:
        print(f"  warm: median {statistics.median(warm):.1f} s, each {[round(w, 1) for w in warm]}")
    print(f"  stop on SIGINT: max {max(stops):.2f} s, each {[round(s, 2) for s in stops]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
