"""The handler base on a minimal Tornado app (JupyterHub's authentication and XSRF check stood
in for by headers): bodies over a route's limit are refused with a JSON 413 before they are
read, a refusal on the headers waits for a body within the limit and says the connection
closes, a refusal's log line is bounded, and anonymous requests are answered without taking a
turn, so they never queue ahead of signed-in users."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPResponse
from tornado.httpserver import HTTPServer
from tornado.iostream import StreamClosedError
from tornado.testing import bind_unused_port

from stellars.adapters.jupyterhub.web import (
    activity,
    notifications,
    servers,
    sessions,
    settings,
    users,
)
from stellars.adapters.jupyterhub.web.base import (
    LOGGED_MESSAGE_LIMIT,
    MAX_BODY_BYTES,
    NAME_LIST_BODY_BYTES,
    PATH_ECHO_LIMIT,
    StellarsAPIHandler,
    StellarsPageHandler,
    declared_length,
    too_large,
)
from stellars.adapters.jupyterhub.web.notifications import BroadcastAPI
from stellars.adapters.jupyterhub.web.routes import UnknownRoute
from stellars.adapters.jupyterhub.web.turns import Turns
from stellars.adapters.jupyterhub.web.users import MAX_NAMES, CredentialsAPI, OrphanedVolumesAPI
from stellars.domain.errors import InvalidValue

LIMIT_MESSAGE = (
    "The request body is larger than 64 KiB (65536 bytes), the most a platform route reads."
)
LOG = logging.getLogger("stellars.test.web_base")


class StandInAuth:
    """JupyterHub's authentication stood in for: the caller is named by an X-Test-User
    header (none: anonymous), with no scopes; a request that changes state needs an
    X-Test-Xsrf header (JupyterHub's check, which it also runs in its prepare)."""

    request: Any
    received_body: bytearray
    #: The HTTP methods that ran, and how much body each answer had read when it finished.
    calls: ClassVar[list[str]] = []
    finished_with: ClassVar[list[int]] = []

    async def get_current_user(self) -> Any:
        name = self.request.headers.get("X-Test-User")
        self._jupyterhub_user = SimpleNamespace(name=name) if name else None
        return self._jupyterhub_user

    def _resolve_roles_and_scopes(self) -> None:
        self.parsed_scopes: dict[str, Any] = {}

    def check_xsrf_cookie(self) -> None:
        if not hasattr(self, "_jupyterhub_user"):
            return  # Tornado's early call, before the caller is known (as in JupyterHub)
        if "X-Test-Xsrf" not in self.request.headers:
            raise web.HTTPError(403, "'_xsrf' argument missing from POST")

    def on_finish(self) -> None:
        self.finished_with.append(len(self.received_body))


class Probe(StandInAuth, StellarsAPIHandler):
    async def post(self) -> None:
        self.calls.append("post")
        if self.current_user is None:
            raise web.HTTPError(403, "Missing or invalid credentials.")
        body = self.read_json_object()
        self.write_json({"length": len(json.dumps(body)), "user": self.current_user.name})

    async def delete(self) -> None:
        raise InvalidValue("volumes", bytes(self.received_body).decode())


class RoomyProbe(Probe):
    max_body_bytes = 100_000


class PageProbe(StandInAuth, StellarsPageHandler):
    async def get(self) -> None:
        self.finish("anonymous" if self.current_user is None else self.current_user.name)


class HeldTurns(Turns):
    """Turns whose queue is held shut until `release`; counts the turns asked for, and notes
    whether each was for a change."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0
        self.changes: list[bool] = []
        self.someone_asked = asyncio.Event()
        self.gate = asyncio.Event()

    async def take(self, *, change: bool = True) -> None:
        self.asked += 1
        self.changes.append(change)
        self.someone_asked.set()
        await self.gate.wait()
        await super().take(change=change)

    def release(self) -> None:
        self.gate.set()


@asynccontextmanager
async def serving(turns: Turns | None = None) -> AsyncIterator[str]:
    """A minimal app with the probes, on a free loopback port; yields its base URL."""
    Probe.calls.clear()
    Probe.finished_with.clear()
    shared = {"platform": None, "turns": turns or Turns()}
    app = web.Application(
        [
            (r"/probe", Probe, shared),
            (r"/roomy", RoomyProbe, shared),
            (r"/page", PageProbe, shared),
            (r"/long/.*", Probe, shared),
        ],
        hub=SimpleNamespace(base_url="/hub/"),
        xsrf_cookies=True,
        db=SimpleNamespace(dirty=False),
        log=LOG,
    )
    sock, port = bind_unused_port()
    server = HTTPServer(app)
    server.add_sockets([sock])
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        await server.close_all_connections()


async def fetch(
    url: str, *, user: str | None = None, xsrf: bool = True, **kwargs: Any
) -> HTTPResponse:
    """The answer, whatever its status."""
    headers = {"X-Test-User": user} if user else {}
    if xsrf:
        headers["X-Test-Xsrf"] = "1"
    return await AsyncHTTPClient().fetch(url, headers=headers, raise_error=False, **kwargs)


def json_body(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    body = json.dumps({"text": "x" * (size - 12)}).encode()
    assert len(body) == size
    return body


# --- bodies ------------------------------------------------------------------------------------


async def test_a_body_up_to_the_limit_is_read_whole():
    async with serving() as base:
        answer = await fetch(f"{base}/probe", user="ann", method="POST", body=json_body(65536))
    assert answer.code == 200
    assert json.loads(answer.body) == {"length": 65536, "user": "ann"}


async def test_a_body_one_byte_over_the_limit_gets_a_json_413_naming_it():
    async with serving() as base:
        answer = await fetch(f"{base}/probe", user="ann", method="POST", body=json_body(65537))
    assert answer.code == 413
    assert json.loads(answer.body) == {"status": 413, "message": LIMIT_MESSAGE}
    assert Probe.calls == []  # the route never ran
    assert Probe.finished_with == [0]  # nor was the body read


async def test_the_413_comes_from_the_headers_before_any_of_the_body():
    async with serving() as base:
        port = int(base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /probe HTTP/1.1\r\nHost: x\r\nX-Test-User: ann\r\n"
            b"Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n"
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
        rest = await asyncio.wait_for(reader.read(), timeout=30)  # the hub closes after it
        writer.close()
    assert head.startswith(b"HTTP/1.1 413 ")
    assert b"\r\nConnection: close\r\n" in head  # said: it closes, the body unread
    assert json.loads(rest) == {"status": 413, "message": LIMIT_MESSAGE}


async def test_a_chunked_body_is_cut_off_at_the_limit_and_never_handled():
    async def megabyte(write: Callable[[bytes], Awaitable[None]]) -> None:
        await write(b'{"text": "')
        for _ in range(128):
            await write(b"x" * 8192)
        await write(b'"}')

    async with serving() as base:
        try:
            answer = await fetch(f"{base}/probe", user="ann", method="POST", body_producer=megabyte)
        except StreamClosedError:
            pass  # the connection closed before the client read Tornado's bare 400
        else:
            assert answer.code == 400
    assert Probe.calls == []


async def test_a_route_may_read_more_than_the_default():
    async with serving() as base:
        roomy = await fetch(f"{base}/roomy", user="ann", method="POST", body=json_body(100_000))
        over = await fetch(f"{base}/roomy", user="ann", method="POST", body=json_body(100_001))
    assert roomy.code == 200
    assert json.loads(roomy.body)["length"] == 100_000
    assert over.code == 413
    assert json.loads(over.body)["message"] == (
        "The request body is larger than 97 KiB (100000 bytes), the most a platform route reads."
    )


async def test_a_refusal_on_the_headers_waits_for_a_body_within_the_limit():
    """Answered at once, the connection would close with the body unread, and a proxy could
    lose the answer (see base's docstring)."""
    async with serving() as base:
        refused = await fetch(
            f"{base}/probe", user="ann", xsrf=False, method="POST", body=json_body(60_000)
        )
    assert refused.code == 403
    assert json.loads(refused.body)["message"] == "'_xsrf' argument missing from POST"
    assert Probe.calls == []
    assert Probe.finished_with == [60_000]


@pytest.mark.parametrize("body", [b"", b"{}"])
async def test_a_refusal_on_the_headers_says_the_connection_closes(body):
    async with serving() as base:
        port = int(base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /probe HTTP/1.1\r\nHost: x\r\nX-Test-User: ann\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        answer = await asyncio.wait_for(reader.read(), timeout=30)  # until it closes
        writer.close()
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403 ")
    assert b"\r\nConnection: close\r\n" in head
    assert json.loads(rest)["message"] == "'_xsrf' argument missing from POST"
    assert Probe.finished_with == [len(body)]


async def test_answers_after_the_body_keep_the_connection_open():
    """Two requests down one kept-alive connection, the first refused by the route itself
    (after its body is in): both are answered."""

    async def answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        return head, await reader.readexactly(length)

    request = "POST /probe HTTP/1.1\r\nHost: x\r\nX-Test-Xsrf: 1\r\n{}Content-Length: 2\r\n\r\n{{}}"
    async with serving() as base:
        port = int(base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request.format("").encode())
        first_head, _ = await answer(reader)
        writer.write(request.format("X-Test-User: ann\r\n").encode())
        second_head, second = await answer(reader)
        writer.close()
    assert first_head.startswith(b"HTTP/1.1 403 ")
    assert b"Connection: close" not in first_head
    assert second_head.startswith(b"HTTP/1.1 200 ")
    assert json.loads(second) == {"length": 2, "user": "ann"}
    assert Probe.calls == ["post", "post"]


def test_the_limit_and_its_message():
    assert MAX_BODY_BYTES == 65536
    assert too_large(MAX_BODY_BYTES) == LIMIT_MESSAGE


def test_routes_that_take_a_list_of_names_read_up_to_256_kib_which_1000_long_names_fit():
    assert NAME_LIST_BODY_BYTES == 262_144
    longest = json.dumps({"usernames": ["n" * 255] * MAX_NAMES})
    assert len(longest.encode()) <= NAME_LIST_BODY_BYTES
    assert len(json.dumps({"usernames": ["n" * 62] * MAX_NAMES})) > MAX_BODY_BYTES
    lists = {CredentialsAPI, OrphanedVolumesAPI, BroadcastAPI}
    for handler in lists:
        assert handler.max_body_bytes == NAME_LIST_BODY_BYTES, handler
    others = [
        handler
        for routes in (activity.routes(), sessions.ROUTES, servers.ROUTES, users.ROUTES,
                       notifications.ROUTES, settings.ROUTES)
        for _, handler, *_ in routes
        if handler not in lists
    ]  # fmt: skip
    assert len(others) == 15
    assert {handler.max_body_bytes for handler in [*others, UnknownRoute]} == {MAX_BODY_BYTES}


@pytest.mark.parametrize(
    ("header", "length"),
    [(None, None), ("0", 0), ("65537", 65537), (" 12 ", 12), ("12, 12", None), ("-1", None),
     ("1_000", None), ("", None), ("0x10", None)],
)  # fmt: skip
def test_only_a_plain_content_length_is_taken_at_its_word(header, length):
    assert declared_length(header) == length


# --- what a refusal repeats --------------------------------------------------------------------


async def test_a_refusals_log_line_is_bounded_whatever_the_message(caplog):
    long_path = "/long/" + "p" * 5000
    with caplog.at_level(logging.INFO, logger=LOG.name):
        async with serving() as base:
            answer = await fetch(
                base + long_path, user="ann", method="DELETE", body=b"m" * 60_000,
                allow_nonstandard_methods=True,
            )  # fmt: skip
    assert answer.code == 400
    lines = [record.getMessage() for record in caplog.records if record.name == LOG.name]
    refusal = next(line for line in lines if line.startswith("DELETE /long/"))
    _, path, message = refusal.split(" ", 2)
    assert path == f"/long/{'p' * (PATH_ECHO_LIMIT - 9)}...:"
    assert message == f"volumes: {'m' * (LOGGED_MESSAGE_LIMIT - 12)}..."


# --- turns: signed-in callers only --------------------------------------------------------------


async def test_anonymous_requests_are_answered_while_the_queue_is_held():
    turns = HeldTurns()
    async with serving(turns) as base:
        try:
            signed_in = asyncio.ensure_future(
                fetch(f"{base}/probe", user="ann", method="POST", body=b"{}")
            )
            # ann's request reaches the queue and waits there.
            await asyncio.wait_for(turns.someone_asked.wait(), timeout=30)
            anonymous = await asyncio.wait_for(
                asyncio.gather(
                    *(fetch(f"{base}/probe", method="POST", body=b"{}") for _ in range(10)),
                    *(fetch(f"{base}/page") for _ in range(10)),
                ),
                timeout=30,
            )
            assert [answer.code for answer in anonymous] == [403] * 10 + [200] * 10
            assert {answer.body for answer in anonymous[10:]} == {b"anonymous"}
            assert turns.asked == 1  # none of them asked for a turn
            assert not signed_in.done()  # ann still waits for hers
        finally:
            turns.release()  # nobody is left waiting when the server stops
        answer = await asyncio.wait_for(signed_in, timeout=30)
    assert answer.code == 200
    assert json.loads(answer.body)["user"] == "ann"


async def test_signed_in_callers_take_a_turn_on_every_route():
    turns = HeldTurns()
    turns.release()
    async with serving(turns) as base:
        page = await fetch(f"{base}/page", user="bob")
        api = await fetch(f"{base}/probe", user="bob", method="POST", body=b"{}")
    assert (page.code, api.code) == (200, 200)
    assert page.body == b"bob"
    assert turns.asked == 2
    assert turns.changes == [False, True]  # a read lets the next start sooner than a change
