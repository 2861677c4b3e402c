"""The copied branding files (logo, favicon, JupyterLab icons) at
`/hub/stellars/branding/{name}`: public, like the hub's own static files, so the login page and
JupyterLab's pages can load them."""

from __future__ import annotations

from typing import Any

from tornado import web

BRANDING_ROUTE = "stellars/branding"


def branding_base(base_path: str) -> str:
    """The path under which a browser loads the copied files ("/prefix/hub/stellars/...")."""
    return f"{base_path.rstrip('/')}/hub/{BRANDING_ROUTE}/"


class BrandingFiles(web.StaticFileHandler):
    """Tornado's static file handler over the branding directory (a hub configured without one
    answers 404)."""

    def initialize(self, path: str, *args: Any, **kwargs: Any) -> None:
        self.configured = bool(path)
        super().initialize(path, *args, **kwargs)

    async def get(self, path: str, include_body: bool = True) -> None:
        if not self.configured:
            raise web.HTTPError(404)
        await super().get(path, include_body)


def routes(branding_dir: str) -> list[tuple[Any, ...]]:
    """(pattern, handler, kwargs) relative to the hub prefix."""
    return [(rf"/{BRANDING_ROUTE}/(.*)", BrandingFiles, {"path": branding_dir})]
