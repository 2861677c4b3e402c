"""Admin broadcasts: resolve the recipients and deliver within bounds."""

from __future__ import annotations

import asyncio

from stellars.domain.hub import ServerSnapshot, running_servers
from stellars.domain.notifications import (
    Broadcast,
    BroadcastReport,
    Delivery,
    resolve_targets,
    summarize,
)
from stellars.domain.settings import BroadcastPolicy
from stellars.ports.hub_directory import HubDirectory
from stellars.ports.notifications import NotificationTransport


class BroadcastService:
    """Sends an admin's notification to running servers, concurrently and within bounds."""

    def __init__(
        self,
        *,
        directory: HubDirectory,
        transport: NotificationTransport,
        policy: BroadcastPolicy,
    ) -> None:
        self._directory = directory
        self._transport = transport
        self.policy = policy

    async def running_servers(self) -> list[ServerSnapshot]:
        return running_servers(await self._directory.list_users())

    async def deliver(self, broadcast: Broadcast) -> BroadcastReport:
        """Resolve the recipients and deliver to each running server, at most `concurrency` at
        a time and `timeout_seconds` each; every target gets a result, whatever fails."""
        resolution = resolve_targets(broadcast, await self._directory.list_users())
        gate = asyncio.Semaphore(self.policy.concurrency)

        async def one(server: ServerSnapshot) -> Delivery:
            async with gate:
                try:
                    return await asyncio.wait_for(
                        self._transport.deliver(server, broadcast), self.policy.timeout_seconds
                    )
                except asyncio.TimeoutError:
                    return Delivery(
                        server.username,
                        server.name,
                        False,
                        f"no answer within {self.policy.timeout_seconds} s",
                    )
                except Exception as error:  # a transport bug must not lose the other results
                    reason = f"delivery failed: {error}"
                    return Delivery(server.username, server.name, False, reason)

        deliveries = await asyncio.gather(*(one(server) for server in resolution.targets))
        return summarize(deliveries, resolution)
