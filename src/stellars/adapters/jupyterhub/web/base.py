"""The base of every stellars handler: JupyterHub's own handlers, plus the platform, scope checks
and one mapping from domain errors to HTTP statuses.

Every handler gets the platform and the hub's shared `Turns` as Tornado `initialize` arguments
(`(pattern, Handler, {"platform": ..., "turns": ...})`, see `routes.handlers`), never from a
process-wide lookup.

API handlers extend JupyterHub's `APIHandler`, so they take the hub cookie (with JupyterHub's
XSRF check on every method) or an API token, and answer every error as JSON in JupyterHub's
shape, `{"status": <code>, "message": "..."}`. Page handlers extend `BaseHandler` and render
templates that extend JupyterHub's own `page.html`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http.client import responses
from typing import TYPE_CHECKING, Any

from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.scopes import has_scope
from tornado import web

from stellars.domain.errors import (
    BackendUnavailable,
    Conflict,
    Forbidden,
    InvalidValue,
    NotFound,
    StellarsError,
)

from .turns import Turns

if TYPE_CHECKING:
    from stellars.platform import Platform

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


class PlatformMixin:
    """Access to the platform and scope checks, shared by API and page handlers."""

    settings: dict[str, Any]
    current_user: Any
    parsed_scopes: Any
    db: Any
    platform: Platform
    turns: Turns

    def initialize(self, platform: Platform, turns: Turns, **kwargs: Any) -> None:
        self.platform = platform
        self.turns = turns
        super().initialize(**kwargs)  # type: ignore[misc]

    async def take_turn(self) -> None:
        """Wait until this request may start: one request of a burst per pass of the loop
        (see `turns`), so that a burst of platform requests never holds the hub's loop for
        more than one of them."""
        await self.turns.take()

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
            target = f" on user {user}" if user is not None else ""
            raise web.HTTPError(
                403, f"Action is not authorized with current scopes; requires {scope}{target}"
            )


class StellarsAPIHandler(PlatformMixin, APIHandler):
    """JSON in and out; domain errors become 400/403/404/409/503 with their message."""

    async def prepare(self) -> None:
        await self.take_turn()
        await super().prepare()

    def read_json_object(self) -> Mapping[str, Any]:
        """The request body as a JSON object; an empty body is {}. 400 for anything else."""
        body = self.request.body.strip()
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
            # An expected refusal, not a fault: one line, no traceback.
            self.log.info("%s %s: %s", self.request.method, self.request.path, value)
            return
        if isinstance(value, BackendUnavailable):
            self.log.warning("%s %s: %s", self.request.method, self.request.path, value)
            return
        super().log_exception(typ, value, tb)


class StellarsPageHandler(PlatformMixin, BaseHandler):
    """A page of the platform, rendered with JupyterHub's templates and nav bar."""

    async def prepare(self) -> None:
        await self.take_turn()
        await super().prepare()

    async def render_page(self, template: str, **namespace: Any) -> None:
        html = await self.render_template(template, **namespace)
        self.finish(html)


def _exception(kwargs: Mapping[str, Any]) -> BaseException | None:
    exc_info = kwargs.get("exc_info")
    return exc_info[1] if exc_info else None


def _message(error: StellarsError) -> str:
    return str(error) or type(error).__name__
