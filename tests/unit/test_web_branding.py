"""The copied branding files on a minimal Tornado app: served as they are, each with the
headers that keep a scripted document (an SVG opened directly) from running on the hub's
origin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPResponse
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from stellars.adapters.jupyterhub.web.branding import SANDBOX_HEADERS, routes

SCRIPTED_SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@asynccontextmanager
async def serving(branding_dir: str) -> AsyncIterator[str]:
    sock, port = bind_unused_port()
    server = HTTPServer(web.Application(routes(branding_dir)))
    server.add_sockets([sock])
    try:
        yield f"http://127.0.0.1:{port}/stellars/branding"
    finally:
        server.stop()
        await server.close_all_connections()


async def fetch(url: str, **kwargs: object) -> HTTPResponse:
    return await AsyncHTTPClient().fetch(url, raise_error=False, **kwargs)


def test_the_headers():
    assert SANDBOX_HEADERS == {
        "Content-Security-Policy": "sandbox",
        "X-Content-Type-Options": "nosniff",
    }


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("stellars-logo.svg", SCRIPTED_SVG, "image/svg+xml"),
        ("stellars-logo.png", b"\x89PNG\r\n\x1a\nlogo", "image/png"),
    ],
)
async def test_every_file_is_served_sandboxed_and_never_sniffed(tmp_path: Path, name, data, kind):
    (tmp_path / name).write_bytes(data)
    async with serving(str(tmp_path)) as base:
        answer = await fetch(f"{base}/{name}")
        head = await fetch(f"{base}/{name}", method="HEAD")
        again = await fetch(f"{base}/{name}", headers={"If-None-Match": answer.headers["Etag"]})
    assert answer.code == 200
    assert answer.body == data
    assert answer.headers["Content-Type"] == kind
    for response in (answer, head, again):
        assert response.headers["Content-Security-Policy"] == "sandbox"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert (head.code, again.code) == (200, 304)


async def test_a_hub_without_a_branding_directory_answers_404():
    async with serving("") as base:
        answer = await fetch(f"{base}/stellars-logo.svg")
    assert answer.code == 404
