from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from stellars.domain.busy import BusyRecord


class BusyStore(Protocol):
    """The busy record of each server (`stellars.domain.busy`), one per (user, server name):
    written by the hub's busy sampler every window, read by the culler's arbiter and the
    session card. Raises BackendUnavailable when its storage cannot be reached."""

    async def get(self, username: str, server_name: str = "") -> BusyRecord | None:
        """One server's record, or None."""
        ...

    async def all(self) -> list[BusyRecord]:
        """Every record, sorted by username then server name."""
        ...

    async def put(self, records: Sequence[BusyRecord]) -> None:
        """Keep each of `records` as its server's, replacing the one before; all or none."""
        ...

    async def prune(self, *, older_than: datetime) -> int:
        """Forget the records whose latest reading was taken at or before `older_than` (servers
        that stopped); returns how many."""
        ...
