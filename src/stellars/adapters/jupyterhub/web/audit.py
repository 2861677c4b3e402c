"""The audit feed, for admins and scripts with `custom:stellars:audit`:

- `GET /hub/api/audit`: a page of the feed, newest first. Filters as query arguments: `user`
  (the actor or the target), `action` (one of the feed's actions), `since` (inclusive) and
  `until` (exclusive), ISO 8601 times with a zone or dates (midnight UTC); paging by `before`
  (the `next_before` of the page before) and `limit` (1-500, default 50). A bad or unknown
  argument is a 400 naming it. `format=csv` answers the CSV download instead.
- `GET /hub/api/audit.csv` (same arguments): every matching entry from the cursor on, newest
  first, at most 10,000 (`X-Stellars-Audit-Complete: false` when there were more); cells a
  spreadsheet would run as a formula are escaped.
- `/hub/audit`: the admin page (JupyterHub's admin-ui scope, and the feed's own).
- `GET /hub/api/notifications/history` (custom:stellars:broadcast, as the notifications page):
  past broadcasts with their reports, from the same feed; `before` and `limit` as above.

Recording happens elsewhere, at the end of every request (`recording`).
"""

from __future__ import annotations

from typing import Any

from jupyterhub.scopes import needs_scope
from tornado import web

from stellars.adapters.jupyterhub import scopes
from stellars.domain.audit import PAGE_LIMIT, AuditAction, AuditEntry, AuditPage, query_of
from stellars.domain.errors import InvalidValue

from .base import StellarsAPIHandler, StellarsPageHandler
from .wire import iso

#: The page size of the broadcast history.
HISTORY_PAGE = 20


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": iso(entry.at),
        "actor": entry.actor,
        "action": entry.action.value,
        "target": entry.target,
        "subject": entry.subject,
        "address": entry.address,
        "outcome": entry.outcome.value,
        "detail": entry.detail,
        "details": dict(entry.details),
    }


def page_json(page: AuditPage) -> dict[str, Any]:
    return {
        "entries": [entry_json(entry) for entry in page.entries],
        "next_before": None if page.next_before is None else page.next_before.text,
    }


class AuditHandlerBase(StellarsAPIHandler):
    def arguments(self) -> dict[str, str]:
        """The request's query arguments, each its last value."""
        return {name: self.get_argument(name) for name in self.request.arguments}

    async def write_csv(self, arguments: dict[str, str]) -> None:
        text, complete = await self.platform.audit.csv(query_of(arguments))
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", 'attachment; filename="stellars-audit.csv"')
        self.set_header("X-Stellars-Audit-Complete", "true" if complete else "false")
        self.set_header("Cache-Control", "no-store")
        self.finish(text)


class AuditAPI(AuditHandlerBase):
    async def get(self) -> None:
        self.require_scope(scopes.AUDIT)
        arguments = self.arguments()
        answer = arguments.get("format", "json")
        if answer == "csv":
            await self.write_csv(arguments)
            return
        if answer != "json":
            raise InvalidValue("format", "must be json or csv")
        self.write_json(page_json(await self.platform.audit.page(query_of(arguments))))


class AuditCsvAPI(AuditHandlerBase):
    async def get(self) -> None:
        self.require_scope(scopes.AUDIT)
        arguments = self.arguments()
        if arguments.get("format", "csv") != "csv":
            raise InvalidValue("format", "must be csv here (or leave it out)")
        await self.write_csv(arguments)


class BroadcastHistoryAPI(StellarsAPIHandler):
    async def get(self) -> None:
        self.require_scope(scopes.BROADCAST)
        unknown = sorted(set(self.request.arguments) - {"before", "limit"})
        if unknown:
            raise InvalidValue(unknown[0], "is not an argument of the broadcast history")
        query = query_of(
            {
                "action": AuditAction.BROADCAST_SENT.value,
                "before": self.get_argument("before", ""),
                "limit": self.get_argument("limit", str(HISTORY_PAGE)),
            }
        )
        page = await self.platform.audit.broadcasts(before=query.before, limit=query.limit)
        self.write_json(page_json(page))


class AuditPageHandler(StellarsPageHandler):
    """`GET /hub/audit`: JupyterHub's admin-ui scope and the feed's own."""

    @web.authenticated
    @needs_scope("admin-ui")
    async def get(self) -> None:
        self.require_scope(scopes.AUDIT)
        await self.render_page(
            "stellars-audit.html",
            actions=[action.value for action in AuditAction],
            page_limit=PAGE_LIMIT,
        )


#: (pattern, handler) pairs relative to the hub prefix.
ROUTES: list[tuple[Any, ...]] = [
    (r"/audit", AuditPageHandler),
    (r"/api/audit", AuditAPI),
    (r"/api/audit\.csv", AuditCsvAPI),
    (r"/api/notifications/history", BroadcastHistoryAPI),
]
