"""The lab favicon's routes in detail: the route keeps the server's prefix as it is, whatever its
last letter; a spawning server's route points at the hub; and the reconciler says in the hub log
how many routes it added."""

from __future__ import annotations

import logging

import pytest

from stellars.adapters.memory import InMemoryHubDirectory, InMemoryProxyRoutes, InMemoryStaticAssets
from stellars.domain.branding import plan_branding
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.routes import LAB_FAVICON_PATH, ProxyRoute, lab_favicon_routespec
from stellars.domain.services import BrandingService, FaviconRoutes

HUB = "http://10.0.0.2:8081"
LOGGER = "stellars.domain.services.favicon_routes"


@pytest.mark.parametrize(
    ("prefix", "routespec"),
    [
        ("/user/ann/", "/user/ann/static/favicons/favicon.ico/"),
        ("/user/ann", "/user/ann/static/favicons/favicon.ico/"),
        ("/user/MAX/", "/user/MAX/static/favicons/favicon.ico/"),
        ("/hubX/user/ann/BOX/", "/hubX/user/ann/BOX/static/favicons/favicon.ico/"),
        ("/", "/static/favicons/favicon.ico/"),
    ],
)
def test_the_route_keeps_the_servers_prefix_as_it_is(prefix, routespec):
    assert lab_favicon_routespec(prefix) == routespec
    assert routespec == prefix.rstrip("/") + "/" + LAB_FAVICON_PATH + "/"


def favicon_routes(users: list[HubUser]) -> tuple[FaviconRoutes, InMemoryProxyRoutes]:
    proxy = InMemoryProxyRoutes(hub_target=HUB)
    branding = BrandingService(
        assets=InMemoryStaticAssets(), plan=plan_branding(favicon_uri="file:///b/fav.ico")
    )
    routes = FaviconRoutes(directory=InMemoryHubDirectory(users), proxy=proxy, branding=branding)
    return routes, proxy


async def test_a_spawning_servers_route_points_at_the_hub():
    routes, proxy = favicon_routes([])
    await routes.keep_route_for("/user/dee/gpu/")
    spec = "/user/dee/gpu/static/favicons/favicon.ico/"
    assert proxy.table == {spec: ProxyRoute(spec, HUB)}


async def test_the_reconciler_logs_how_many_routes_it_added_and_nothing_when_none(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    servers = {
        name: ServerSnapshot(username="ann", name=name, ready=True, url=f"/user/ann/{name}")
        for name in ("", "gpu")
    }
    routes, _ = favicon_routes([HubUser(name="ann", servers=servers)])
    assert await routes.reconcile() == 2
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        (LOGGER, logging.INFO, "added 2 lab favicon route(s)")
    ]
    caplog.clear()
    assert await routes.reconcile() == 0
    assert caplog.records == []
