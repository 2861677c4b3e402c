"""HubDirectory over JupyterHub's REST API, for processes outside the hub (managed services).

`list_users` walks every page with JupyterHub's pagination media type: without it the hub
silently returns at most `api_page_max_limit` users (200 by default).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.iostream import StreamClosedError

from stellars.domain.errors import BackendUnavailable
from stellars.domain.hub import HubUser

from .models import user_from_model

PAGINATION_MEDIA_TYPE = "application/jupyterhub-pagination+json"
# The hub caps a page at its api_page_max_limit (200 unless configured); asking for more is
# harmless, the `next` offsets in its answers drive the walk.
DEFAULT_PAGE_SIZE = 200
# A hub whose user list keeps growing must not keep us walking forever.
_MAX_PAGES = 100_000


class RestHubDirectory:
    """The HubDirectory port over the hub API.

    `api_url`: the hub API root, e.g. JUPYTERHUB_API_URL (`http://127.0.0.1:8081/hub/api`);
    `token`: an API token with scopes list:users, read:users, read:users:activity,
    read:servers; `connect_timeout` / `request_timeout` in seconds; `page_size` users per page.
    Raises BackendUnavailable when the hub cannot be reached, refuses the token or errs.
    """

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        connect_timeout: float = 5.0,
        request_timeout: float = 30.0,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        self.api_url = api_url.rstrip("/")
        self._token = token
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.page_size = page_size

    async def list_users(self) -> list[HubUser]:
        """Every user of every page, with their running or pending servers, sorted by name."""
        users: dict[str, HubUser] = {}
        offset = 0
        for _ in range(_MAX_PAGES):
            query = urlencode({"offset": offset, "limit": self.page_size})
            body = await self._get_json(f"{self.api_url}/users?{query}")
            if isinstance(body, list):  # a hub too old to paginate sends one plain list
                items, following = body, None
            elif isinstance(body, dict) and isinstance(body.get("items"), list):
                items = body["items"]
                following = (body.get("_pagination") or {}).get("next")
            else:
                raise BackendUnavailable(f"unexpected user list from {self.api_url}/users")
            for model in items:
                user = user_from_model(model)
                # Users created between two pages shift the offsets: never count one twice.
                users[user.name] = user
            if not following or not items:
                break
            following_offset = int(following["offset"])
            if following_offset <= offset:  # a broken `next` must not loop forever
                raise BackendUnavailable(
                    f"hub API {self.api_url}/users paginates backwards ({offset} -> "
                    f"{following_offset})"
                )
            offset = following_offset
        return [users[name] for name in sorted(users)]

    async def get_user(self, name: str) -> HubUser | None:
        """One user with their running or pending servers, or None if the hub has none."""
        body = await self._get_json(f"{self.api_url}/users/{quote(name, safe='')}", missing_ok=True)
        return None if body is None else user_from_model(body)

    async def _get_json(self, url: str, *, missing_ok: bool = False) -> Any:
        request = HTTPRequest(
            url,
            method="GET",
            headers={
                "Authorization": f"token {self._token}",
                "Accept": PAGINATION_MEDIA_TYPE,
            },
            connect_timeout=self.connect_timeout,
            request_timeout=self.request_timeout,
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except HTTPClientError as exc:  # timeouts arrive as code 599
            raise BackendUnavailable(f"hub API {url} did not answer: {exc}") from exc
        except (OSError, StreamClosedError) as exc:
            raise BackendUnavailable(f"hub API {url} unreachable: {exc}") from exc
        if response.code == 404 and missing_ok:
            return None
        if response.code != 200:
            raise BackendUnavailable(self._failure(url, response))
        try:
            return json.loads(response.body)
        except ValueError as exc:
            raise BackendUnavailable(f"hub API {url} answered with invalid JSON") from exc

    @staticmethod
    def _failure(url: str, response: HTTPResponse) -> str:
        reason = ""
        with contextlib.suppress(ValueError, AttributeError):  # not JupyterHub's JSON error
            reason = str(json.loads(response.body or b"{}").get("message") or "")
        reason = reason or response.reason or ""
        if response.code in {401, 403}:
            return (
                f"hub API refused the token ({response.code} {reason}) at {url}: the service "
                "needs a valid token with list:users, read:users, read:users:activity and "
                "read:servers"
            )
        if response.code == 599:
            return f"hub API {url} unreachable: {response.error}"
        return f"hub API {url} failed: {response.code} {reason}".rstrip()
