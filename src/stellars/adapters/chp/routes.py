"""ProxyRoutes on configurable-http-proxy's REST API (tornado's AsyncHTTPClient).

Routespecs follow JupyterHub's convention: URL paths in escaped form ending in '/', such as
`/user/a%20b/`. CHP keeps its routes unescaped and without the trailing '/', so paths are
converted both ways exactly as JupyterHub's own ConfigurableHTTPProxy does, and routes listed
here match the routespecs JupyterHub uses.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse

from stellars.domain.errors import BackendUnavailable, InvalidValue
from stellars.ports.proxy import ProxyRoute

# Keys CHP itself adds to a route's data.
CHP_OWN_KEYS = frozenset({"target", "last_activity"})
# Characters sent as they are: the path delimiters, '%' of escapes already made, and the
# sub-delimiters a URL path may carry; anything else (spaces, non-ASCII) is percent-encoded.
_SAFE_IN_PATH = "/%:@!$&'()*+,;=~"
# JupyterHub re-escapes CHP's keys with these characters left alone (url_escape_path).
_SAFE_IN_ROUTESPEC = "@/~"


def check_routespec(routespec: str) -> str:
    """The routespec itself, when it is a path that starts and ends with '/'."""
    if not routespec.startswith("/") or not routespec.endswith("/"):
        raise InvalidValue("routespec", f"must start and end with '/', got {routespec!r}")
    return routespec


def chp_path(routespec: str) -> str:
    """The path under /api/routes for a routespec (CHP refuses some trailing slashes)."""
    path = check_routespec(routespec)
    if path != "/":
        path = path.rstrip("/")
    return quote(path, safe=_SAFE_IN_PATH)


def routespec_from_chp(key: str) -> str:
    """The routespec of a CHP route key (unescaped, maybe without the trailing '/')."""
    routespec = quote(key, safe=_SAFE_IN_ROUTESPEC)
    return routespec if routespec.endswith("/") else routespec + "/"


def route_from_chp(key: str, entry: Mapping[str, Any]) -> ProxyRoute:
    """A ProxyRoute from one entry of `GET /api/routes`, without CHP's own keys in `data`."""
    data = {name: value for name, value in entry.items() if name not in CHP_OWN_KEYS}
    return ProxyRoute(routespec_from_chp(key), str(entry.get("target", "")), data)


def routes_from_chp(table: Mapping[str, Any]) -> dict[str, ProxyRoute]:
    """The routing table of a `GET /api/routes` answer, keyed by routespec."""
    routes: dict[str, ProxyRoute] = {}
    for key, entry in table.items():
        if isinstance(key, str) and isinstance(entry, Mapping):
            route = route_from_chp(key, entry)
            routes[route.routespec] = route
    return routes


class ChpProxyRoutes:
    """The routing table of one configurable-http-proxy (the ProxyRoutes port).

    `api_url` is CHP's API address (e.g. http://127.0.0.1:8001) and `token` its
    CONFIGPROXY_AUTH_TOKEN. Each request may take `timeout_seconds`. Unreachable, slow, or
    refusing the token (401/403): BackendUnavailable.
    """

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        timeout_seconds: float = 10.0,
        http_client: AsyncHTTPClient | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token
        self.timeout_seconds = timeout_seconds
        self._http_client = http_client

    async def add(
        self, routespec: str, target: str, data: Mapping[str, object] | None = None
    ) -> None:
        """Add or replace a route; `data` is stored with it."""
        body = {**(data or {}), "target": target}
        await self._request("POST", chp_path(routespec), body, expected=(200, 201))

    async def routes(self) -> dict[str, ProxyRoute]:
        """Every route, keyed by routespec."""
        response = await self._request("GET", "", expected=(200,))
        table = _json(response)
        if not isinstance(table, dict):
            raise BackendUnavailable("configurable-http-proxy answered an unexpected routing table")
        return routes_from_chp(table)

    async def delete(self, routespec: str) -> bool:
        """Remove a route; True if it existed."""
        path = chp_path(routespec)
        # CHP 5 answers a DELETE of a missing route with 404, older ones with 204: ask first.
        found = await self._request("GET", path, expected=(200, 404))
        if found.code == 404:
            return False
        deleted = await self._request("DELETE", path, expected=(200, 204, 404))
        return deleted.code != 404

    async def _request(
        self,
        method: str,
        path: str,
        body: Mapping[str, object] | None = None,
        *,
        expected: Collection[int],
    ) -> HTTPResponse:
        request = HTTPRequest(
            f"{self.api_url}/api/routes{path}",
            method=method,
            headers={"Authorization": f"token {self._token}", "Content-Type": "application/json"},
            body=None if body is None else json.dumps(body),
            connect_timeout=self.timeout_seconds,
            request_timeout=self.timeout_seconds,
        )
        client = self._http_client or AsyncHTTPClient()
        try:
            response = await client.fetch(request, raise_error=False)
        except HTTPClientError as exc:  # 599: timeout or connection closed
            raise BackendUnavailable(f"configurable-http-proxy unreachable: {exc}") from exc
        except OSError as exc:
            raise BackendUnavailable(f"configurable-http-proxy unreachable: {exc}") from exc
        if response.code in (401, 403):
            raise BackendUnavailable(
                f"configurable-http-proxy refused the API token (HTTP {response.code})"
            )
        if response.code == 599 or response.code not in expected:
            raise BackendUnavailable(
                f"configurable-http-proxy answered {method} {path or '/'} with HTTP "
                f"{response.code}: {_text(response)}"
            )
        return response


def _text(response: HTTPResponse) -> str:
    if response.error is not None and response.code == 599:
        return str(response.error)
    return (response.body or b"").decode(errors="replace").strip()[:200]


def _json(response: HTTPResponse) -> object:
    try:
        return json.loads(response.body or b"null")
    except ValueError as exc:
        raise BackendUnavailable(f"configurable-http-proxy answered invalid JSON: {exc}") from exc
