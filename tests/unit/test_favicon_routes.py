"""The lab favicon's proxy routes as a domain rule on the fakes: one route per server the hub
knows, to the hub, only with a configured favicon, and the missing ones added by the reconciler."""

from __future__ import annotations

import pytest

from stellars.adapters.memory import InMemoryHubDirectory, InMemoryProxyRoutes, InMemoryStaticAssets
from stellars.domain.branding import plan_branding
from stellars.domain.errors import BackendUnavailable
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.routes import ProxyRoute, lab_favicon_routespec
from stellars.domain.services import BrandingService, FaviconRoutes

HUB = "http://10.0.0.2:8081"


def server(user: str, name: str = "", *, ready: bool = True, url: str | None = None):
    prefix = f"/user/{user}/" + (f"{name}/" if name else "")
    return ServerSnapshot(
        username=user,
        name=name,
        ready=ready,
        pending=None if ready else "spawn",
        url=prefix if url is None else url,
    )


def routes_for(favicon_uri: str, users: list[HubUser]) -> tuple[FaviconRoutes, InMemoryProxyRoutes]:
    proxy = InMemoryProxyRoutes(hub_target=HUB)
    branding = BrandingService(
        assets=InMemoryStaticAssets(), plan=plan_branding(favicon_uri=favicon_uri)
    )
    service = FaviconRoutes(directory=InMemoryHubDirectory(users), proxy=proxy, branding=branding)
    return service, proxy


def test_the_route_is_exactly_the_favicon_file_under_the_server():
    assert lab_favicon_routespec("/base/user/ann/gpu/") == (
        "/base/user/ann/gpu/static/favicons/favicon.ico/"
    )


async def test_every_known_server_gets_its_route_to_the_hub_once():
    users = [
        HubUser(name="ann", servers={"": server("ann"), "gpu": server("ann", "gpu")}),
        HubUser(name="bob", servers={"": server("bob", ready=False)}),  # starting: routed too
        HubUser(name="cy"),  # no server
    ]
    service, proxy = routes_for("https://example.org/fav.ico", users)
    await proxy.add("/user/bob/static/favicons/favicon.ico/", HUB)  # already there
    await proxy.add("/", "http://elsewhere:1")
    assert await service.reconcile() == 2
    assert proxy.table == {
        "/": ProxyRoute("/", "http://elsewhere:1"),
        "/user/ann/static/favicons/favicon.ico/": ProxyRoute(
            "/user/ann/static/favicons/favicon.ico/", HUB
        ),
        "/user/ann/gpu/static/favicons/favicon.ico/": ProxyRoute(
            "/user/ann/gpu/static/favicons/favicon.ico/", HUB
        ),
        "/user/bob/static/favicons/favicon.ico/": ProxyRoute(
            "/user/bob/static/favicons/favicon.ico/", HUB
        ),
    }
    assert await service.reconcile() == 0


async def test_a_spawning_server_gets_its_route_at_once():
    service, proxy = routes_for("file:///b/fav.ico", [])
    assert service.enabled
    assert await service.keep_route_for("/user/dee/") is True
    assert set(proxy.table) == {"/user/dee/static/favicons/favicon.ico/"}


async def test_the_stock_favicon_is_never_routed():
    users = [HubUser(name="ann", servers={"": server("ann")})]
    service, proxy = routes_for("", users)
    assert not service.enabled
    assert await service.keep_route_for("/user/ann/") is False
    assert await service.reconcile() == 0
    assert proxy.table == {}


async def test_a_proxy_that_does_not_answer_fails_the_pass():
    users = [HubUser(name="ann", servers={"": server("ann")})]
    service, proxy = routes_for("https://example.org/fav.ico", users)

    async def down() -> dict[str, ProxyRoute]:
        raise BackendUnavailable("the proxy did not answer")

    proxy.routes = down  # type: ignore[method-assign]
    with pytest.raises(BackendUnavailable):
        await service.reconcile()
