from __future__ import annotations

from collections.abc import Mapping

from stellars.domain.errors import InvalidValue
from stellars.ports.proxy import ProxyRoute


class InMemoryProxyRoutes:
    """A routing table in a dict, with the routespec rules of the real proxy."""

    def __init__(self) -> None:
        self.table: dict[str, ProxyRoute] = {}

    @staticmethod
    def _check(routespec: str) -> str:
        if not routespec.startswith("/") or not routespec.endswith("/"):
            raise InvalidValue("routespec", f"must start and end with '/', got {routespec!r}")
        return routespec

    async def add(
        self, routespec: str, target: str, data: Mapping[str, object] | None = None
    ) -> None:
        self.table[self._check(routespec)] = ProxyRoute(routespec, target, dict(data or {}))

    async def routes(self) -> dict[str, ProxyRoute]:
        return dict(self.table)

    async def delete(self, routespec: str) -> bool:
        return self.table.pop(self._check(routespec), None) is not None
