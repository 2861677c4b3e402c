"""The routes the platform adds to the hub, relative to the hub prefix (`/hub/`), at the paths of
the original platform. They are registered ahead of JupyterHub's own handlers; an unknown path
under one of the platform's API prefixes answers a JSON 404 that names it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tornado import web

from . import activity, branding, notifications, servers, sessions, users
from .base import StellarsAPIHandler
from .settings import SettingsAPI, SettingsPage

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STATIC_ROUTE = "stellars/static"
#: API paths that belong to the platform alone (JupyterHub has nothing under them).
API_PREFIXES = ("activity", "notifications", "admin", "settings")


class UnknownRoute(StellarsAPIHandler):
    """A JSON 404 naming the path, for any method, under the platform's API prefixes."""

    def check_xsrf_cookie(self) -> None:
        """No state changes here, so no XSRF check: the answer is a 404 either way."""

    async def prepare(self) -> None:
        await super().prepare()
        raise web.HTTPError(404, f"No such route: {self.request.method} {self.request.path}")


def handlers() -> list[tuple[Any, ...]]:
    """(pattern, handler[, kwargs]) tuples, hub-relative, in registration order."""
    return [
        (r"/settings", SettingsPage),
        (r"/api/settings", SettingsAPI),
        *activity.ROUTES,
        *sessions.ROUTES,
        *servers.ROUTES,
        *users.ROUTES,
        *branding.ROUTES,
        *notifications.ROUTES,
        (rf"/{STATIC_ROUTE}/(.*)", web.StaticFileHandler, {"path": str(STATIC_DIR)}),
        (rf"/api/(?:{'|'.join(API_PREFIXES)})(?:/.*)?", UnknownRoute),
    ]
