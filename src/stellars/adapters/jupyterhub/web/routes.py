"""The routes the platform adds to the hub, relative to the hub prefix (`/hub/`), at the paths of
the original platform. They are registered ahead of JupyterHub's own handlers; an unknown path
under one of the platform's API prefixes answers a JSON 404 that names it.

Each route module lists its routes as (pattern, handler) pairs; `handlers` hands every platform
handler the platform and the hub's shared `Turns` (and a route's own state, such as the
dashboard's encoded pages) as Tornado `initialize` arguments.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tornado import web

from stellars.domain.validation import clip

from . import (
    activity,
    audit,
    branding,
    notifications,
    policies,
    servers,
    sessions,
    settings,
    stops,
    users,
)
from .base import PATH_ECHO_LIMIT, StellarsAPIHandler
from .turns import Turns

if TYPE_CHECKING:
    from stellars.platform import Platform

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STATIC_ROUTE = "stellars/static"
#: API paths that belong to the platform alone (JupyterHub has nothing under them).
API_PREFIXES = ("activity", "notifications", "admin", "settings", "policies", "audit")


class UnknownRoute(StellarsAPIHandler):
    """A JSON 404 naming the path, for any method, under the platform's API prefixes (once
    the body is in, like any other answer: see `base`)."""

    def check_xsrf_cookie(self) -> None:
        """No state changes here, so no XSRF check: the answer is a 404 either way."""

    def no_such_route(self, *args: Any) -> None:
        path = clip(self.request.path, PATH_ECHO_LIMIT)
        raise web.HTTPError(404, f"No such route: {self.request.method} {path}")

    get = head = post = put = patch = delete = options = no_such_route


def _with(
    routes: Iterable[tuple[Any, ...]], shared: dict[str, Any]
) -> list[tuple[str, Any, dict[str, Any]]]:
    """Each route with the shared `initialize` arguments added to its own."""
    return [
        (pattern, handler, {**shared, **(own[0] if own else {})})
        for pattern, handler, *own in routes
    ]


def handlers(platform: Platform, *, turns: Turns, branding_dir: str) -> list[tuple[Any, ...]]:
    """(pattern, handler, kwargs) tuples, hub-relative, in registration order."""
    shared = {"platform": platform, "turns": turns}
    return [
        *_with(
            [
                *settings.ROUTES,
                *activity.routes(),
                *sessions.ROUTES,
                *servers.ROUTES,
                *stops.ROUTES,
                *users.ROUTES,
                *notifications.ROUTES,
                *policies.ROUTES,
                *audit.ROUTES,
            ],
            shared,
        ),
        *branding.routes(branding_dir),
        (rf"/{STATIC_ROUTE}/(.*)", web.StaticFileHandler, {"path": str(STATIC_DIR)}),
        *_with([(rf"/api/(?:{'|'.join(API_PREFIXES)})(?:/.*)?", UnknownRoute)], shared),
    ]
