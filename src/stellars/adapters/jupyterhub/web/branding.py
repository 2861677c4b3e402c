"""The copied branding files (logo, favicon, JupyterLab icons) at
`/hub/stellars/branding/{name}`: public, like the hub's own static files, so the login page and
JupyterLab's pages can load them.

They are the deployer's files but are served from the hub's origin, so each answer carries
`Content-Security-Policy: sandbox` and `X-Content-Type-Options: nosniff`: an SVG (or any other
document) opened directly runs no script and gets an opaque origin of its own, so it can
neither act with a visitor's hub cookie nor read the hub's pages; and no file is taken for
another type than its extension says. Used as an image (`<img>`, CSS, a favicon), a file shows
as before: a policy sent with an image does not apply to the page that shows it.
"""

from __future__ import annotations

from typing import Any

from tornado import web

BRANDING_ROUTE = "stellars/branding"
#: The headers of every copied file (see the module's docstring).
SANDBOX_HEADERS = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}


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

    def set_extra_headers(self, path: str) -> None:
        for name, value in SANDBOX_HEADERS.items():
            self.set_header(name, value)


def routes(branding_dir: str) -> list[tuple[Any, ...]]:
    """(pattern, handler, kwargs) relative to the hub prefix."""
    return [(rf"/{BRANDING_ROUTE}/(.*)", BrandingFiles, {"path": branding_dir})]
