from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from stellars.domain.hub import ServerSnapshot
from stellars.domain.notifications import Delivery


class NotificationTransport(Protocol):
    """Delivers one notification to one running server.

    Never raises for a failed delivery: the Delivery says what went wrong. An implementation
    authenticates with a credential limited to that one server and revokes it afterwards.
    """

    async def deliver(self, server: ServerSnapshot, payload: Mapping[str, object]) -> Delivery: ...
