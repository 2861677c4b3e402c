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

import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from stellars.domain.errors import BackendUnavailable, InvalidValue
from stellars.domain.policies import GroupPolicy
from stellars.domain.policy_documents import PROPERTY_KEY, in_rank_order, policy_from_entry

from .client import DEFAULT_PAGE_SIZE, HubApi

log = logging.getLogger(__name__)

#: The scopes a token needs here.
SCOPES = ("list:groups", "read:groups")


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


class RestPolicyReader(HubApi):
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
        super().__init__(
            api_url,
            token,
            SCOPES,
            connect_timeout=connect_timeout,
            request_timeout=request_timeout,
            page_size=page_size,
        )

    async def _models(self) -> list[Mapping[str, Any]]:
        """Every group model of every page, by name."""
        return await self.walk("groups", _group_model, lambda model: model["name"])

    async def groups(self) -> list[str]:
        return [model["name"] for model in await self._models()]

    async def in_order(self) -> list[GroupPolicy]:
        return in_rank_order(_ranked(await self._models()))

    async def for_groups(self, groups: Iterable[str]) -> list[GroupPolicy]:
        """One request per group (a user is in a few; the whole list may be long)."""
        models = []
        for name in sorted(set(groups)):
            model = await self.get_json(f"groups/{quote(name, safe='')}", missing_ok=True)
            if model is not None:
                models.append(_group_model(model))
        return in_rank_order(_ranked(models))

    async def get(self, group: str) -> GroupPolicy | None:
        found = await self.for_groups([group])
        return found[0] if found else None
