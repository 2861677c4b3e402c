"""PolicyReader over JupyterHub's REST API, for processes outside the hub (the idle culler reads
each user's idle timeout and maximum extension from their groups' policies).

Policies live in the groups' properties (see `stellars.adapters.jupyterhub.hub_objects.
policies`); `GET /hub/api/groups` lists every group with its properties to a token with
`list:groups` and `read:groups`, walked page by page with JupyterHub's pagination media type,
and `GET /hub/api/groups/NAME` reads one (404: no such group).

Read-only on purpose: writing a group's properties takes `admin:groups`, which would let a
managed service change every group's members too; only the hub's own pages and API write
policies, with an admin's scope.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.iostream import StreamClosedError

from stellars.domain.errors import BackendUnavailable, InvalidValue
from stellars.domain.policies import GroupPolicy
from stellars.domain.policy_documents import PROPERTY_KEY, in_rank_order, policy_from_entry

from .rest_directory import DEFAULT_PAGE_SIZE, PAGINATION_MEDIA_TYPE

log = logging.getLogger(__name__)

#: The scopes a token needs here.
SCOPES = ("list:groups", "read:groups")
# A hub whose group list keeps growing must not keep us walking forever.
_MAX_PAGES = 100_000


def _group_model(model: Any) -> Mapping[str, Any]:
    """A group model as the hub sends it: a JSON object with a name."""
    if not isinstance(model, Mapping) or not isinstance(model.get("name"), str):
        raise BackendUnavailable(f"unexpected group model from the hub API: {model!r:.80}")
    return model


def _ranked(models: Iterable[Mapping[str, Any]]) -> list[tuple[int, GroupPolicy]]:
    """The readable policies of group models, with their ranks."""
    ranked = []
    for model in models:
        properties = model.get("properties")
        if not isinstance(properties, Mapping) or PROPERTY_KEY not in properties:
            continue
        try:
            ranked.append(policy_from_entry(model["name"], properties[PROPERTY_KEY]))
        except InvalidValue as error:
            log.warning("the policy of group %r cannot be read; ignored: %s", model["name"], error)
    return ranked


class RestPolicyReader:
    """The PolicyReader port over the hub API.

    `api_url`: the hub API root (JUPYTERHUB_API_URL); `token`: an API token with `SCOPES`.
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

    async def _models(self) -> list[Mapping[str, Any]]:
        """Every group model of every page."""
        models: dict[str, Mapping[str, Any]] = {}
        offset = 0
        for _ in range(_MAX_PAGES):
            query = urlencode({"offset": offset, "limit": self.page_size})
            body = await self._get_json(f"{self.api_url}/groups?{query}")
            if isinstance(body, list):  # a hub too old to paginate sends one plain list
                items, following = body, None
            elif isinstance(body, dict) and isinstance(body.get("items"), list):
                items = body["items"]
                following = (body.get("_pagination") or {}).get("next")
            else:
                raise BackendUnavailable(f"unexpected group list from {self.api_url}/groups")
            for item in items:
                model = _group_model(item)
                # Groups created between two pages shift the offsets: never count one twice.
                models[model["name"]] = model
            if not following or not items:
                break
            following_offset = int(following["offset"])
            if following_offset <= offset:
                raise BackendUnavailable(
                    f"hub API {self.api_url}/groups paginates backwards ({offset} -> "
                    f"{following_offset})"
                )
            offset = following_offset
        return [models[name] for name in sorted(models)]

    async def groups(self) -> list[str]:
        return [model["name"] for model in await self._models()]

    async def in_order(self) -> list[GroupPolicy]:
        return in_rank_order(_ranked(await self._models()))

    async def for_groups(self, groups: Iterable[str]) -> list[GroupPolicy]:
        """One request per group (a user is in a few; the whole list may be long)."""
        models = []
        for name in sorted(set(groups)):
            model = await self._get_json(
                f"{self.api_url}/groups/{quote(name, safe='')}", missing_ok=True
            )
            if model is not None:
                models.append(_group_model(model))
        return in_rank_order(_ranked(models))

    async def get(self, group: str) -> GroupPolicy | None:
        found = await self.for_groups([group])
        return found[0] if found else None

    async def _get_json(self, url: str, *, missing_ok: bool = False) -> Any:
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
            reason = ""
            with contextlib.suppress(ValueError, AttributeError):  # not JupyterHub's JSON error
                reason = str(json.loads(response.body or b"{}").get("message") or "")
            reason = reason or response.reason or ""
            if response.code in {401, 403}:
                raise BackendUnavailable(
                    f"hub API refused the token ({response.code} {reason}) at {url}: the "
                    f"service needs a valid token with {' and '.join(SCOPES)}"
                )
            raise BackendUnavailable(f"hub API {url} failed: {response.code} {reason}".rstrip())
        try:
            return json.loads(response.body)
        except ValueError as exc:
            raise BackendUnavailable(f"hub API {url} answered with invalid JSON") from exc
