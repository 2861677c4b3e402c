"""Contract of the ProxyRoutes port (configurable-http-proxy's REST API and its fake)."""

from __future__ import annotations

import pytest

from stellars.adapters.memory import InMemoryProxyRoutes


@pytest.fixture(params=["memory"])
def routes(request):
    if request.param == "memory":
        return InMemoryProxyRoutes()
    raise AssertionError(request.param)


async def test_added_routes_are_listed_with_target_and_data(routes):
    await routes.add("/user/alice/favicon/", "http://127.0.0.1:8081", {"owner": "stellars"})
    listed = await routes.routes()
    route = listed["/user/alice/favicon/"]
    assert route.target == "http://127.0.0.1:8081"
    assert route.data.get("owner") == "stellars"


async def test_adding_again_replaces_the_target(routes):
    await routes.add("/user/bob/", "http://127.0.0.1:9001")
    await routes.add("/user/bob/", "http://127.0.0.1:9002")
    assert (await routes.routes())["/user/bob/"].target == "http://127.0.0.1:9002"


async def test_delete_reports_whether_the_route_existed(routes):
    await routes.add("/stellars-test/", "http://127.0.0.1:9003")
    assert await routes.delete("/stellars-test/") is True
    assert "/stellars-test/" not in await routes.routes()
    assert await routes.delete("/stellars-test/") is False
