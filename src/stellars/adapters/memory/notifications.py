from __future__ import annotations

import asyncio

from stellars.domain.hub import ServerSnapshot
from stellars.domain.notifications import Broadcast, Delivery


class RecordingTransport:
    """Records what would be delivered. `failures` maps a username to the error to report,
    `delays` to seconds to wait first (to exercise timeouts), `crashes` to an exception the
    transport raises (a transport bug)."""

    def __init__(self) -> None:
        self.delivered: list[tuple[ServerSnapshot, Broadcast]] = []
        self.failures: dict[str, str] = {}
        self.delays: dict[str, float] = {}
        self.crashes: dict[str, Exception] = {}
        self.in_flight = 0
        self.max_in_flight = 0

    async def deliver(self, server: ServerSnapshot, broadcast: Broadcast) -> Delivery:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delays.get(server.username, 0))
            if server.username in self.crashes:
                raise self.crashes[server.username]
            if server.username in self.failures:
                return Delivery(server.username, server.name, False, self.failures[server.username])
            self.delivered.append((server, broadcast))
            return Delivery(server.username, server.name, True)
        finally:
            self.in_flight -= 1
