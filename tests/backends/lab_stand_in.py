"""Lightweight user servers for tests and benchmarks of broadcasts: a few lines of standard-library
HTTP that answer the hub's readiness check and speak the notifications extension's ingest API.

A server records each ingest it receives (the Authorization header, whether that is the server's
own API token, the scopes the hub says that credential has, and the body) as a JSON line
in `stellars-ingest.jsonl` in its working directory, the user's home under the hub's data
directory. Users whose name starts with "noext" answer 404, as a JupyterLab without the
extension does.

The hub runs deploy/jupyterhub_config.py unchanged, through a wrapper config that only swaps the
local-process spawner's command for this server (`render_config`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.backends.platform import DEPLOY_CONFIG

STAND_IN = """\
import http.server, json, os, urllib.parse, urllib.request

url = urllib.parse.urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
user = os.environ["JUPYTERHUB_USER"]
records = os.path.join(os.getcwd(), "stellars-ingest.jsonl")


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.answer(200, {"stand_in": True})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        if not self.path.endswith("/jupyterlab-notifications-extension/ingest"):
            return self.answer(404, {"message": "not found"})
        if user.startswith("noext"):
            return self.answer(404, {"message": "not found"})
        # What the credential may do, asked of the hub while it is still alive.
        credential = {"Authorization": self.headers.get("Authorization", "")}
        whoami = urllib.request.Request(os.environ["JUPYTERHUB_API_URL"] + "/user",
                                        headers=credential)
        try:
            scopes = json.load(urllib.request.urlopen(whoami, timeout=10)).get("scopes")
        except Exception as error:
            scopes = "error: " + str(error)
        with open(records, "a") as out:
            own = "token " + os.environ.get("JUPYTERHUB_API_TOKEN", "")
            out.write(json.dumps({"authorization": self.headers.get("Authorization"),
                                  "own_token": self.headers.get("Authorization") == own,
                                  "scopes": scopes, "body": json.loads(body)}) + "\\n")
        self.answer(200, {"success": True, "notification_id": "stand-in"})

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer((url.hostname, url.port), Handler).serve_forever()
"""


def render_config(directory: Path) -> Path:
    """A config that is deploy/jupyterhub_config.py with stand-in servers; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "lab_stand_in.py"
    script.write_text(STAND_IN)
    config = directory / "jupyterhub_config.py"
    config.write_text(
        "c = get_config()  # noqa: F821\n"
        f"load_subconfig({str(DEPLOY_CONFIG)!r})  # noqa: F821\n"
        f"c.Spawner.cmd = [{sys.executable!r}, {str(script)!r}]\n"
        "c.Spawner.args = []\n"
    )
    return config


def received(data_dir: Path, user: str) -> list[dict[str, Any]]:
    """Every ingest a user's stand-in server received, oldest first (`data_dir`: the hub's)."""
    path = data_dir / "homes" / user / "stellars-ingest.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]
