from __future__ import annotations

from typing import Protocol

from stellars.domain.stops import ServerStop


class ServerStopStore(Protocol):
    """The last stop of each server, one per (user, server name). Raises BackendUnavailable."""

    async def record(self, stop: ServerStop) -> None:
        """Keep `stop` as its server's last, replacing the one before."""
        ...

    async def last(self, username: str, server_name: str = "") -> ServerStop | None: ...

    async def every_last(self, server_name: str = "") -> list[ServerStop]:
        """The last stop of every user's server named `server_name`, by username."""
        ...

    async def forget(self, username: str, server_name: str = "") -> bool:
        """Forget one server's last stop; True if there was one."""
        ...

    async def rename_user(self, old: str, new: str) -> int:
        """Move the stops of `old` to `new` (replacing any `new` had); returns how many."""
        ...

    async def delete_user(self, username: str) -> int:
        """Forget every stop of a user; returns how many."""
        ...
