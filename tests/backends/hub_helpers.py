"""Helpers for tests against a real JupyterHub subprocess: a config whose servers start in a
moment, and small REST calls with the tooling's admin service token.

Servers are started by JupyterHub's own SimpleLocalProcessSpawner running a stand-in single-user
server (a few lines of stdlib HTTP, below): the venv has no jupyter_server, and the hub only
needs an HTTP answer at the server's URL to mark it ready. Server activity is reported through
the hub's activity API, the same endpoint jupyterhub-singleuser posts to.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import docker.errors
import requests

from tests.backends.hub import JupyterHubProcess, render_minimal_config

SINGLEUSER_STAND_IN = """\
import http.server, os, urllib.parse

url = urllib.parse.urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"stand_in": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer((url.hostname, url.port), Handler).serve_forever()
"""

SAMPLER_SCOPES = ["list:users", "read:users", "read:users:activity", "read:servers"]


def render_hub_config(directory: Path, *, extra: str = "") -> Path:
    """The tooling's minimal config, plus: the admin service may grant admin rights, servers
    run the stand-in under SimpleLocalProcessSpawner, and `extra` config lines."""
    config = render_minimal_config(directory)
    stand_in = directory / "singleuser_stand_in.py"
    stand_in.write_text(SINGLEUSER_STAND_IN)
    homes = directory / "homes"
    config.write_text(
        config.read_text()
        + f"""
# --- added by tests/integration/hub_helpers.py ---
c.JupyterHub.services[0]["admin"] = True  # only admins may create admin users
c.JupyterHub.spawner_class = "simple"
c.Spawner.cmd = [{sys.executable!r}, {str(stand_in)!r}]
c.SimpleLocalProcessSpawner.home_dir_template = {str(homes)!r} + "/{{username}}"
c.Spawner.start_timeout = 30
c.Spawner.http_timeout = 30
"""
        + extra
    )
    return config


def api(hub: JupyterHubProcess, method: str, path: str, **kwargs: Any) -> requests.Response:
    """One hub API call with the admin token; raises for an error status."""
    response = requests.request(
        method, f"{hub.api_url}{path}", headers=hub.admin_headers(), timeout=30, **kwargs
    )
    response.raise_for_status()
    return response


def create_users(hub: JupyterHubProcess, names: Iterable[str]) -> None:
    """Create users in one request (POST /users)."""
    api(hub, "POST", "/users", json={"usernames": list(names)})


def create_user(hub: JupyterHubProcess, name: str, *, admin: bool = False) -> None:
    """Create one user (POST /users/NAME)."""
    api(hub, "POST", f"/users/{name}", json={"admin": admin})


def start_server(hub: JupyterHubProcess, name: str, timeout: float = 30.0) -> dict[str, Any]:
    """Start the user's default server and wait until the hub calls it ready; its model."""
    api(hub, "POST", f"/users/{name}/server")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = api(hub, "GET", f"/users/{name}").json()
        server = model.get("servers", {}).get("")
        if server and server["ready"]:
            return server
        time.sleep(0.1)
    raise TimeoutError(f"server of {name} not ready after {timeout} s")


def report_activity(hub: JupyterHubProcess, name: str, when: datetime) -> None:
    """Report server activity as jupyterhub-singleuser does (the hub only moves it forward)."""
    stamp = when.isoformat().replace("+00:00", "Z")
    api(hub, "POST", f"/users/{name}/activity", json={"servers": {"": {"last_activity": stamp}}})


def wait_for(predicate: Any, timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll `predicate` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met after {timeout} s")
        time.sleep(0.1)


def ended_or_removed(box: Any) -> bool:
    """Whether a container has exited, or is already gone: the hub's poll removes a container
    it finds ended (after recording how it ended), so a test watching one may find it gone.
    `box.attrs` keeps the last state the engine gave."""
    try:
        box.reload()
    except docker.errors.NotFound:
        return True
    return box.attrs["State"]["Status"] == "exited"
