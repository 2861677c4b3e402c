"""A real configurable-http-proxy: the adapter beside JupyterHub's own route format, and
BackendUnavailable for a wrong token, a proxy that is gone, and one that never answers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
import requests

from stellars.adapters.chp import ChpProxyRoutes
from stellars.domain.errors import BackendUnavailable
from tests.backends import ConfigurableHttpProxy, free_port

pytestmark = pytest.mark.real


async def test_routes_jupyterhub_added_are_listed_under_jupyterhubs_routespecs(
    chp: ConfigurableHttpProxy,
) -> None:
    # What JupyterHub's ConfigurableHTTPProxy.add_route sends for the user "a b@c":
    # the escaped routespec without its trailing slash, and {"jupyterhub": true} in the data.
    response = await asyncio.to_thread(
        requests.post,
        f"{chp.api_url}/api/routes/user/a%20b@c",
        headers=chp.auth_headers(),
        json={"target": "http://127.0.0.1:9100", "jupyterhub": True, "user": "a b@c"},
        timeout=10,
    )
    assert response.status_code == 201
    routes = ChpProxyRoutes(chp.api_url, chp.token)
    route = (await routes.routes())["/user/a%20b@c/"]
    assert route.target == "http://127.0.0.1:9100"
    assert dict(route.data) == {"jupyterhub": True, "user": "a b@c"}
    assert await routes.delete("/user/a%20b@c/") is True


async def test_an_added_route_carries_traffic(chp: ConfigurableHttpProxy) -> None:
    routes = ChpProxyRoutes(chp.api_url, chp.token)
    # The proxy's own API is a target that answers on a known path; CHP forwards the whole path.
    await routes.add("/api/", chp.api_url)
    response = await asyncio.to_thread(
        requests.get, f"{chp.public_url}/api/routes", headers=chp.auth_headers(), timeout=10
    )
    assert response.status_code == 200
    assert response.json()["/api"]["target"] == chp.api_url


async def test_a_wrong_token_is_backend_unavailable(chp: ConfigurableHttpProxy) -> None:
    routes = ChpProxyRoutes(chp.api_url, "not-the-token")
    with pytest.raises(BackendUnavailable, match="refused the API token"):
        await routes.routes()
    with pytest.raises(BackendUnavailable, match="refused the API token"):
        await routes.add("/user/x/", "http://127.0.0.1:9101")


async def test_a_proxy_that_is_gone_is_backend_unavailable() -> None:
    routes = ChpProxyRoutes(f"http://127.0.0.1:{free_port()}", "token", timeout_seconds=5)
    with pytest.raises(BackendUnavailable, match="unreachable"):
        await routes.routes()


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """A loopback port that accepts connections (kernel backlog) but never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


async def test_a_proxy_that_never_answers_is_backend_unavailable(silent_listener: str) -> None:
    routes = ChpProxyRoutes(silent_listener, "token", timeout_seconds=0.5)
    with pytest.raises(BackendUnavailable, match="unreachable"):
        await routes.delete("/user/x/")
