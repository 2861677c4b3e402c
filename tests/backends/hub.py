"""JupyterHub as a subprocess behind its own CHP, plus a minimal config for smoke tests."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import requests

from tests.backends.paths import node_bin, venv_bin
from tests.backends.processes import (
    descendants,
    free_ports,
    stop_process_group,
    tail,
    with_default_signals,
)

ADMIN_SCOPES = (
    "admin:users",
    "admin:servers",
    "list:users",
    "read:users",
    "read:servers",
    "read:users:activity",
    "read:hub",
)

# Environment variables the hub's config reads (the rendered minimal config does).
ENV_PUBLIC_PORT = "STELLARS_TEST_PUBLIC_PORT"
ENV_PROXY_API_PORT = "STELLARS_TEST_PROXY_API_PORT"
ENV_HUB_PORT = "STELLARS_TEST_HUB_PORT"
ENV_HUB_DIR = "STELLARS_TEST_HUB_DIR"
ENV_CHP_COMMAND = "STELLARS_TEST_CHP"
ENV_ADMIN_TOKEN = "STELLARS_TEST_ADMIN_TOKEN"


@dataclass(frozen=True)
class HubPorts:
    """Loopback ports of one hub: CHP public, CHP API, and the hub itself."""

    public: int
    proxy_api: int
    hub: int

    @classmethod
    def free(cls) -> HubPorts:
        public, proxy_api, hub = free_ports(3)
        return cls(public=public, proxy_api=proxy_api, hub=hub)


class JupyterHubProcess:
    """``<venv>/bin/jupyterhub -f CONFIG`` in a working dir, with free loopback ports.

    The process gets ``os.environ`` + the STELLARS_TEST_* variables below + ``env`` (the
    caller's values win): ports, the hub dir, the CHP command, ``CONFIGPROXY_AUTH_TOKEN`` and
    an admin service token. The config decides what to do with them.
    """

    def __init__(
        self,
        config_path: Path,
        env: Mapping[str, str] | None = None,
        workdir: Path | None = None,
        ready_timeout: float = 60.0,
        stop_timeout: float = 30.0,
        niceness: int = 0,
        launcher: Sequence[str] = (),
        args: Sequence[str] = (),
    ) -> None:
        self.config_path = Path(config_path)
        self.niceness = niceness  # the hub's scheduling priority (below 0 needs root)
        # A command that execs the hub's command line given after it (e.g. without a capability).
        self.launcher = list(launcher)
        # Command-line options after `-f CONFIG` (they win over the config, as a deployer's do).
        self.args = list(args)
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="stellars-hub-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ports = HubPorts.free()
        self.admin_token = secrets.token_hex(32)
        self.proxy_token = secrets.token_hex(32)
        self.env: dict[str, str] = {
            ENV_PUBLIC_PORT: str(self.ports.public),
            ENV_PROXY_API_PORT: str(self.ports.proxy_api),
            ENV_HUB_PORT: str(self.ports.hub),
            ENV_HUB_DIR: str(self.workdir),
            ENV_ADMIN_TOKEN: self.admin_token,
            "CONFIGPROXY_AUTH_TOKEN": self.proxy_token,
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._children: set[int] = set()

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.env[ENV_PUBLIC_PORT]}"

    @property
    def api_url(self) -> str:
        return f"{self.public_url}/hub/api"

    @property
    def log_path(self) -> Path:
        return self.workdir / "jupyterhub.log"

    @property
    def child_pids(self) -> frozenset[int]:
        """Processes the hub started (CHP, managed services) seen so far."""
        return frozenset(self._children)

    def admin_headers(self) -> dict[str, str]:
        """Authorization header with the admin service token."""
        return {"Authorization": f"token {self.env[ENV_ADMIN_TOKEN]}"}

    def log_tail(self, lines: int = 60) -> str:
        return tail(self.log_path, lines)

    def start(self) -> JupyterHubProcess:
        """Start the hub; wait until ``/hub/api/`` answers 200 with its version."""
        if ENV_CHP_COMMAND not in self.env:
            self.env[ENV_CHP_COMMAND] = str(node_bin("configurable-http-proxy"))
        command = [*self.launcher, venv_bin("jupyterhub"), "-f", self.config_path, *self.args]
        if self.niceness:
            command = [shutil.which("nice") or "/usr/bin/nice", "-n", str(self.niceness), *command]
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                with_default_signals(command),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                cwd=self.workdir,
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        # CHP runs in a session of its own: remember it so a killed hub cannot orphan it.
        self._children.update(descendants(self.process.pid))
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"jupyterhub exited with rc {self.process.returncode}; last log lines:\n"
                    + self.log_tail()
                )
            self._children.update(descendants(self.process.pid))
            try:
                # Not raise_for_status: CHP answers 404 until the hub has added its route.
                response = requests.get(f"{self.api_url}/", timeout=2)
                if response.status_code == 200 and '"version"' in response.text:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(
            f"jupyterhub not ready after {self.ready_timeout} s; last log lines:\n"
            + self.log_tail()
        )

    def stop(self) -> None:
        """SIGTERM the hub (it stops CHP, its services and servers), SIGKILL all after 30 s."""
        if self.process is not None:
            stop_process_group(
                self.process,
                term_timeout=self.stop_timeout,
                term_group=False,
                extra_pids=self._children,
            )
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> JupyterHubProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


MINIMAL_CONFIG = f'''\
"""Minimal JupyterHub config for smoke tests (rendered by tests.backends.hub)."""
import os

c = get_config()  # noqa: F821
hub_dir = os.environ["{ENV_HUB_DIR}"]

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = int(os.environ["{ENV_PUBLIC_PORT}"])
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ["{ENV_HUB_PORT}"])
c.ConfigurableHTTPProxy.command = [os.environ["{ENV_CHP_COMMAND}"]]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:" + os.environ["{ENV_PROXY_API_PORT}"]
c.ConfigurableHTTPProxy.auth_token = os.environ["CONFIGPROXY_AUTH_TOKEN"]
c.ConfigurableHTTPProxy.pid_file = os.path.join(hub_dir, "proxy.pid")
c.JupyterHub.db_url = "sqlite:///" + os.path.join(hub_dir, "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(hub_dir, "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = os.path.join(hub_dir, "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.services = [
    {{"name": "stellars-test-admin", "api_token": os.environ["{ENV_ADMIN_TOKEN}"]}},
]
c.JupyterHub.load_roles = [
    {{
        "name": "stellars-test-admin",
        "scopes": {list(ADMIN_SCOPES)!r},
        "services": ["stellars-test-admin"],
    }},
]
'''


def render_minimal_config(directory: Path) -> Path:
    """Write ``jupyterhub_config.py`` for a bare hub (DummyAuthenticator, sqlite, default
    spawner, admin service token from the environment) into ``directory``; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "jupyterhub_config.py"
    path.write_text(MINIMAL_CONFIG)
    return path
