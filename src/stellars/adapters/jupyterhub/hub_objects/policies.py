"""PolicyStore over the hub's own groups: each group's policy lives in its properties (a JSON
column of JupyterHub's `groups` table, which the hub's group API and admin page show and
edit too), under one key (`policy_documents.PROPERTY_KEY`), so there is no second place a
policy could disagree with. A group deleted in the hub takes its policy with it.

Reads and writes run on the event loop, on the hub's own ORM session, as JupyterHub's group
handlers do (the session is not thread-safe): reads are column queries (no ORM objects to
build), a spawn reads only the user's groups, and a write touches the groups it changes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from jupyterhub import orm
from sqlalchemy import Text, Unicode, column, table

from stellars.domain.errors import InvalidValue, NotFound
from stellars.domain.policies import GroupPolicy
from stellars.domain.policy_documents import (
    PROPERTY_KEY,
    entry_rank,
    in_rank_order,
    next_rank,
    policy_entry,
    policy_from_entry,
    ranks_for_order,
)

from .handle import HubHandle

log = logging.getLogger(__name__)

#: JupyterHub's groups table with its properties as their JSON text: JupyterHub's own column type
#: cannot be part of SQLAlchemy's statement cache (it warns so at every new query).
GROUP_PROPERTIES = table(
    orm.Group.__tablename__, column("name", Unicode(255)), column("properties", Text)
)


def _ranked(rows: Iterable[tuple[str, Any]]) -> list[tuple[int, GroupPolicy]]:
    """The readable policies among (group name, properties) rows, with their ranks."""
    ranked = []
    for name, properties in rows:
        if not isinstance(properties, Mapping) or PROPERTY_KEY not in properties:
            continue
        try:
            ranked.append(policy_from_entry(name, properties[PROPERTY_KEY]))
        except InvalidValue as error:
            log.warning("stellars: the policy of group %r cannot be read; ignored: %s", name, error)
    return ranked


def _decoded(text: str | None) -> Any:
    """A group's properties from their JSON text (None: none, or text that is not JSON)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _rank(properties: Any) -> int | None:
    if not isinstance(properties, Mapping) or PROPERTY_KEY not in properties:
        return None
    try:
        return entry_rank(properties[PROPERTY_KEY])
    except InvalidValue:
        return None


class HubPolicyStore:
    """The PolicyStore port on the JupyterHub application of this process."""

    def __init__(self, hub: HubHandle) -> None:
        self._hub = hub

    @property
    def _db(self) -> Any:
        return self._hub.app.db

    def _rows(self, names: Iterable[str] | None = None) -> list[tuple[str, Any]]:
        """(name, properties) of the hub's groups (of `names` only, when given)."""
        groups = GROUP_PROPERTIES.c
        query = self._db.query(groups.name, groups.properties)
        if names is not None:
            query = query.filter(groups.name.in_(list(names)))
        return [(name, _decoded(properties)) for name, properties in query]

    async def groups(self) -> list[str]:
        return [name for (name,) in self._db.query(orm.Group.name).order_by(orm.Group.name)]

    async def in_order(self) -> list[GroupPolicy]:
        return in_rank_order(_ranked(self._rows()))

    async def for_groups(self, groups: Iterable[str]) -> list[GroupPolicy]:
        names = set(groups)
        return in_rank_order(_ranked(self._rows(names))) if names else []

    async def get(self, group: str) -> GroupPolicy | None:
        found = _ranked(self._rows([group]))
        return found[0][1] if found else None

    def _ranks(self) -> dict[str, int]:
        return {
            name: rank
            for name, properties in self._rows()
            if (rank := _rank(properties)) is not None
        }

    def _write(self, group: Any, properties: dict[str, Any]) -> None:
        # A new dict: the column type compares whole values, it does not see changes inside one.
        group.properties = properties

    async def put(self, policy: GroupPolicy) -> None:
        db = self._db
        group = orm.Group.find(db, policy.group)
        if group is None:
            raise NotFound(f"No such group: {policy.group}")
        ranks = self._ranks()
        rank = ranks.get(policy.group, next_rank(ranks.values()))
        self._write(group, {**(group.properties or {}), PROPERTY_KEY: policy_entry(policy, rank)})
        db.commit()

    async def delete(self, group: str) -> bool:
        db = self._db
        found = orm.Group.find(db, group)
        if found is None or PROPERTY_KEY not in (found.properties or {}):
            return False
        self._write(found, {k: v for k, v in found.properties.items() if k != PROPERTY_KEY})
        db.commit()
        return True

    async def reorder(self, order: Sequence[str]) -> None:
        db = self._db
        ranks = self._ranks()
        changed = {g: r for g, r in ranks_for_order(ranks, order).items() if ranks[g] != r}
        if not changed:
            return
        for group in db.query(orm.Group).filter(orm.Group.name.in_(list(changed))):
            entry = {**group.properties[PROPERTY_KEY], "rank": changed[group.name]}
            self._write(group, {**group.properties, PROPERTY_KEY: entry})
        db.commit()
