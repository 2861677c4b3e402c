from __future__ import annotations

from collections.abc import Mapping

from stellars.domain.routes import ProxyRoute, check_routespec


class InMemoryProxyRoutes:
    """A routing table in a dict, with the routespec rules of the real proxy."""

    def __init__(self, hub_target: str = "http://127.0.0.1:8081") -> None:
        self.table: dict[str, ProxyRoute] = {}
        self._hub_target = hub_target

    async def add(
        self, routespec: str, target: str, data: Mapping[str, object] | None = None
    ) -> None:
        self.table[check_routespec(routespec)] = ProxyRoute(routespec, target, dict(data or {}))

    async def routes(self) -> dict[str, ProxyRoute]:
        return dict(self.table)

    async def delete(self, routespec: str) -> bool:
        return self.table.pop(check_routespec(routespec), None) is not None

    def hub_target(self) -> str:
        return self._hub_target
