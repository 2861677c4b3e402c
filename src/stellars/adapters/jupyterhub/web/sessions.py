"""Idle sessions: `GET /hub/api/users/{user}/session-info` and
`POST /hub/api/users/{user}/extend-session` `{"hours": N}`, for the user or an admin
(custom:stellars:sessions, filtered to the user). `?server=NAME` selects a named server.

Time left, the hours on offer, the ceiling and a refusal's reason all come from the one session
rule the idle culler's arbiter applies, so what the card shows is what is enforced. With the
busy rule on (STELLARS_CULL_SPARE_BUSY), `busy_computing` says whether the server is kept alive
because it computes and `busy` gives the figures of its latest window ("kept alive: busy
computing (CPU 97.0 % of one core over the last 10.0 min)"); the time left already counts it.
"""

from __future__ import annotations

from typing import Any

from stellars.adapters.jupyterhub import scopes
from stellars.domain.busy import BusyVerdict
from stellars.domain.errors import InvalidValue, Refused
from stellars.domain.services import SessionStatus

from . import metrics
from .base import StellarsAPIHandler
from .parsing import whole_number
from .wire import iso, seconds


def busy_json(verdict: BusyVerdict) -> dict[str, Any] | None:
    """The busy rule's word on a server, with its latest window's figures; None when it says
    nothing (rule off, never busy, another instance's record)."""
    if not verdict.message:
        return None
    window = verdict.window
    return {
        "message": verdict.message,
        "kept_alive": verdict.active_now,
        "activity_at": iso(verdict.activity_at),
        "window_start": iso(window.start) if window else None,
        "window_end": iso(window.end) if window else None,
        "cpu_percent": round(window.cpu_percent, 1) if window else None,
        "gpu_percent": window.gpu_percent if window else None,
        "window_busy": window.busy if window else None,
    }


def status_json(status: SessionStatus) -> dict[str, Any]:
    """The session card's data, with the original platform's field names (and a few more)."""
    return {
        "culler_enabled": status.culler_enabled,
        "server_active": status.server_active,
        "timeout_seconds": seconds(status.idle_timeout),
        "ceiling_seconds": seconds(status.ceiling),
        "max_extension_hours": status.max_extension_hours,
        "time_remaining_seconds": seconds(status.remaining),
        "extensions_used_hours": status.extended_hours,
        "extensions_available_hours": status.offer_hours,
        "cull_at": iso(status.cull_at),
        "last_activity": iso(status.last_activity),
        "busy_computing": status.busy.active_now,
        "busy": busy_json(status.busy),
    }


class SessionInfoAPI(StellarsAPIHandler):
    async def get(self, user_name: str) -> None:
        self.require_scope(scopes.SESSIONS, user=user_name)
        server = self.get_argument("server", "")
        status = await self.platform.sessions.status(user_name, server)
        self.write_json(status_json(status))


class ExtendSessionAPI(StellarsAPIHandler):
    def error_fields(self, message: str) -> dict[str, Any]:
        """The original answered a refused extension `{"success": false, "error": ...}`."""
        return {"success": False, "error": message}

    async def post(self, user_name: str) -> None:
        self.require_scope(scopes.SESSIONS, user=user_name)
        server = self.get_argument("server", "")
        try:
            hours = whole_number(self.read_json_object(), "hours")
            extended = await self.platform.sessions.extend_and_show(user_name, hours, server)
        except InvalidValue:
            metrics.EXTENSIONS.labels(outcome="invalid").inc()
            raise
        except Refused:
            metrics.EXTENSIONS.labels(outcome="refused").inc()
            raise
        extension = extended.extension
        metrics.EXTENSIONS.labels(outcome="granted").inc()
        metrics.EXTENSION_HOURS.inc(extension.granted_hours)
        self.log.info(
            "session of %s extended by %d h (asked %d) by %s",
            user_name,
            extension.granted_hours,
            extension.requested_hours,
            self.current_user.name,
        )
        self.write_json(
            {
                "success": True,
                "message": extension.message,
                "truncated": extension.truncated,
                "requested_hours": extension.requested_hours,
                "granted_hours": extension.granted_hours,
                "session_info": status_json(extended.status),
            }
        )


#: (pattern, handler[, kwargs]) tuples relative to the hub prefix.
ROUTES: list[tuple[Any, ...]] = [
    (r"/api/users/([^/]+)/session-info", SessionInfoAPI),
    (r"/api/users/([^/]+)/extend-session", ExtendSessionAPI),
]
