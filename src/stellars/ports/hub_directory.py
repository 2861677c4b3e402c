from __future__ import annotations

from typing import Protocol

from stellars.domain.hub import HubUser


class HubDirectory(Protocol):
    """Read access to JupyterHub's users and their servers. Raises BackendUnavailable."""

    async def list_users(self) -> list[HubUser]:
        """Every user (all pages), with running or pending servers, sorted by name."""
        ...

    async def get_user(self, name: str) -> HubUser | None: ...
