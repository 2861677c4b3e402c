"""configurable-http-proxy (CHP) as a throwaway process on loopback."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import requests

from tests.backends.paths import node_bin
from tests.backends.processes import free_ports, stop_process_group, tail, with_default_signals


class ConfigurableHttpProxy:
    """A CHP on 127.0.0.1 with free public and API ports and a random API token.

    Use it as a context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(self, default_target: str | None = None, ready_timeout: float = 20.0) -> None:
        self.default_target = default_target
        self.ready_timeout = ready_timeout
        self.token = secrets.token_hex(32)
        self.public_port, self.api_port = free_ports(2)
        self.workdir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.public_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def log_path(self) -> Path | None:
        return None if self.workdir is None else self.workdir / "chp.log"

    def auth_headers(self) -> dict[str, str]:
        """The header the CHP REST API wants."""
        return {"Authorization": f"token {self.token}"}

    def start(self) -> ConfigurableHttpProxy:
        """Start CHP and wait until ``GET /api/routes`` answers 200 (BackendMissing: no binary)."""
        binary = node_bin("configurable-http-proxy")
        command: list[str | os.PathLike[str]] = [
            binary,
            "--ip", "127.0.0.1",
            "--port", str(self.public_port),
            "--api-ip", "127.0.0.1",
            "--api-port", str(self.api_port),
            "--log-level", "warn",
        ]  # fmt: skip
        if self.default_target:
            command += ["--default-target", self.default_target]
        self.workdir = Path(tempfile.mkdtemp(prefix="stellars-chp-"))
        assert self.log_path is not None
        env = {**os.environ, "CONFIGPROXY_AUTH_TOKEN": self.token}
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(
                with_default_signals(command),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.workdir,
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        assert self.log_path is not None
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"configurable-http-proxy exited with rc {self.process.returncode}:\n"
                    + tail(self.log_path)
                )
            try:
                response = requests.get(
                    f"{self.api_url}/api/routes", headers=self.auth_headers(), timeout=2
                )
                if response.status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise RuntimeError(
            f"configurable-http-proxy not ready after {self.ready_timeout} s:\n"
            + tail(self.log_path)
        )

    def stop(self) -> None:
        """Kill CHP (its whole process group), wait for it, remove its temp dir."""
        if self.process is not None:
            stop_process_group(self.process, term_timeout=10)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> ConfigurableHttpProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
