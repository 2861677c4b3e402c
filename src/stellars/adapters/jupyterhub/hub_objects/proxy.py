"""ProxyRoutes on JupyterHub's own proxy object, so the routes work with whichever proxy the hub
runs (configurable-http-proxy, traefik-proxy, ...).

Every route added is also recorded in `Proxy.extra_routes`: the hub's periodic route check
deletes routes it does not know and re-adds the ones listed there, so ours survive a proxy
restart and are never flapped. Routespecs are normalised with the proxy's own
`validate_routespec` before they are stored, for the same reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from stellars.domain.errors import BackendUnavailable, StellarsError
from stellars.domain.routes import ProxyRoute, check_routespec

T = TypeVar("T")

# Keys JupyterHub or the proxy put into a route's data themselves.
_OWN_KEYS = frozenset({"target", "jupyterhub", "last_activity", "extra"})


class HubProxyRoutes:
    """The ProxyRoutes port over `proxy()`, a function returning the hub's Proxy object.

    Each call may take `timeout_seconds` (JupyterHub's own proxy client retries for up to 30 s);
    an unreachable or failing proxy is BackendUnavailable.
    """

    def __init__(self, proxy: Callable[[], Any], *, timeout_seconds: float = 10.0) -> None:
        self._proxy = proxy
        self.timeout_seconds = timeout_seconds

    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await asyncio.wait_for(call(), self.timeout_seconds)
        except StellarsError:
            raise
        except asyncio.TimeoutError:
            raise BackendUnavailable(
                f"the proxy did not answer {what} within {self.timeout_seconds:g} s"
            ) from None
        except Exception as exc:  # the proxy implementations raise their HTTP clients' errors
            raise BackendUnavailable(f"the proxy failed {what}: {exc}") from exc

    async def add(
        self, routespec: str, target: str, data: Mapping[str, object] | None = None
    ) -> None:
        """Add or replace a route and keep it in the hub's extra routes."""
        proxy = self._proxy()
        spec = proxy.validate_routespec(check_routespec(routespec))
        await self._call(f"adding {spec}", lambda: proxy.add_route(spec, target, dict(data or {})))
        proxy.extra_routes[spec] = target

    async def routes(self) -> dict[str, ProxyRoute]:
        """Every route of the proxy, keyed by routespec."""
        proxy = self._proxy()
        table = await self._call("listing its routes", proxy.get_all_routes)
        return {
            spec: ProxyRoute(
                spec,
                str(route.get("target", "")),
                {k: v for k, v in (route.get("data") or {}).items() if k not in _OWN_KEYS},
            )
            for spec, route in table.items()
        }

    async def delete(self, routespec: str) -> bool:
        """Remove a route (and forget it as an extra route); True if it existed."""
        proxy = self._proxy()
        spec = proxy.validate_routespec(check_routespec(routespec))
        proxy.extra_routes.pop(spec, None)
        existed = spec in await self.routes()
        if existed:
            await self._call(f"deleting {spec}", lambda: proxy.delete_route(spec))
        return existed

    def hub_target(self) -> str:
        """The hub's own address as the proxy routes to it (JupyterHub's `Hub.host`)."""
        return str(self._proxy().hub.host)
