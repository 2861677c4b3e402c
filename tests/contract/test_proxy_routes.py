"""Contract of the ProxyRoutes port: the in-memory fake, and JupyterHub's own proxy object
(`ConfigurableHTTPProxy`) talking to a real configurable-http-proxy."""

from __future__ import annotations

import pytest
from jupyterhub.app import JupyterHub
from jupyterhub.proxy import ConfigurableHTTPProxy

from stellars.adapters.jupyterhub import HubProxyRoutes
from stellars.adapters.memory import InMemoryProxyRoutes
from stellars.domain.errors import BackendUnavailable, InvalidValue


def hub_proxy(chp) -> ConfigurableHTTPProxy:
    """JupyterHub's proxy object for a running CHP, with the Hub object its route check uses."""
    app = JupyterHub(hub_ip="127.0.0.1", hub_port=1)
    app.init_hub()
    return ConfigurableHTTPProxy(
        app=app, hub=app.hub, api_url=chp.api_url, auth_token=chp.token, should_start=False
    )


@pytest.fixture(
    params=["memory", pytest.param("jupyterhub-chp", marks=[pytest.mark.real, pytest.mark.hub])]
)
def routes(request):
    if request.param == "memory":
        return InMemoryProxyRoutes()
    if request.param == "jupyterhub-chp":
        proxy = hub_proxy(request.getfixturevalue("chp"))
        return HubProxyRoutes(lambda: proxy, timeout_seconds=10)
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


@pytest.mark.real
@pytest.mark.hub
class TestOnJupyterHubsProxy:
    async def test_the_hubs_route_check_keeps_the_platforms_routes(self, chp):
        proxy = hub_proxy(chp)
        routes = HubProxyRoutes(lambda: proxy, timeout_seconds=10)
        await routes.add("/user/erin/static/favicons/favicon.ico/", "http://127.0.0.1:8081")
        await proxy.add_route("/stale/", "http://127.0.0.1:9999", {})  # nobody keeps this one
        await proxy.check_routes({}, {})
        kept = await routes.routes()
        assert "/user/erin/static/favicons/favicon.ico/" in kept
        assert "/stale/" not in kept
        assert proxy.extra_routes == {
            "/user/erin/static/favicons/favicon.ico/": "http://127.0.0.1:8081"
        }

    async def test_a_deleted_route_is_no_longer_kept(self, chp):
        proxy = hub_proxy(chp)
        routes = HubProxyRoutes(lambda: proxy, timeout_seconds=10)
        await routes.add("/user/fay/x/", "http://127.0.0.1:8081")
        assert await routes.delete("/user/fay/x/") is True
        assert proxy.extra_routes == {}
        await proxy.check_routes({}, {})
        assert "/user/fay/x/" not in await routes.routes()

    async def test_an_unreachable_proxy_is_backend_unavailable(self):
        app = JupyterHub(hub_ip="127.0.0.1", hub_port=1)
        app.init_hub()
        proxy = ConfigurableHTTPProxy(
            app=app, hub=app.hub, api_url="http://127.0.0.1:9", auth_token="x", should_start=False
        )
        routes = HubProxyRoutes(lambda: proxy, timeout_seconds=1)
        with pytest.raises(BackendUnavailable, match="the proxy"):
            await routes.routes()


async def test_the_hub_target_is_where_the_proxy_reaches_the_hub(routes):
    target = routes.hub_target()
    assert target.startswith(("http://", "https://"))
    assert target == (
        "http://127.0.0.1:8081" if isinstance(routes, InMemoryProxyRoutes) else "http://127.0.0.1:1"
    )
