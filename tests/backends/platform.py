"""The platform as `make run` starts it: deploy/jupyterhub_config.py in a JupyterHub subprocess,
and a small HTTP client that behaves like a browser (cookie, XSRF) or a script (API token).

    hub = start_platform(jupyterhub_factory, tmp_path, env={"STELLARS_SPAWNER": "local"})
    admin = HubClient(hub.public_url)
    admin.login("admin", ADMIN_PASSWORD)
    admin.api("GET", "/settings").json()
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from tests.backends.hub import ENV_PUBLIC_PORT, JupyterHubProcess
from tests.backends.paths import REPO_ROOT, node_bin
from tests.backends.processes import free_ports

DEPLOY_CONFIG = REPO_ROOT / "deploy" / "jupyterhub_config.py"
ADMIN_PASSWORD = "correct-horse-battery-staple"
_XSRF_FIELD = re.compile(r'name="_xsrf" value="([^"]+)"')


def platform_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a platform hub on free loopback ports with its state in `data_dir`.

    The hub listens on 127.0.0.1 unless JUPYTERHUB_HUB_BIND_URL says otherwise (Docker
    spawns need the docker0 address; see `docker_bind_url`).
    """
    public, proxy_api, hub = free_ports(3)
    return {
        ENV_PUBLIC_PORT: str(public),  # where the tooling looks for the hub
        "JUPYTERHUB_PORT": str(public),
        "JUPYTERHUB_PROXY_API_PORT": str(proxy_api),
        "JUPYTERHUB_HUB_BIND_URL": f"http://127.0.0.1:{hub}",
        "JUPYTERHUB_DATA_DIR": str(data_dir),
        "STELLARS_CHP": str(node_bin("configurable-http-proxy")),
        # No GPU probe container in tests unless a test asks for one.
        "JUPYTERHUB_GPU_ENABLED": "0",
        # CI runs as root; hubs with local (stand-in) servers are throwaway test rigs.
        "STELLARS_ALLOW_LOCAL_AS_ROOT": "1",
        **extra,
    }


def start_platform(
    jupyterhub_factory: Callable[..., JupyterHubProcess],
    tmp_path: Path,
    env: Mapping[str, str] | None = None,
    **hub_options: Any,
) -> JupyterHubProcess:
    """deploy/jupyterhub_config.py in a hub subprocess; the admin has ADMIN_PASSWORD.
    `hub_options` go to JupyterHubProcess (`launcher=...`, `niceness=...`)."""
    data = tmp_path / "data"
    values = platform_env(data, JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD, **dict(env or {}))
    return jupyterhub_factory(DEPLOY_CONFIG, values, workdir=tmp_path / "hub", **hub_options)


class FromAddress(HTTPAdapter):
    """Connections that leave from one local address: 127.0.0.2, 127.0.0.3, ... are other
    clients of a hub on loopback, as far as its proxy can tell (Linux routes all of 127/8)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def session_from(address: str | None) -> requests.Session:
    """A requests session whose connections leave from `address` (None: the system's choice)."""
    session = requests.Session()
    if address is not None:
        session.mount("http://", FromAddress(address))
        session.mount("https://", FromAddress(address))
    return session


class HubClient:
    """Requests to one hub as a browser (cookie + XSRF header) or with an API token; `source`
    is the local address its connections leave from (see FromAddress)."""

    def __init__(
        self, public_url: str, token: str | None = None, *, source: str | None = None
    ) -> None:
        self.public_url = public_url.rstrip("/")
        self.session = session_from(source)
        self.token = token

    def url(self, path: str) -> str:
        return f"{self.public_url}/hub{path}"

    def form_xsrf(self, path: str) -> str:
        page = self.session.get(self.url(path), timeout=10)
        page.raise_for_status()
        match = _XSRF_FIELD.search(page.text)
        assert match, f"no _xsrf field on {path}"
        return match.group(1)

    def signup(self, username: str, password: str) -> requests.Response:
        return self.session.post(
            self.url("/signup"),
            data={
                "username": username,
                "signup_password": password,
                "signup_password_confirmation": password,
                "_xsrf": self.form_xsrf("/signup"),
            },
            timeout=10,
        )

    def login(self, username: str, password: str) -> None:
        """Log in through NativeAuthenticator's form; fails the test if refused."""
        answer = self.session.post(
            self.url("/login"),
            data={"username": username, "password": password, "_xsrf": self.form_xsrf("/login")},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 302, f"login of {username} refused: {answer.text[:300]}"

    @property
    def xsrf_cookie(self) -> str | None:
        """The hub's XSRF cookie (a lab sets its own, under /user/...)."""
        return self.session.cookies.get("_xsrf", path="/hub/")

    def page(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("allow_redirects", False)
        return self.session.get(self.url(path), timeout=30, **kwargs)

    def api(self, method: str, path: str, *, xsrf: bool = True, **kwargs: Any) -> requests.Response:
        """`/hub/api{path}` with the token, or the cookie plus the XSRF header (unless
        `xsrf=False`, to show what happens without it)."""
        headers = dict(kwargs.pop("headers", {}))
        if self.token is not None:
            headers["Authorization"] = f"token {self.token}"
        elif xsrf:
            if self.xsrf_cookie is None:
                self.page("/home")  # the hub sets the _xsrf cookie on a page view
            headers["X-XSRFToken"] = self.xsrf_cookie or ""
        return self.session.request(
            method,
            self.url(f"/api{path}"),
            headers=headers,
            timeout=kwargs.pop("timeout", 60),
            **kwargs,
        )

    def new_token(self, username: str, scopes: list[str] | None = None) -> str:
        """An API token of `username` (this client's user, or any user for an admin)."""
        body: dict[str, Any] = {"note": "stellars test", "expires_in": 3600}
        if scopes is not None:
            body["scopes"] = scopes
        answer = self.api("POST", f"/users/{username}/tokens", json=body)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["token"])


def signed_up_user(hub_url: str, admin: HubClient, username: str, password: str) -> HubClient:
    """A user who signed up and was authorized by the admin, logged in."""
    user = HubClient(hub_url)
    assert user.signup(username, password).status_code == 200
    authorized = admin.page(f"/authorize/{username}")
    assert authorized.status_code in {200, 302}, authorized.text[:300]
    user.login(username, password)
    return user
