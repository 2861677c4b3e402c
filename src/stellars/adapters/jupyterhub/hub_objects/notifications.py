"""NotificationTransport into JupyterLab's notifications extension
(`jupyterlab-notifications-extension`, `POST {server}/jupyterlab-notifications-extension/ingest`).

Each delivery authenticates with a token of its own: owned by the recipient, allowed only
`access:servers` on that one server, valid for a minute, and deleted as soon as the delivery
is over, whatever its outcome. The request goes straight to the server's own address, the one the
hub's proxy routes to.
"""

from __future__ import annotations

import json
from typing import Any

from jupyterhub import orm
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from stellars.domain.hub import ServerSnapshot
from stellars.domain.notifications import Broadcast, Delivery
from stellars.domain.settings import BroadcastPolicy

from .handle import HubHandle

INGEST_PATH = "jupyterlab-notifications-extension/ingest"
TOKEN_LIFETIME_SECONDS = 60
TOKEN_NOTE = "stellars: one notification"
#: Requests the transport's HTTP client makes at once: the broadcast policy's largest
#: concurrency, so that the policy alone decides. Tornado's shared client makes 10 at a time
#: and queues the rest (a broadcast to 200 servers took 10 s on a loaded two-core machine).
MAX_REQUESTS = BroadcastPolicy.LIMITS["concurrency"][1]


def payload(broadcast: Broadcast) -> dict[str, object]:
    """The body the extension's ingest endpoint takes; `autoClose` false keeps it on screen."""
    return {
        "message": broadcast.message,
        "type": broadcast.variant.value,
        "autoClose": broadcast.auto_close_ms if broadcast.auto_close_ms is not None else False,
        "immediate": True,
        "actions": [
            {"label": "Dismiss", "caption": "Close this notification", "displayType": "default"}
        ],
    }


class LabNotificationTransport:
    """The NotificationTransport port on the hub's users and their running servers."""

    def __init__(self, hub: HubHandle, *, request_timeout_seconds: float = 5.0) -> None:
        self._hub = hub
        self.request_timeout_seconds = request_timeout_seconds
        self._client: AsyncHTTPClient | None = None

    def _http(self) -> AsyncHTTPClient:
        """An HTTP client of the transport's own (made on first use, on the hub's loop), not
        tornado's shared one, whose 10 requests at a time would also hold the hub's others."""
        if self._client is None:
            self._client = AsyncHTTPClient(force_instance=True, max_clients=MAX_REQUESTS)
        return self._client

    def _spawner(self, server: ServerSnapshot) -> tuple[Any, Any] | None:
        app = self._hub.app
        orm_user = orm.User.find(app.db, server.username)
        if orm_user is None:
            return None
        user = app.users[orm_user]
        spawner = user.spawners.get(server.name)
        if spawner is None or not spawner.ready or spawner.server is None:
            return None
        return user, spawner

    async def deliver(self, server: ServerSnapshot, broadcast: Broadcast) -> Delivery:
        found = self._spawner(server)
        if found is None:
            return Delivery(server.username, server.name, False, "the server is not running")
        user, spawner = found
        token = user.new_api_token(
            note=TOKEN_NOTE,
            expires_in=TOKEN_LIFETIME_SECONDS,
            scopes=[f"access:servers!server={server.username}/{server.name}"],
        )
        try:
            return await self._post(server, spawner.server.url, token, broadcast)
        finally:
            self._revoke(token)

    async def _post(
        self, server: ServerSnapshot, base_url: str, token: str, broadcast: Broadcast
    ) -> Delivery:
        request = HTTPRequest(
            base_url.rstrip("/") + "/" + INGEST_PATH,
            method="POST",
            headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
            body=json.dumps(payload(broadcast)),
            connect_timeout=self.request_timeout_seconds,
            request_timeout=self.request_timeout_seconds,
        )
        try:
            response = await self._http().fetch(request, raise_error=False)
        except (HTTPClientError, OSError) as exc:
            return Delivery(
                server.username, server.name, False, f"the server did not answer: {exc}"
            )
        if response.code == 200:
            return Delivery(server.username, server.name, True)
        if response.code == 404:
            reason = "the lab has no notifications extension"
        elif response.code == 599:
            reason = f"the server did not answer: {response.error}"
        else:
            reason = f"the lab refused the notification: HTTP {response.code} {response.reason}"
        return Delivery(server.username, server.name, False, reason)

    def _revoke(self, token: str) -> None:
        db = self._hub.app.db
        found = orm.APIToken.find(db, token)
        if found is not None:
            db.delete(found)
            db.commit()
