from __future__ import annotations

from typing import Protocol

from stellars.domain.hub import ServerSnapshot
from stellars.domain.notifications import Broadcast, Delivery


class NotificationTransport(Protocol):
    """Delivers one notification to one running server, in the lab's own wire format.

    Never raises for a failed delivery: the Delivery says what went wrong. An implementation
    authenticates with a credential limited to that one server: one the server already holds,
    or one made for the delivery and revoked afterwards.
    """

    async def deliver(self, server: ServerSnapshot, broadcast: Broadcast) -> Delivery: ...
