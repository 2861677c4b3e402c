"""Contract of the ProxyRoutes port (configurable-http-proxy's REST API and its fake)."""

from __future__ import annotations

import pytest

from stellars.adapters.chp import ChpProxyRoutes
from stellars.adapters.memory import InMemoryProxyRoutes
from stellars.domain.errors import InvalidValue


@pytest.fixture(params=["memory", pytest.param("chp", marks=pytest.mark.real)])
def routes(request):
    if request.param == "memory":
        return InMemoryProxyRoutes()
    if request.param == "chp":
        proxy = request.getfixturevalue("chp")
        return ChpProxyRoutes(proxy.api_url, proxy.token, timeout_seconds=10)
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


async def test_route_data_is_exactly_what_was_added(routes):
    await routes.add("/user/carol/", "http://127.0.0.1:9004", {"owner": "stellars", "n": 3})
    route = (await routes.routes())["/user/carol/"]
    assert route.routespec == "/user/carol/"
    assert dict(route.data) == {"owner": "stellars", "n": 3}


async def test_escaped_routespecs_come_back_unchanged(routes):
    routespec = "/user/a%20b%C3%BC@c~d/"  # as JupyterHub escapes "a bü@c~d"
    await routes.add(routespec, "http://127.0.0.1:9005")
    assert routespec in await routes.routes()
    assert await routes.delete(routespec) is True
    assert routespec not in await routes.routes()


async def test_delete_of_a_route_never_added_is_false(routes):
    assert await routes.delete("/never/added/") is False


async def test_routespecs_must_be_paths_ending_in_a_slash(routes):
    with pytest.raises(InvalidValue):
        await routes.add("user/dave/", "http://127.0.0.1:9006")
    with pytest.raises(InvalidValue):
        await routes.add("/user/dave", "http://127.0.0.1:9006")
