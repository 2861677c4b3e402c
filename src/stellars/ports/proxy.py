from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from stellars.domain.routes import ProxyRoute


class ProxyRoutes(Protocol):
    """Routes the platform adds to the hub's proxy, kept there for the hub's lifetime.

    Routespecs are paths ending in '/' (`stellars.domain.routes.check_routespec`).
    Raises BackendUnavailable when the proxy cannot be reached.
    """

    async def add(
        self, routespec: str, target: str, data: Mapping[str, object] | None = None
    ) -> None:
        """Add or replace a route."""
        ...

    async def routes(self) -> dict[str, ProxyRoute]:
        """Every route of the proxy, keyed by routespec."""
        ...

    async def delete(self, routespec: str) -> bool:
        """Remove a route; True if it existed."""
        ...

    def hub_target(self) -> str:
        """Where the proxy reaches the hub itself (the target of a route the hub answers)."""
        ...
