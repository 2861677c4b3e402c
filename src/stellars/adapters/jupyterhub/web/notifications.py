"""Admin broadcasts into running JupyterLab servers: `/hub/notifications` (admins),
`GET /hub/api/notifications/active-servers` and `POST /hub/api/notifications/broadcast`
(custom:stellars:broadcast).

The report has one entry per recipient: delivered, failed with the reason, or skipped (a named
user who does not exist or has no running server), never dropped silently.
"""

from __future__ import annotations

from typing import Any

from jupyterhub.scopes import needs_scope
from tornado import web

from stellars.adapters.jupyterhub import scopes
from stellars.domain.audit import AuditAction
from stellars.domain.notifications import MAX_MESSAGE_LENGTH, BroadcastReport, Variant

from . import metrics
from .base import NAME_LIST_BODY_BYTES, StellarsAPIHandler, StellarsPageHandler
from .parsing import broadcast
from .wire import iso


def report_json(report: BroadcastReport) -> dict[str, Any]:
    """The original's counts and details, with an outcome per recipient and server.

    `status` keeps the original's meaning ("success" or "failed", and "skipped" for a named
    recipient with nothing to deliver to); `outcome` says the same as delivered, failed or
    skipped.
    """
    details: list[dict[str, Any]] = [
        detail(delivery.username, delivery.server_name, "delivered" if delivery.ok else "failed")
        | {"error": delivery.error}
        for delivery in report.deliveries
    ]
    details += [
        detail(name, None, "skipped") | {"error": "no such user"} for name in report.unknown
    ]
    details += [
        detail(name, None, "skipped") | {"error": "no running server"}
        for name in report.not_running
    ]
    return {
        "total": report.total,
        "successful": report.successful,
        "failed": report.failed,
        "skipped": len(report.unknown) + len(report.not_running),
        "message": report.message,
        "details": details,
    }


def broadcast_counts(report: BroadcastReport) -> dict[str, int]:
    """A broadcast's report as counts, as the audit feed keeps it."""
    return {
        "total": report.total,
        "successful": report.successful,
        "failed": report.failed,
        "skipped": len(report.unknown) + len(report.not_running),
    }


def detail(username: str, server: str | None, outcome: str) -> dict[str, Any]:
    """One recipient's line of a report."""
    status = "success" if outcome == "delivered" else outcome
    return {"username": username, "server": server, "status": status, "outcome": outcome}


class NotificationsPage(StellarsPageHandler):
    """`GET /hub/notifications`: JupyterHub's admin-ui scope and the broadcast API's own
    (custom:stellars:broadcast)."""

    @web.authenticated
    @needs_scope("admin-ui")
    async def get(self) -> None:
        self.require_scope(scopes.BROADCAST)
        await self.render_page(
            "stellars-notifications.html",
            variants=[variant.value for variant in Variant],
            max_length=MAX_MESSAGE_LENGTH,
        )


class ActiveServersAPI(StellarsAPIHandler):
    """`GET /hub/api/notifications/active-servers`: running servers with user, name and start."""

    async def get(self) -> None:
        self.require_scope(scopes.BROADCAST)
        servers = await self.platform.broadcast.running_servers()
        self.write_json(
            {
                "servers": [
                    {"username": s.username, "server": s.name, "started": iso(s.started)}
                    for s in sorted(servers, key=lambda s: (s.username, s.name))
                ]
            }
        )


class BroadcastAPI(StellarsAPIHandler):
    """`POST /hub/api/notifications/broadcast` `{"message", "variant"?, "autoClose"?,
    "recipients"?}`: delivers and answers the per-recipient report."""

    max_body_bytes = NAME_LIST_BODY_BYTES  # the recipients may be every running server

    async def post(self) -> None:
        note = self.audit(AuditAction.BROADCAST_SENT)
        self.require_scope(scopes.BROADCAST)
        message = broadcast(self.read_json_object())
        note.details.update(message=message.message, variant=message.variant.value)
        report = await self.platform.broadcast.deliver(message)
        note.details.update(broadcast_counts(report))
        metrics.BROADCAST_DELIVERIES.labels(outcome="delivered").inc(report.successful)
        metrics.BROADCAST_DELIVERIES.labels(outcome="failed").inc(report.failed)
        metrics.BROADCASTS.inc()
        self.log.info(
            "broadcast by %s (%s, %d chars): %s",
            self.current_user.name,
            message.variant.value,
            len(message.message),
            report.message,
        )
        self.write_json(report_json(report))


#: (pattern, handler[, kwargs]) tuples relative to the hub prefix.
ROUTES: list[tuple[Any, ...]] = [
    (r"/notifications", NotificationsPage),
    (r"/api/notifications/active-servers", ActiveServersAPI),
    (r"/api/notifications/broadcast", BroadcastAPI),
]
