"""The base of every stellars handler: JupyterHub's own handlers, plus the platform, scope checks
and one mapping from domain errors to HTTP statuses.

Every handler gets the platform and the hub's shared `Turns` as Tornado `initialize` arguments
(`(pattern, Handler, {"platform": ..., "turns": ...})`, see `routes.handlers`), never from a
process-wide lookup.

Bodies are streamed in (`web.stream_request_body`), so a handler starts on the request's
headers alone. It first refuses a body declared larger than its limit (413) without reading a
byte of it; no route reads more than `MAX_BODY_BYTES` unless it says why. Then it learns who
calls (JupyterHub's `prepare`: cookie or token, and the XSRF check), and, for a signed-in
caller only, takes its turn of the loop: anonymous requests are answered (403, or the login
page) without queueing, so a flood of them never delays signed-in users. Its method runs once
the body is in.

A refusal given on the headers alone (the 413, a failed XSRF check) makes Tornado close the
connection rather than read the body. The answer says so (`Connection: close`), and one to a
body within the limit waits for that body first: closing a connection with data unread
resets it, and the proxy in front of the hub (CHP) may then lose the answer and send its own
503. Only the 413 leaves its (oversized) body unread.

API handlers extend JupyterHub's `APIHandler`, so they take the hub cookie (with JupyterHub's
XSRF check on every method) or an API token, and answer every error as JSON in JupyterHub's
shape, `{"status": <code>, "message": "..."}`. Page handlers extend `BaseHandler` and render
templates that extend JupyterHub's own `page.html`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http.client import responses
from typing import TYPE_CHECKING, Any, ClassVar

from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.scopes import has_scope
from tornado import web
from tornado.http1connection import HTTP1Connection

from stellars.domain.audit import AuditAction
from stellars.domain.errors import (
    BackendUnavailable,
    Conflict,
    Forbidden,
    InvalidValue,
    NotFound,
    StellarsError,
)
from stellars.domain.validation import clip, echo

from .recording import AuditNote
from .turns import READS, Turns

if TYPE_CHECKING:
    from stellars.platform import Platform

#: The largest request body a platform route reads, 64 KiB, unless it takes a list of names
#: (then `NAME_LIST_BODY_BYTES`). Every other body is a few fields. Tornado's default is 100 MB,
#: read into memory before a handler starts.
MAX_BODY_BYTES = 64 * 1024
#: The largest body of a route that takes a list of names (passphrases to collect, orphaned
#: volumes to delete, a broadcast's recipients), 256 KiB (262,144 bytes): 1,000 names (the most
#: the first two take) of up to 255 characters each, with their quotes, comma and space, are
#: 259,000 bytes. 255 characters is the longest volume name Docker creates, so on a hub with
#: user volumes it bounds the names of volumes and, escaped as in those names, the names of
#: users; JSON writes no printable character in more bytes than that escaping does. 64 KiB
#: would fit 1,000 names only while they average at most 61 characters.
NAME_LIST_BODY_BYTES = 256 * 1024
#: The most characters of a request path that a message or a log line repeats.
PATH_ECHO_LIMIT = 200
#: The most characters of a refusal's message that its line in the hub's log holds (messages
#: repeat only `validation.ECHO_LIMIT` characters of any value a caller sent; this bounds the
#: line whatever the message).
LOGGED_MESSAGE_LIMIT = 1000

# Most specific first: ContainerNotFound is a NotFound, Refused a Conflict, and so on.
_STATUS_OF_ERROR: tuple[tuple[type[StellarsError], int], ...] = (
    (InvalidValue, 400),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (BackendUnavailable, 503),
)


def status_for(error: StellarsError) -> int:
    """The HTTP status of a domain error (500 only for one the table does not know)."""
    for kind, status in _STATUS_OF_ERROR:
        if isinstance(error, kind):
            return status
    return 500


def too_large(limit: int) -> str:
    """The message of a 413: the limit in KiB and in bytes."""
    return (
        f"The request body is larger than {limit // 1024} KiB ({limit} bytes), the most a "
        "platform route reads."
    )


def declared_length(text: str | None) -> int | None:
    """A Content-Length header's value, or None when absent or not a plain number (Tornado
    refuses those itself before reading a body)."""
    if text is None or not text.strip().isdigit():
        return None
    return int(text)


class PlatformMixin:
    """Access to the platform and scope checks, shared by API and page handlers."""

    settings: dict[str, Any]
    current_user: Any
    parsed_scopes: Any
    db: Any
    request: Any
    set_header: Any
    platform: Platform
    turns: Turns
    #: The largest body this route reads (a route that needs more says why).
    max_body_bytes: ClassVar[int] = MAX_BODY_BYTES
    #: The body as it arrives, up to `max_body_bytes`, and whether more came than that.
    received_body: bytearray
    received_too_much = False
    #: True until `prepare` is through: an answer given meanwhile comes before the body.
    preparing = True
    #: An answer given while preparing, held until the body is in (see the module's docstring).
    answer_held = False
    #: What this request does to someone else's state or the platform, for the audit feed
    #: (`audit`; recorded with the answer's outcome when the request ends: see `recording`).
    audit_notes: list[AuditNote]
    #: The message of the refusal or failure this request was answered with, for the feed.
    audit_error = ""

    def initialize(self, platform: Platform, turns: Turns, **kwargs: Any) -> None:
        self.platform = platform
        self.turns = turns
        self.received_body = bytearray()
        self.audit_notes = []
        super().initialize(**kwargs)  # type: ignore[misc]

    def audit(
        self, action: AuditAction, target: str = "", subject: str = "", **details: Any
    ) -> AuditNote:
        """Declare what this request does, before it checks scopes or acts, so that a refused
        or failed attempt is recorded too; add what the work found to the note's `details`."""
        note = AuditNote(action, target, subject, dict(details))
        self.audit_notes.append(note)
        return note

    async def prepare(self) -> None:
        """On the headers alone: the body's limit, who calls (JupyterHub's prepare), then a
        turn for signed-in callers only (see the module's docstring)."""
        self.limit_body()
        await super().prepare()  # type: ignore[misc]
        if self.current_user is not None:
            await self.take_turn()
        self.preparing = False

    def limit_body(self) -> None:
        """413 for a body declared larger than `max_body_bytes`, before any of it is read; a
        body sent without a length (chunked) is cut off by the connection at the limit
        (Tornado answers a bare 400 and closes it)."""
        if (self.declared_body or 0) > self.max_body_bytes:
            raise web.HTTPError(413, too_large(self.max_body_bytes))
        connection = self.request.connection
        if isinstance(connection, HTTP1Connection):
            connection.set_max_body_size(self.max_body_bytes)  # this request's only

    @property
    def declared_body(self) -> int | None:
        """The body's length as its Content-Length header declares it (None: not declared)."""
        return declared_length(self.request.headers.get("Content-Length"))

    def data_received(self, chunk: bytes) -> None:
        """A piece of the body (see `limit_body`); nothing past the limit is kept, whatever
        the connection lets through. Sends a held answer once the body is in."""
        if len(self.received_body) + len(chunk) <= self.max_body_bytes:
            self.received_body += chunk
        else:
            self.received_too_much = True
        if self.answer_held and len(self.received_body) >= (self.declared_body or 0):
            self.answer_held = False
            super().finish()  # type: ignore[misc]

    def finish(self, chunk: Any = None) -> Any:
        """Tornado's finish, but for an answer given on the headers alone: that one says the
        connection closes, and waits for a body within the limit (module docstring)."""
        if not self.preparing:
            return super().finish(chunk)  # type: ignore[misc]
        self.set_header("Connection", "close")
        declared = self.declared_body or 0
        if not 0 < declared <= self.max_body_bytes:  # no body, or one never to be read
            return super().finish(chunk)  # type: ignore[misc]
        if chunk is not None:
            self.write(chunk)  # type: ignore[attr-defined]
        self.answer_held = True
        return None

    async def take_turn(self) -> None:
        """Wait until this request may start: one request of a burst at a time (see `turns`),
        so that a burst of platform requests never holds the hub's loop for more than one of
        them."""
        await self.turns.take(change=self.request.method not in READS)

    def has_scope(self, scope: str, *, user: str | None = None) -> bool:
        """Whether the caller holds `scope` (for `user`'s resources when given)."""
        if self.current_user is None:
            return False
        wanted = scope if user is None else f"{scope}!user={user}"
        return bool(has_scope(wanted, self.parsed_scopes, db=self.db))

    def require_scope(self, scope: str, *, user: str | None = None) -> None:
        """403 unless the caller holds `scope` (for `user`'s resources when given)."""
        if self.current_user is None:
            raise web.HTTPError(403, "Missing or invalid credentials.")
        if not self.has_scope(scope, user=user):
            target = f" on user {echo(user)}" if user is not None else ""
            raise web.HTTPError(
                403, f"Action is not authorized with current scopes; requires {scope}{target}"
            )


@web.stream_request_body
class StellarsAPIHandler(PlatformMixin, APIHandler):
    """JSON in and out; domain errors become 400/403/404/409/503 with their message."""

    def read_json_object(self) -> Mapping[str, Any]:
        """The request body as a JSON object; an empty body is {}. 413 for one over the
        route's limit, 400 for anything else."""
        if self.received_too_much:
            raise web.HTTPError(413, too_large(self.max_body_bytes))
        body = bytes(self.received_body).strip()
        if not body:
            return {}
        try:
            value = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise web.HTTPError(400, "The request body is not valid JSON.") from None
        if not isinstance(value, dict):
            raise web.HTTPError(400, "The request body must be a JSON object.")
        return value

    def write_json(self, value: object, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value))

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        error = _exception(kwargs)
        if isinstance(error, StellarsError):
            status_code = status_for(error)
            self.audit_error = _message(error)
        elif isinstance(error, web.HTTPError):
            self.audit_error = error.log_message or error.reason or ""
        super().send_error(status_code, **kwargs)

    def error_fields(self, message: str) -> dict[str, Any]:
        """Fields a route adds to its error answers beside JupyterHub's `status` and `message`
        (a route shared with the original keeps the fields the original's clients read)."""
        return {}

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = _exception(kwargs)
        if isinstance(error, StellarsError):
            message = _message(error)
        elif isinstance(error, web.HTTPError) and self.error_fields(""):
            message = (
                getattr(error, "jupyterhub_message", None)
                or error.log_message
                or error.reason
                or responses.get(status_code, "Unknown Error")
            )
        else:
            super().write_error(status_code, **kwargs)
            return
        self.set_header("Content-Type", "application/json")
        self.finish(
            json.dumps({"status": status_code, "message": message, **self.error_fields(message)})
        )

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, StellarsError) and status_for(value) < 500:
            # An expected refusal, not a fault: one bounded line, no traceback.
            self.log.info("%s %s: %s", *self.logged(value))
            return
        if isinstance(value, BackendUnavailable):
            self.log.warning("%s %s: %s", *self.logged(value))
            return
        super().log_exception(typ, value, tb)

    def logged(self, error: BaseException) -> tuple[str, str, str]:
        """Method, path and message of a refusal as its log line holds them, each cut to its
        limit (the path as sent, still %-encoded, so it holds no line break)."""
        path = clip(self.request.path, PATH_ECHO_LIMIT)
        return self.request.method, path, clip(str(error), LOGGED_MESSAGE_LIMIT)


@web.stream_request_body
class StellarsPageHandler(PlatformMixin, BaseHandler):
    """A page of the platform, rendered with JupyterHub's templates and nav bar."""

    async def render_page(self, template: str, **namespace: Any) -> None:
        html = await self.render_template(template, **namespace)
        self.finish(html)


def _exception(kwargs: Mapping[str, Any]) -> BaseException | None:
    exc_info = kwargs.get("exc_info")
    return exc_info[1] if exc_info else None


def _message(error: StellarsError) -> str:
    return str(error) or type(error).__name__
