"""NotificationTransport into JupyterLab's notifications extension
(`jupyterlab-notifications-extension`, `POST {server}/jupyterlab-notifications-extension/ingest`).

The request goes straight to the server's own address, the one the hub's proxy routes to, and
authenticates with the server's own API token: the one JupyterHub gave the server when it
started it (`$JUPYTERHUB_API_TOKEN` in the lab, `spawner.api_token` in the hub), the credential
JupyterHub itself holds for that server. Why that one (docs/security.md, "Broadcast
credentials"):

- it reaches that one server and nothing else: JupyterHub's `server` role, `access:servers` on
  that server and posting its owner's activity;
- the recipient already holds it, so presenting it to the recipient reveals nothing: a user
  controls what runs in their lab, server process included, and can read whatever credential a
  delivery presents;
- nothing is minted, written or revoked per delivery: a broadcast makes no database write on
  the hub's event loop (a token per delivery made three, with the lab's check of a new token;
  200 servers took 1.49 s and 1.18 s of the hub's CPU that way, 0.56 s and 0.41 s with the
  server's own token, in one run of `bench/broadcast.py --baseline` on a two-core machine), and
  a real lab checks its own token with the hub once every few minutes (JupyterHub's HubAuth
  cache), not once per notification;
- it dies with the server: JupyterHub deletes it when the server stops. It is never logged.

One token for a whole broadcast (`access:servers` on every recipient) would be cheaper still and
is refused: every recipient sees the credential it is sent, so any of them could use it on every
other recipient's lab while it lived.

Where the hub does not hold the server's token (a server started before the hub's last restart:
JupyterHub keeps only its hash) or the lab refuses it (401 or 403: a deployment whose
`server_token_scopes` leave out `access:servers`), the delivery uses a token of its own instead,
as before: owned by the recipient, allowed only `access:servers` on that one server, valid for a
minute, and deleted as soon as the delivery is over, whatever its outcome.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from jupyterhub import orm
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from stellars.domain.hub import ServerSnapshot
from stellars.domain.notifications import Broadcast, Delivery
from stellars.domain.settings import BroadcastPolicy

from .handle import HubHandle

log = logging.getLogger(__name__)

INGEST_PATH = "jupyterlab-notifications-extension/ingest"
TOKEN_LIFETIME_SECONDS = 60
TOKEN_NOTE = "stellars: one notification"
#: Requests the transport's HTTP client makes at once: the broadcast policy's largest
#: concurrency, so that the policy alone decides. Tornado's shared client makes 10 at a time
#: and queues the rest (a broadcast to 200 servers took 10 s on a loaded two-core machine).
MAX_REQUESTS = BroadcastPolicy.LIMITS["concurrency"][1]
#: The lab's answers that say it does not accept a credential (jupyter-server answers 403 to
#: an API request it cannot authenticate or authorize).
REFUSED = frozenset({401, 403})


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

    #: Whether a delivery first presents the server's own token (see the module's docstring).
    #: False: a token minted per delivery, always (the earlier design, kept for the broadcast
    #: benchmark's baseline; bench/broadcast.py sets it in its own hub configuration).
    use_server_token: bool = True

    def __init__(self, hub: HubHandle, *, request_timeout_seconds: float = 5.0) -> None:
        self._hub = hub
        self.request_timeout_seconds = request_timeout_seconds
        self._client: AsyncHTTPClient | None = None
        self._user_ids: dict[str, int] = {}  # name -> id in the hub's cache of users

    def _http(self) -> AsyncHTTPClient:
        """An HTTP client of the transport's own (made on first use, on the hub's loop), not
        tornado's shared one, whose 10 requests at a time would also hold the hub's others."""
        if self._client is None:
            self._client = AsyncHTTPClient(force_instance=True, max_clients=MAX_REQUESTS)
        return self._client

    def _user(self, name: str) -> Any | None:
        """The hub's User of that name, from the hub's cache of User objects (`app.users`,
        which holds every user with a running server) through a name index of the transport's
        own, without a database query (one per delivery was a third of a broadcast's time on the
        hub's loop); the index is rebuilt when it misses or a user was renamed, and the database
        asked only for a name the cache does not have."""
        users = self._hub.app.users
        for attempt in range(2):
            user_id = self._user_ids.get(name)
            if user_id is not None and dict.__contains__(users, user_id):
                user = users[user_id]  # an id in the cache: no query
                if user.name == name:
                    return user
            if attempt == 0:
                self._user_ids = {user.name: user_id for user_id, user in dict.items(users)}
        orm_user = orm.User.find(self._hub.app.db, name)
        return None if orm_user is None else users[orm_user]

    def _spawner(self, server: ServerSnapshot) -> tuple[Any, Any] | None:
        user = self._user(server.username)
        if user is None:
            return None
        spawner = user.spawners.get(server.name)
        if spawner is None or not spawner.ready or spawner.server is None:
            return None
        return user, spawner

    async def deliver(self, server: ServerSnapshot, broadcast: Broadcast) -> Delivery:
        found = self._spawner(server)
        if found is None:
            return Delivery(server.username, server.name, False, "the server is not running")
        user, spawner = found
        base_url = spawner.server.url
        own_token = spawner.api_token if self.use_server_token else ""
        if own_token:
            delivery, code = await self._post(server, base_url, own_token, broadcast)
            if code not in REFUSED:
                return delivery
            log.info(
                "%s/%s refused its own API token (HTTP %s): delivering with a token minted "
                "for this delivery",
                server.username,
                server.name,
                code,
            )
        token = user.new_api_token(
            note=TOKEN_NOTE,
            expires_in=TOKEN_LIFETIME_SECONDS,
            scopes=[f"access:servers!server={server.username}/{server.name}"],
        )
        try:
            delivery, _ = await self._post(server, base_url, token, broadcast)
            return delivery
        finally:
            self._revoke(token)

    async def _post(
        self, server: ServerSnapshot, base_url: str, token: str, broadcast: Broadcast
    ) -> tuple[Delivery, int | None]:
        """The delivery's result, and the lab's HTTP status (None: no answer)."""
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
            reason = f"the server did not answer: {exc}"
            return Delivery(server.username, server.name, False, reason), None
        if response.code == 200:
            return Delivery(server.username, server.name, True), 200
        if response.code == 404:
            reason = "the lab has no notifications extension"
        elif response.code == 599:
            reason = f"the server did not answer: {response.error}"
            return Delivery(server.username, server.name, False, reason), None
        else:
            reason = f"the lab refused the notification: HTTP {response.code} {response.reason}"
        return Delivery(server.username, server.name, False, reason), response.code

    def _revoke(self, token: str) -> None:
        db = self._hub.app.db
        found = orm.APIToken.find(db, token)
        if found is not None:
            db.delete(found)
            db.commit()
