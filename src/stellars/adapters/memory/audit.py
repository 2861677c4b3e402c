from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import datetime

from stellars.domain.audit import (
    AuditAction,
    AuditEntry,
    AuditOutcome,
    AuditPage,
    AuditQuery,
    page_of,
)
from stellars.domain.errors import BackendUnavailable
from stellars.domain.timeutil import require_aware


class InMemoryAuditLog:
    """Audit entries in a list, in the order they were recorded; `unavailable` makes every
    call raise BackendUnavailable, as a store whose database is away."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []
        self.last_id = 0
        self.unavailable = False

    def _reachable(self) -> None:
        if self.unavailable:
            raise BackendUnavailable("audit log unavailable")

    async def record(self, entry: AuditEntry) -> AuditEntry:
        self._reachable()
        self.last_id += 1
        stored = dataclasses.replace(entry, id=self.last_id)
        self.entries.append(stored)
        return stored

    async def page(self, query: AuditQuery) -> AuditPage:
        self._reachable()
        newest_first = sorted(self.entries, key=lambda e: (e.at, e.id), reverse=True)
        matching = [entry for entry in newest_first if query.matches(entry)]
        return page_of(matching[: query.limit + 1], query.limit)

    async def counts(self) -> dict[tuple[AuditAction, AuditOutcome], int]:
        self._reachable()
        return dict(Counter((entry.action, entry.outcome) for entry in self.entries))

    async def prune(self, *, older_than: datetime) -> int:
        self._reachable()
        cutoff = require_aware(older_than, "older_than")
        kept = [entry for entry in self.entries if entry.at > cutoff]
        pruned = len(self.entries) - len(kept)
        self.entries = kept
        return pruned
