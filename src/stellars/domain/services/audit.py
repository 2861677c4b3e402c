"""The audit trail: what the platform's entry points hand the audit feed, recorded in the
background, and the feed read back for the admin page, the API, the CSV download, the metrics
and the notifications page's broadcast history.

Recording never holds up the action it records and never fails it: `note` builds the entry and
returns at once, the store writes it on a task of its own, and an entry that cannot be built or
stored is logged and counted (`failed`) instead. `settle` waits for the writes in flight (tests,
shutdown). Retention: `prune` deletes what is older than the setting's days.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from stellars.domain.audit import (
    PAGE_LIMIT,
    AuditAction,
    AuditCursor,
    AuditEntry,
    AuditOutcome,
    AuditPage,
    AuditQuery,
    render_csv,
    retention_cutoff,
)
from stellars.domain.errors import StellarsError
from stellars.ports.audit import AuditLog
from stellars.ports.clock import Clock

_LOG = logging.getLogger(__name__)

#: The most entries one CSV download holds (the newest that match; the API says when it cut).
CSV_LIMIT = 10_000


class AuditTrail:
    """Records and reads the audit feed (see the module's docstring)."""

    def __init__(self, *, log: AuditLog, clock: Clock, retention_days: int) -> None:
        retention_cutoff(clock.now(), retention_days)  # refuses a bad setting at start
        self.log = log
        self.clock = clock
        self.retention_days = retention_days
        self.recorded = 0
        self.failed = 0
        self._writing: set[asyncio.Task[None]] = set()

    def note(
        self,
        *,
        actor: str,
        action: AuditAction,
        target: str = "",
        subject: str = "",
        address: str = "",
        outcome: AuditOutcome = AuditOutcome.OK,
        detail: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Record an action now, in the background: returns at once, never raises."""
        try:
            entry = AuditEntry(
                actor=actor,
                action=action,
                at=self.clock.now(),
                target=target,
                subject=subject,
                address=address,
                outcome=outcome,
                detail=detail,
                details=dict(details or {}),
            )
            task = asyncio.get_running_loop().create_task(self._record(entry))
        except (StellarsError, RuntimeError) as error:  # a bad entry, or no loop to write on
            self.failed += 1
            _LOG.warning("audit: %s by %r not recorded: %s", action, actor, error)
            return
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)

    async def _record(self, entry: AuditEntry) -> None:
        try:
            await self.log.record(entry)
        except Exception as error:
            self.failed += 1
            _LOG.warning(
                "audit: %s by %r on %r not stored: %s",
                entry.action.value,
                entry.actor,
                entry.target,
                error,
            )
        else:
            self.recorded += 1

    async def settle(self) -> None:
        """Wait until every entry noted so far is stored (or counted as failed)."""
        while self._writing:
            await asyncio.gather(*list(self._writing), return_exceptions=True)

    async def page(self, query: AuditQuery) -> AuditPage:
        """One page of the feed."""
        return await self.log.page(query)

    async def csv(self, query: AuditQuery) -> tuple[str, bool]:
        """The CSV of every entry `query`'s filters match from its cursor on (its limit aside),
        newest first, at most CSV_LIMIT of them; and whether that was all of them."""
        entries: list[AuditEntry] = []
        before = query.before
        while True:
            wanted = min(PAGE_LIMIT, CSV_LIMIT - len(entries))
            page = await self.log.page(
                AuditQuery(
                    user=query.user,
                    action=query.action,
                    since=query.since,
                    until=query.until,
                    before=before,
                    limit=wanted,
                )
            )
            entries.extend(page.entries)
            before = page.next_before
            if before is None:
                return render_csv(entries), True
            if len(entries) >= CSV_LIMIT:
                return render_csv(entries), False

    async def broadcasts(self, *, before: AuditCursor | None = None, limit: int = 20) -> AuditPage:
        """Past broadcasts with their reports, newest first."""
        return await self.log.page(
            AuditQuery(action=AuditAction.BROADCAST_SENT, before=before, limit=limit)
        )

    async def counts(self) -> dict[tuple[AuditAction, AuditOutcome], int]:
        """Stored entries by (action, outcome), for the metrics."""
        return await self.log.counts()

    async def prune(self) -> int:
        """Delete the entries older than the retention; returns how many."""
        cutoff = retention_cutoff(self.clock.now(), self.retention_days)
        pruned = await self.log.prune(older_than=cutoff)
        if pruned:
            _LOG.info("audit: %d entries older than %d days pruned", pruned, self.retention_days)
        return pruned
