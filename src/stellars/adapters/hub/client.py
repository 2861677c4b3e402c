"""What the REST adapters share: a GET of the hub API with a service token, and the walk of a
paginated list.

Every list is walked page by page with JupyterHub's pagination media type: without it the hub
silently returns at most `api_page_max_limit` items (200 by default). Every failure is a
BackendUnavailable that says what went wrong, and for a refused token which scopes it needs.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.iostream import StreamClosedError

from stellars.domain.errors import BackendUnavailable

PAGINATION_MEDIA_TYPE = "application/jupyterhub-pagination+json"
# The hub caps a page at its api_page_max_limit (200 unless configured); asking for more is
# harmless, the `next` offsets in its answers drive the walk.
DEFAULT_PAGE_SIZE = 200
# A hub whose list keeps growing must not keep us walking forever.
MAX_PAGES = 100_000

T = TypeVar("T")


class HubApi:
    """GETs of the hub API at `api_url` (JUPYTERHUB_API_URL) with `token`, which needs
    `scopes`; `connect_timeout` / `request_timeout` in seconds; `page_size` items per page."""

    def __init__(
        self,
        api_url: str,
        token: str,
        scopes: Sequence[str],
        *,
        connect_timeout: float = 5.0,
        request_timeout: float = 30.0,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        self.api_url = api_url.rstrip("/")
        self._token = token
        self.scopes = tuple(scopes)
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.page_size = page_size

    async def walk(self, path: str, item: Callable[[Any], T], name: Callable[[T], str]) -> list[T]:
        """Every item of every page of the list at `path` ("users"), each read by `item`, once
        per `name` and sorted by it."""
        found: dict[str, T] = {}
        offset = 0
        noun = path.rstrip("s")
        for _ in range(MAX_PAGES):
            query = urlencode({"offset": offset, "limit": self.page_size})
            body = await self.get_json(f"{path}?{query}")
            if isinstance(body, list):  # a hub too old to paginate sends one plain list
                items, following = body, None
            elif isinstance(body, dict) and isinstance(body.get("items"), list):
                items = body["items"]
                following = (body.get("_pagination") or {}).get("next")
            else:
                raise BackendUnavailable(f"unexpected {noun} list from {self.api_url}/{path}")
            for model in items:
                read = item(model)
                # Items created between two pages shift the offsets: never count one twice.
                found[name(read)] = read
            if not following or not items:
                break
            following_offset = int(following["offset"])
            if following_offset <= offset:  # a broken `next` must not loop forever
                raise BackendUnavailable(
                    f"hub API {self.api_url}/{path} paginates backwards ({offset} -> "
                    f"{following_offset})"
                )
            offset = following_offset
        return [found[key] for key in sorted(found)]

    async def get_json(self, path: str, *, missing_ok: bool = False) -> Any:
        """The JSON body at `path` (under the API root); None for a 404 when `missing_ok`."""
        url = f"{self.api_url}/{path}"
        request = HTTPRequest(
            url,
            method="GET",
            headers={"Authorization": f"token {self._token}", "Accept": PAGINATION_MEDIA_TYPE},
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

    def _failure(self, url: str, response: HTTPResponse) -> str:
        reason = ""
        with contextlib.suppress(ValueError, AttributeError):  # not JupyterHub's JSON error
            reason = str(json.loads(response.body or b"{}").get("message") or "")
        reason = reason or response.reason or ""
        if response.code in {401, 403}:
            needed = " and ".join(filter(None, (", ".join(self.scopes[:-1]), *self.scopes[-1:])))
            return (
                f"hub API refused the token ({response.code} {reason}) at {url}: the service "
                f"needs a valid token with {needed}"
            )
        if response.code == 599:
            return f"hub API {url} unreachable: {response.error}"
        return f"hub API {url} failed: {response.code} {reason}".rstrip()
