"""The CHP adapter without a proxy: path conversion (JupyterHub's rules), route mapping, and
every way the API can fail, through a scripted HTTP client."""

from __future__ import annotations

import io
import json

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest, HTTPResponse
from tornado.simple_httpclient import HTTPTimeoutError

from stellars.adapters.chp import (
    ChpProxyRoutes,
    chp_path,
    route_from_chp,
    routes_from_chp,
    routespec_from_chp,
)
from stellars.domain.errors import BackendUnavailable, InvalidValue
from stellars.ports.proxy import ProxyRoute


@pytest.mark.parametrize(
    ("routespec", "path"),
    [
        ("/", "/"),
        ("/user/alice/", "/user/alice"),
        ("/user/a%20b@c~d/", "/user/a%20b@c~d"),  # JupyterHub's escapes are sent as they are
        ("/user/a b/", "/user/a%20b"),  # what a URL cannot carry is escaped
        ("/user/ü/", "/user/%C3%BC"),
        ("/user/q?x#y/", "/user/q%3Fx%23y"),
    ],
)
def test_routespecs_become_chp_paths_without_the_trailing_slash(routespec, path):
    assert chp_path(routespec) == path


@pytest.mark.parametrize("routespec", ["", "user/alice/", "/user/alice", "host.example/user/"])
def test_routespecs_must_be_paths_ending_in_a_slash(routespec):
    with pytest.raises(InvalidValue):
        chp_path(routespec)


@pytest.mark.parametrize(
    ("key", "routespec"),
    [
        ("/", "/"),
        ("/user/alice", "/user/alice/"),
        ("/user/a b@c~d", "/user/a%20b@c~d/"),  # CHP keeps keys unescaped
        ("/user/bü", "/user/b%C3%BC/"),
    ],
)
def test_chp_keys_become_routespecs_as_jupyterhub_names_them(key, routespec):
    assert routespec_from_chp(key) == routespec


def test_chp_own_keys_are_not_route_data():
    entry = {
        "target": "http://127.0.0.1:8081",
        "owner": "stellars",
        "jupyterhub": True,
        "last_activity": "2026-11-25T17:38:47.887Z",
    }
    assert route_from_chp("/user/alice/favicon", entry) == ProxyRoute(
        "/user/alice/favicon/",
        "http://127.0.0.1:8081",
        {"owner": "stellars", "jupyterhub": True},
    )


def test_routing_table_skips_malformed_entries():
    table = {"/a": {"target": "http://x"}, "/b": "not an entry"}
    assert routes_from_chp(table) == {"/a/": ProxyRoute("/a/", "http://x", {})}


# --- the HTTP side, scripted -------------------------------------------------------------------


class ScriptedClient:
    """An AsyncHTTPClient stand-in: answers (code, body) or raises, in order; records requests."""

    def __init__(self, *answers: tuple[int, object] | BaseException) -> None:
        self.answers = list(answers)
        self.requests: list[HTTPRequest] = []

    async def fetch(self, request: HTTPRequest, raise_error: bool = True) -> HTTPResponse:
        assert raise_error is False
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        code, body = answer
        if isinstance(body, bytes):
            payload = body
        else:
            payload = b"" if body is None else json.dumps(body).encode()
        return HTTPResponse(request, code, buffer=io.BytesIO(payload))


def routes_with(client: ScriptedClient) -> ChpProxyRoutes:
    return ChpProxyRoutes("http://127.0.0.1:8001/", "s3cret", http_client=client)  # type: ignore[arg-type]


async def test_add_posts_target_and_data_with_the_token():
    client = ScriptedClient((201, None))
    await routes_with(client).add("/user/alice/", "http://10.0.0.2:8888", {"owner": "stellars"})
    (request,) = client.requests
    assert request.method == "POST"
    assert request.url == "http://127.0.0.1:8001/api/routes/user/alice"
    assert request.headers["Authorization"] == "token s3cret"
    assert json.loads(request.body) == {"owner": "stellars", "target": "http://10.0.0.2:8888"}
    assert request.request_timeout == 10.0


async def test_routes_maps_the_table():
    client = ScriptedClient(
        (200, {"/user/alice": {"target": "http://t", "last_activity": "2026-11-25T17:38:47Z"}})
    )
    assert await routes_with(client).routes() == {
        "/user/alice/": ProxyRoute("/user/alice/", "http://t", {})
    }


async def test_delete_of_a_missing_route_asks_first_and_deletes_nothing():
    client = ScriptedClient((404, None))
    assert await routes_with(client).delete("/user/alice/") is False
    assert [request.method for request in client.requests] == ["GET"]


async def test_delete_of_an_existing_route():
    client = ScriptedClient((200, {"target": "http://t"}), (204, None))
    assert await routes_with(client).delete("/user/alice/") is True
    assert [request.method for request in client.requests] == ["GET", "DELETE"]
    assert client.requests[1].url == "http://127.0.0.1:8001/api/routes/user/alice"


async def test_delete_racing_another_delete_is_false():
    client = ScriptedClient((200, {"target": "http://t"}), (404, None))
    assert await routes_with(client).delete("/user/alice/") is False


@pytest.mark.parametrize(
    "answer",
    [
        (401, None),
        (403, None),
        (500, {"message": "boom"}),
        (400, None),
        ConnectionRefusedError(111, "Connection refused"),
        HTTPTimeoutError("Timeout while connecting"),
        HTTPClientError(599, "Stream closed"),
    ],
)
async def test_failures_are_backend_unavailable(answer):
    with pytest.raises(BackendUnavailable, match="configurable-http-proxy"):
        await routes_with(ScriptedClient(answer)).routes()


async def test_a_refused_token_is_named_as_such():
    with pytest.raises(BackendUnavailable, match="refused the API token"):
        await routes_with(ScriptedClient((403, None))).add("/a/", "http://t")


@pytest.mark.parametrize("body", [b"<html>proxy error</html>", b"[]", b""])
async def test_an_answer_that_is_not_a_routing_table_is_backend_unavailable(body):
    with pytest.raises(BackendUnavailable):
        await routes_with(ScriptedClient((200, body))).routes()
