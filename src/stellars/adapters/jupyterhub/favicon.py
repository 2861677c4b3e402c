"""The configured favicon in JupyterLab's browser tabs.

JupyterLab asks for `{server}/static/favicons/favicon.ico` (and, while a kernel runs, for
`favicon-busy-1..3.ico` next to it). For every running server the platform keeps one proxy
route for exactly that file, `{server}static/favicons/favicon.ico/`, pointing at the hub; the
busy icons and everything else under the server's prefix still go to the lab. The hub answers
that exact path with the configured favicon (a copy from the branding directory, or a redirect
to the configured URL).

- Routes go through the ProxyRoutes port, which records them in `Proxy.extra_routes`, so the
  hub's periodic route check keeps them and re-adds them after a proxy restart.
- A route is added when a server spawns (the pre-spawn hook) and by a reconciler that runs
  every few seconds once the hub serves; the reconciler covers the servers that survived a hub
  restart (they never pass through the hook) and any add that failed, without depending on the
  order in which JupyterHub starts its proxy and its spawners.
- The path is outside the hub's prefix, where JupyterHub's own catch-all handlers redirect, so
  the handler is added to the hub's Tornado application with `Application.add_handlers`,
  Tornado's public API for that (docs/decisions/0002-favicon-route.md).
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from jupyterhub import orm
from tornado import web

from stellars.domain.branding import AssetKind, AssetSlot
from stellars.domain.services import BrandingService, Refresher
from stellars.ports.clock import Clock
from stellars.ports.proxy import ProxyRoutes

from .app import HubHandle

#: Where JupyterLab asks for its favicon, relative to the server's URL prefix.
FAVICON_PATH = "static/favicons/favicon.ico"
#: The key of the LabFavicon in JupyterHub's tornado settings.
LAB_FAVICON_SETTING = "stellars_lab_favicon"

log = logging.getLogger(__name__)


def favicon_routespec(server_prefix: str) -> str:
    """The proxy route for exactly the favicon of the server at `server_prefix` ("/user/a/")."""
    return server_prefix.rstrip("/") + "/" + FAVICON_PATH + "/"


def favicon_pattern(base_url: str) -> str:
    """The hub-side path of every server's favicon: default and named servers."""
    return re.escape(base_url) + r"user/[^/]+/(?:[^/]+/)?" + re.escape(FAVICON_PATH)


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


class LabFavicon:
    """Keeps a favicon route per running server and answers it in the hub.

    `static_dir` is where the branding service copied a file favicon; `reconcile_seconds` is
    how often running servers are checked for a missing route.
    """

    def __init__(
        self,
        hub: HubHandle,
        *,
        proxy: ProxyRoutes,
        branding: BrandingService,
        static_dir: Path,
        clock: Clock,
        reconcile_seconds: float = 10.0,
    ) -> None:
        self._hub = hub
        self._proxy = proxy
        self._branding = branding
        self.static_dir = Path(static_dir)
        self._reconciler: Refresher[int] = Refresher(
            self.reconcile,
            empty=0,
            interval=timedelta(seconds=reconcile_seconds),
            clock=clock,
            name="lab favicon routes",
        )
        self._starting: asyncio.Task[None] | None = None

    def __deepcopy__(self, memo: dict[int, object]) -> LabFavicon:
        return self  # traitlets deep-copies config values; the hook and the hub share this one

    @property
    def enabled(self) -> bool:
        """Only a configured favicon replaces JupyterLab's own."""
        return self._branding.kind(AssetSlot.FAVICON) is not AssetKind.STOCK

    @property
    def linked_url(self) -> str | None:
        if self._branding.kind(AssetSlot.FAVICON) is AssetKind.LINK:
            return self._branding.href(AssetSlot.FAVICON, "")  # a link needs no base
        return None

    def file(self) -> tuple[bytes, str]:
        """The copied favicon's bytes and content type."""
        name = self._branding.static_name(AssetSlot.FAVICON)
        if name is None:
            raise web.HTTPError(404)
        path = self.static_dir / name
        try:
            data = path.read_bytes()
        except OSError:
            raise web.HTTPError(404) from None
        return data, mimetypes.guess_type(path.name)[0] or "image/x-icon"

    # --- the hub side ---------------------------------------------------------------------

    def attach(self, app: Any) -> None:
        """Called while the hub initialises: answer the favicon path and start keeping routes
        once the hub's Tornado application exists (JupyterHub builds it right after asking for
        handlers, before its loop runs anything else)."""
        if not self.enabled:
            return
        self._starting = asyncio.get_running_loop().create_task(self._start(app))

    async def _start(self, app: Any) -> None:
        for _ in range(600):  # at most a minute: the application comes within one loop turn
            if getattr(app, "tornado_application", None) is not None:
                break
            await asyncio.sleep(0.1)
        else:
            log.error("stellars: no Tornado application after a minute; lab favicons stay stock")
            return
        app.tornado_application.add_handlers(
            r".*$", [(favicon_pattern(app.base_url), LabFaviconHandler, {"favicon": self})]
        )
        self._reconciler.start()

    async def stop(self) -> None:
        if self._starting is not None:
            self._starting.cancel()
        await self._reconciler.stop()

    async def keep_route_for(self, server_prefix: str) -> bool:
        """Add the favicon route of one server unless the hub keeps it already; True if added."""
        if not self.enabled:
            return False
        app = self._hub.app
        spec = favicon_routespec(server_prefix)
        if spec in app.proxy.extra_routes:
            return False
        await self._proxy.add(spec, app.hub.host)
        return True

    async def reconcile(self) -> int:
        """Add the missing routes of the servers the hub knows; how many were added. Waits
        for the hub to serve (its proxy runs by then)."""
        app = self._hub.app
        if getattr(app, "http_server", None) is None:
            return 0
        prefixes = {
            orm_spawner.server.base_url
            for orm_spawner in app.db.query(orm.Spawner).filter(orm.Spawner.server_id.isnot(None))
            if orm_spawner.server is not None
        }
        added = 0
        for prefix in sorted(prefixes):
            added += await self.keep_route_for(prefix)
        if added:
            log.info("stellars: added %d lab favicon route(s)", added)
        return added
