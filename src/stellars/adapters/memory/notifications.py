from __future__ import annotations

import asyncio
from collections.abc import Mapping

from stellars.domain.hub import ServerSnapshot
from stellars.domain.notifications import Delivery


class RecordingTransport:
    """Records what would be delivered. `failures` maps a username to the error to report,
    `delays` to seconds to wait first (to exercise timeouts)."""

    def __init__(self) -> None:
        self.delivered: list[tuple[ServerSnapshot, Mapping[str, object]]] = []
        self.failures: dict[str, str] = {}
        self.delays: dict[str, float] = {}
        self.in_flight = 0
        self.max_in_flight = 0

    async def deliver(self, server: ServerSnapshot, payload: Mapping[str, object]) -> Delivery:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delays.get(server.username, 0))
            if server.username in self.failures:
                return Delivery(server.username, server.name, False, self.failures[server.username])
            self.delivered.append((server, dict(payload)))
            return Delivery(server.username, server.name, True)
        finally:
            self.in_flight -= 1
