"""The package as users get it: `python -m build` gives a wheel and an sdist; the wheel, installed
into a fresh virtual environment (not editable, nothing from this checkout on the path), holds
every module, template, static file, migration and the deploy config, and its `stellars-hub`
command starts a working hub from a bare working directory.

The hub runs on loopback ports with local-process servers (STELLARS_SPAWNER=local, no Docker,
no GPU probe) and configurable-http-proxy found on PATH, as the default STELLARS_CHP expects.
No server is spawned, so the wheel is installed without its [local] extra (JupyterLab).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.backends.fixtures import backend
from tests.backends.paths import REPO_ROOT, node_bin
from tests.backends.platform import ADMIN_PASSWORD, HubClient
from tests.backends.processes import (
    descendants,
    free_ports,
    stop_process_group,
    tail,
    with_default_signals,
)

pytestmark = [pytest.mark.real, pytest.mark.hub, pytest.mark.packaging, pytest.mark.timeout(900)]

PACKAGE_SOURCE = REPO_ROOT / "src" / "stellars"
PACKAGED_CONFIG = Path("deploy") / "jupyterhub_config.py"  # inside the installed package
JUPYTERHUB_SETTINGS = ("JUPYTERHUB_", "STELLARS_", "CONFIGPROXY_")
BUILD_SECONDS = 300
INSTALL_SECONDS = 600
READY_SECONDS = 90


def run(command: list[str], *, timeout: float, cwd: Path | None = None) -> str:
    """Run `command`; its output, or a test failure that shows it."""
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            env=clean_environment(),
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{command[:4]} took over {timeout} s:\n{exc.output or ''}"[-4000:])
    if done.returncode != 0:
        pytest.fail(f"{command[:4]} exited with {done.returncode}:\n{done.stdout[-4000:]}")
    return done.stdout


def clean_environment() -> dict[str, str]:
    """This process's environment without anything that would point a child at the checkout
    (PYTHONPATH, the active venv) or configure the hub behind the test's back."""
    return {
        name: value
        for name, value in os.environ.items()
        if name not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
        and not name.startswith(JUPYTERHUB_SETTINGS)
    }


def relative_files(root: Path) -> set[str]:
    """Every file under `root` as a relative path, without bytecode."""
    return {
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@dataclass(frozen=True)
class Distributions:
    wheel: Path
    sdist: Path


@dataclass(frozen=True)
class Installed:
    venv: Path
    package: Path  # the installed `stellars` directory

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def script(self, name: str) -> Path:
        return self.venv / "bin" / name


@pytest.fixture(scope="module")
def workspace() -> Iterator[Path]:
    """One temp dir for the module (dists, venv, hub); removed at the end."""
    path = Path(tempfile.mkdtemp(prefix="stellars-wheel-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def dists(workspace: Path) -> Distributions:
    """`python -m build` of this checkout: an sdist, and the wheel built from it."""
    out = workspace / "dist"
    run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO_ROOT)],
        timeout=BUILD_SECONDS,
    )
    wheels = sorted(out.glob("stellars_hub-*.whl"))
    sdists = sorted(out.glob("stellars_hub-*.tar.gz"))
    assert len(wheels) == 1, sorted(p.name for p in out.iterdir())
    assert len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return Distributions(wheel=wheels[0], sdist=sdists[0])


@pytest.fixture(scope="module")
def installed(workspace: Path, dists: Distributions) -> Installed:
    """The wheel pip-installed into a fresh virtual environment."""
    venv = workspace / "venv"
    run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    python = str(venv / "bin" / "python")
    run([python, "-m", "pip", "install", "-q", str(dists.wheel)], timeout=INSTALL_SECONDS)
    located = run(
        [python, "-c", "import pathlib, stellars; print(pathlib.Path(stellars.__file__).parent)"],
        timeout=60,
        cwd=workspace,
    )
    package = Path(located.strip().splitlines()[-1]).resolve()
    return Installed(venv=venv.resolve(), package=package)


@dataclass
class WheelHub:
    process: subprocess.Popen[bytes]
    public_url: str
    workdir: Path
    children: set[int]

    @property
    def log_path(self) -> Path:
        return self.workdir / "jupyterhub.log"

    def log_tail(self) -> str:
        return tail(self.log_path, 80)


def wait_ready(hub: WheelHub) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if hub.process.poll() is not None:
            pytest.fail(f"stellars-hub exited with rc {hub.process.returncode}:\n{hub.log_tail()}")
        hub.children.update(descendants(hub.process.pid))
        try:
            answer = requests.get(f"{hub.public_url}/hub/api/", timeout=2)
            if answer.status_code == 200 and '"version"' in answer.text:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    pytest.fail(f"stellars-hub not ready after {READY_SECONDS} s:\n{hub.log_tail()}")


@pytest.fixture(scope="module")
def hub(workspace: Path, installed: Installed) -> Iterator[WheelHub]:
    """`stellars-hub` of the fresh venv, in an empty working dir, on free loopback ports."""
    with backend("configurable-http-proxy"):
        chp = node_bin("configurable-http-proxy")
    workdir = workspace / "hub"
    workdir.mkdir()
    public, proxy_api, hub_port = free_ports(3)
    env = {
        **clean_environment(),
        # The venv's commands first, then the proxy: the default STELLARS_CHP is looked up here.
        "PATH": os.pathsep.join(
            [str(installed.venv / "bin"), str(chp.parent), os.environ.get("PATH", "")]
        ),
        "JUPYTERHUB_IP": "127.0.0.1",
        "JUPYTERHUB_PORT": str(public),
        "JUPYTERHUB_PROXY_API_PORT": str(proxy_api),
        "JUPYTERHUB_HUB_BIND_URL": f"http://127.0.0.1:{hub_port}",
        "JUPYTERHUB_DATA_DIR": str(workdir / "data"),
        "JUPYTERHUB_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "JUPYTERHUB_GPU_ENABLED": "0",
        "STELLARS_SPAWNER": "local",
        "STELLARS_ALLOW_LOCAL_AS_ROOT": "1",  # CI runs as root: a throwaway test rig
    }
    with (workdir / "jupyterhub.log").open("ab") as log_file:
        process = subprocess.Popen(
            with_default_signals([installed.script("stellars-hub")]),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
            start_new_session=True,
        )
    running = WheelHub(process, f"http://127.0.0.1:{public}", workdir, set())
    try:
        wait_ready(running)
        running.children.update(descendants(process.pid))
        yield running
    finally:
        # SIGTERM to JupyterHub alone (it stops the proxy and its services in order), then the
        # whole process group and every child seen (the proxy runs in a session of its own).
        stop_process_group(process, term_timeout=30, term_group=False, extra_pids=running.children)


def test_build_gives_a_wheel_and_an_sdist_with_the_deploy_config(dists):
    with tarfile.open(dists.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    expected = {
        "pyproject.toml",
        "deploy/jupyterhub_config.py",
        "src/stellars/adapters/jupyterhub/templates/stellars-settings.html",
        "src/stellars/adapters/jupyterhub/static/stellars.css",
        "src/stellars/adapters/sql/migrations/env.py",
    }
    assert expected <= names, sorted(expected - names)


def test_the_wheel_installs_every_file_of_the_package(installed):
    # A real install in the fresh venv, not this checkout (editable or on the path).
    assert installed.package.is_relative_to(installed.venv), installed.package
    assert not installed.package.is_relative_to(REPO_ROOT)
    files = relative_files(installed.package)
    missing = relative_files(PACKAGE_SOURCE) - files
    assert not missing, f"not in the wheel: {sorted(missing)}"
    for kind in ("templates", "static"):
        shipped = {f for f in files if f.startswith(f"adapters/jupyterhub/{kind}/")}
        assert shipped, f"no {kind} in the wheel"
    migrations = {f for f in files if f.startswith("adapters/sql/migrations/versions/")}
    assert len(migrations) >= 5, sorted(migrations)
    shipped_config = installed.package / PACKAGED_CONFIG
    assert shipped_config.read_text() == (REPO_ROOT / PACKAGED_CONFIG).read_text()
    printed = run([str(installed.python), "-m", "stellars.deploy"], timeout=60)
    assert Path(printed.strip()) == shipped_config


def test_the_migrations_run_from_the_installed_package(installed, workspace):
    database = workspace / "migrations-check.sqlite"
    script = (
        "import sys\n"
        "from stellars.adapters.sql import SqlDatabase, head_revision\n"
        "db = SqlDatabase.from_url(sys.argv[1])\n"
        "db.ensure_schema()\n"
        "print(db.revision(), head_revision())\n"
        "db.close()\n"
    )
    output = run(
        [str(installed.python), "-c", script, f"sqlite:///{database}"], timeout=120, cwd=workspace
    )
    revision, head = output.strip().splitlines()[-1].split()
    assert revision == head


def test_stellars_hub_runs_the_packaged_config(hub, installed):
    command = Path(f"/proc/{hub.process.pid}/cmdline").read_bytes().split(b"\0")
    assert str(installed.package / PACKAGED_CONFIG).encode() in command, command


def test_the_hub_answers_its_health_check(hub):
    answer = requests.get(f"{hub.public_url}/hub/health", timeout=10)
    assert answer.status_code == 200, hub.log_tail()


def test_a_platform_api_route_answers_json_in_jupyterhubs_error_shape(hub):
    answer = requests.get(f"{hub.public_url}/hub/api/settings", timeout=10)
    assert answer.status_code == 403, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    body = json.loads(answer.text)
    assert body["status"] == 403
    assert body["message"]


def test_a_platform_page_sends_an_anonymous_visitor_to_the_login(hub):
    answer = requests.get(f"{hub.public_url}/hub/settings", allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text[:300]
    assert "/hub/login" in answer.headers["Location"]


def test_the_platform_static_files_are_served_from_the_wheel(hub):
    answer = requests.get(f"{hub.public_url}/hub/stellars/static/stellars.css", timeout=10)
    assert answer.status_code == 200
    assert answer.text == (PACKAGE_SOURCE / "adapters/jupyterhub/static/stellars.css").read_text()


def test_the_admin_sees_the_settings_page_rendered_from_the_wheels_templates(hub):
    admin = HubClient(hub.public_url)
    admin.login("admin", ADMIN_PASSWORD)
    page = admin.page("/settings")
    assert page.status_code == 200, hub.log_tail()
    assert "JUPYTERHUB_PORT" in page.text
    assert ADMIN_PASSWORD not in page.text
    settings = admin.api("GET", "/settings")
    assert settings.status_code == 200, settings.text
    assert settings.json()["facts"]["User servers"].startswith("local")
