from __future__ import annotations

from typing import Protocol


class LabServers(Protocol):
    """The hub's record of a user's running server and whether it serves.

    Raises NotFound for a user or server the hub does not know, BackendUnavailable when the
    hub or its proxy cannot be reached.
    """

    async def reconnect(self, username: str, server_name: str = "") -> bool:
        """After the server's container restarted in place: read where it listens now, and when
        that moved (a published port changes on every restart), update the hub's record and
        its proxy route. True if it moved."""
        ...

    async def answers(self, username: str, server_name: str = "") -> bool:
        """Whether the server answers its API at its URL right now (one short request)."""
        ...
