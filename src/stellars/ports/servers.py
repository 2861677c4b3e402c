from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol


class LabServers(Protocol):
    """The hub's record of a user's running server and whether it serves.

    Raises NotFound for a user or server the hub does not know, BackendUnavailable when the
    hub or its proxy cannot be reached.
    """

    def restarting(self, username: str, server_name: str = "") -> AbstractAsyncContextManager[None]:
        """While the block runs, the server's container restarts in place: the hub must not
        take the moment its container is down for a server that ended (JupyterHub's periodic
        poll would then tear the server down and remove its container). A server the hub does
        not know is not an error here: there is nothing to protect."""
        ...

    async def reconnect(self, username: str, server_name: str = "") -> bool:
        """After the server's container restarted in place: read where it listens now, and when
        that moved (a published port changes on every restart), update the hub's record and
        its proxy route. True if it moved."""
        ...

    async def answers(self, username: str, server_name: str = "") -> bool:
        """Whether the server answers its API at its URL right now (one short request)."""
        ...
