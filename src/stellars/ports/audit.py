from __future__ import annotations

from datetime import datetime
from typing import Protocol

from stellars.domain.audit import AuditAction, AuditEntry, AuditOutcome, AuditPage, AuditQuery


class AuditLog(Protocol):
    """The audit feed's store (see stellars.domain.audit).

    Ids are assigned by the log, grow with every entry recorded and are never reused, not even
    after a prune, so a page's cursor (an id) stays valid while entries are recorded.
    Raises BackendUnavailable when its storage cannot be reached.
    """

    async def record(self, entry: AuditEntry) -> AuditEntry:
        """Store the entry (its `id` is ignored); returns it with the id it was given."""
        ...

    async def page(self, query: AuditQuery) -> AuditPage:
        """The entries `query` matches, newest (highest id) first, at most `query.limit`, and
        the cursor of the next page (None when there are no more)."""
        ...

    async def counts(self) -> dict[tuple[AuditAction, AuditOutcome], int]:
        """How many stored entries there are of each (action, outcome); absent ones are 0."""
        ...

    async def prune(self, *, older_than: datetime) -> int:
        """Delete entries with at <= older_than; returns how many were deleted."""
        ...
