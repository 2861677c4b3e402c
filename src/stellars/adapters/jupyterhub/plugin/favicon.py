"""The hub's side of the configured favicon in JupyterLab's tabs: the handler that answers the
favicon requests the proxy sends to the hub.

Which servers get a favicon route is the platform's rule (`stellars.domain.services.
FaviconRoutes`). The path lies outside the hub's prefix, where JupyterHub's own catch-all
handlers redirect, so the handler is added to the hub's Tornado application with
`Application.add_handlers`, Tornado's public API for that (docs/decisions/0002-favicon-route.md).
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from typing import Any

from tornado import web

from stellars.domain.branding import AssetKind, AssetSlot
from stellars.domain.routes import LAB_FAVICON_PATH
from stellars.domain.services import BrandingService


def favicon_pattern(base_url: str) -> str:
    """The hub-side path of every server's favicon: default and named servers."""
    return re.escape(base_url) + r"user/[^/]+/(?:[^/]+/)?" + re.escape(LAB_FAVICON_PATH)


class LabFavicon:
    """The configured favicon as the hub answers it: a copied file, or a redirect to a URL."""

    def __init__(self, branding: BrandingService, static_dir: str | Path) -> None:
        self._branding = branding
        self.static_dir = Path(static_dir)

    @property
    def linked_url(self) -> str | None:
        if self._branding.kind(AssetSlot.FAVICON) is AssetKind.LINK:
            return self._branding.href(AssetSlot.FAVICON, "")  # a link needs no base
        return None

    def file(self) -> tuple[bytes, str]:
        """The copied favicon's bytes and content type (404 when there is none)."""
        name = self._branding.static_name(AssetSlot.FAVICON)
        if name is None:
            raise web.HTTPError(404)
        path = self.static_dir / name
        try:
            data = path.read_bytes()
        except OSError:
            raise web.HTTPError(404) from None
        return data, mimetypes.guess_type(path.name)[0] or "image/x-icon"

    def attach(self, app: Any) -> None:
        """Answer every server's favicon path in the hub's Tornado application."""
        app.tornado_application.add_handlers(
            r".*$", [(favicon_pattern(app.base_url), LabFaviconHandler, {"favicon": self})]
        )


class LabFaviconHandler(web.RequestHandler):
    """Answers a lab's favicon request that the proxy sent to the hub (no login needed: a
    favicon is public, like the hub's own)."""

    def initialize(self, favicon: LabFavicon) -> None:
        self.favicon = favicon

    def get(self) -> None:
        url = self.favicon.linked_url
        if url is not None:
            self.redirect(url, permanent=False)
            return
        data, content_type = self.favicon.file()
        self.set_header("Content-Type", content_type)
        self.set_header("Cache-Control", "public, max-age=3600")
        self.finish(data)

    def head(self) -> None:
        self.get()
