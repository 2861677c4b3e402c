"""The copied branding files (logo, favicon, JupyterLab icons) at
`/hub/stellars/branding/{name}`: public, like the hub's own static files, so the login page and
JupyterLab's pages can load them."""

from __future__ import annotations

from typing import Any

from tornado import web

#: The key of the branding directory (a str path) in JupyterHub's tornado settings.
BRANDING_DIR_SETTING = "stellars_branding_dir"
BRANDING_ROUTE = "stellars/branding"


def branding_base(base_path: str) -> str:
    """The path under which a browser loads the copied files ("/prefix/hub/stellars/...")."""
    return f"{base_path.rstrip('/')}/hub/{BRANDING_ROUTE}/"


class BrandingFiles(web.StaticFileHandler):
    """Tornado's static file handler over the directory named in the tornado settings (a hub
    configured without one answers 404)."""

    def initialize(self, path: str = "", *args: Any, **kwargs: Any) -> None:
        directory = self.settings.get(BRANDING_DIR_SETTING)
        self.configured = bool(directory)
        super().initialize(str(directory or ""), *args, **kwargs)

    async def get(self, path: str, include_body: bool = True) -> None:
        if not self.configured:
            raise web.HTTPError(404)
        await super().get(path, include_body)


#: (pattern, handler[, kwargs]) tuples relative to the hub prefix.
ROUTES: list[tuple[Any, ...]] = [(rf"/{BRANDING_ROUTE}/(.*)", BrandingFiles)]
