from __future__ import annotations

from typing import Protocol

from stellars.domain.sessions import SessionDeadline


class SessionStore(Protocol):
    """Extension deadlines, one per (user, server name). Raises BackendUnavailable."""

    async def get(self, username: str, server_name: str = "") -> SessionDeadline | None: ...

    async def put(self, deadline: SessionDeadline) -> None:
        """Insert or replace the deadline of that user's server."""
        ...

    async def delete(self, username: str, server_name: str = "") -> bool:
        """Forget one deadline; True if there was one."""
        ...

    async def all_deadlines(self) -> list[SessionDeadline]:
        """Every stored deadline (for the culler and the activity table)."""
        ...

    async def rename_user(self, old: str, new: str) -> int:
        """Move the deadlines of `old` to `new` (replacing any `new` had)."""
        ...

    async def delete_user(self, username: str) -> int: ...
