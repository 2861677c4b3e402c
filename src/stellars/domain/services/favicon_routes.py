"""The configured favicon in JupyterLab's browser tabs: one proxy route per running server.

JupyterLab asks for `{server}static/favicons/favicon.ico`. For every server the hub knows, the
platform keeps one proxy route for exactly that file, pointing at the hub, which answers it with
the configured favicon (docs/decisions/0002-favicon-route.md); the busy icons and everything
else under the server's prefix still go to the lab. A route is added when a server spawns (the
pre-spawn hook calls `keep_route_for`) and by `reconcile`, which runs every few seconds once the
hub serves: it covers the servers that survived a hub restart (they never pass through the
hook) and any add that failed. With the stock favicon nothing is routed.
"""

from __future__ import annotations

import logging

from stellars.domain.branding import AssetKind, AssetSlot
from stellars.domain.routes import lab_favicon_routespec
from stellars.ports.hub_directory import HubDirectory
from stellars.ports.proxy import ProxyRoutes

from .branding import BrandingService

_LOG = logging.getLogger(__name__)


class FaviconRoutes:
    """Keeps the favicon route of every server the hub knows (see the module rule)."""

    def __init__(
        self, *, directory: HubDirectory, proxy: ProxyRoutes, branding: BrandingService
    ) -> None:
        self._directory = directory
        self._proxy = proxy
        self._branding = branding

    @property
    def enabled(self) -> bool:
        """Only a configured favicon replaces JupyterLab's own."""
        return self._branding.kind(AssetSlot.FAVICON) is not AssetKind.STOCK

    async def keep_route_for(self, server_prefix: str) -> bool:
        """Add (or renew) the favicon route of the server at `server_prefix`; True if routed."""
        if not self.enabled:
            return False
        await self._proxy.add(lab_favicon_routespec(server_prefix), self._proxy.hub_target())
        return True

    async def reconcile(self) -> int:
        """Add the missing routes of every running or starting server; how many were added."""
        if not self.enabled:
            return 0
        users = await self._directory.list_users()
        wanted = {
            lab_favicon_routespec(server.url)
            for user in users
            for server in user.servers.values()
            if server.url
        }
        missing = sorted(wanted - set(await self._proxy.routes()))
        target = self._proxy.hub_target()
        for routespec in missing:
            await self._proxy.add(routespec, target)
        if missing:
            _LOG.info("added %d lab favicon route(s)", len(missing))
        return len(missing)
