from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ProxyRoute:
    """A route of the proxy: requests under `routespec` go to `target`."""

    routespec: str
    target: str
    data: Mapping[str, object] = field(default_factory=dict)


class ProxyRoutes(Protocol):
    """The proxy's routing table. Routespecs are paths ending in '/'.
    Raises BackendUnavailable when the proxy API cannot be reached."""

    async def add(
        self, routespec: str, target: str, data: Mapping[str, object] | None = None
    ) -> None:
        """Add or replace a route."""
        ...

    async def routes(self) -> dict[str, ProxyRoute]:
        """Every route, keyed by routespec."""
        ...

    async def delete(self, routespec: str) -> bool:
        """Remove a route; True if it existed."""
        ...
