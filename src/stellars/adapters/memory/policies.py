from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

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

log = logging.getLogger(__name__)


class InMemoryPolicyStore:
    """The hub's groups as a dict of group name -> properties, holding policies as the hub
    does: one JSON entry per group under `PROPERTY_KEY` (see `policy_documents`)."""

    def __init__(self, groups: Iterable[str] = ()) -> None:
        self.properties: dict[str, dict[str, Any]] = {group: {} for group in groups}

    def add_group(self, group: str) -> None:
        self.properties.setdefault(group, {})

    def remove_group(self, group: str) -> None:
        """A group deleted in the hub: its properties, and so its policy, go with it."""
        self.properties.pop(group, None)

    def _ranked(self, groups: Iterable[str]) -> list[tuple[int, GroupPolicy]]:
        ranked = []
        for group in groups:
            entry = self.properties.get(group, {}).get(PROPERTY_KEY)
            if entry is None:
                continue
            try:
                ranked.append(policy_from_entry(group, entry))
            except InvalidValue as error:
                log.warning("the policy of group %r cannot be read; ignored: %s", group, error)
        return ranked

    async def groups(self) -> list[str]:
        return sorted(self.properties)

    async def in_order(self) -> list[GroupPolicy]:
        return in_rank_order(self._ranked(self.properties))

    async def for_groups(self, groups: Iterable[str]) -> list[GroupPolicy]:
        return in_rank_order(self._ranked(set(groups)))

    async def get(self, group: str) -> GroupPolicy | None:
        found = self._ranked([group])
        return found[0][1] if found else None

    def _ranks(self) -> dict[str, int]:
        ranks = {}
        for group, properties in self.properties.items():
            if PROPERTY_KEY in properties:
                try:
                    ranks[group] = entry_rank(properties[PROPERTY_KEY])
                except InvalidValue:
                    continue
        return ranks

    async def put(self, policy: GroupPolicy) -> None:
        if policy.group not in self.properties:
            raise NotFound(f"No such group: {policy.group}")
        ranks = self._ranks()
        rank = ranks.get(policy.group, next_rank(ranks.values()))
        self.properties[policy.group] = {
            **self.properties[policy.group],
            PROPERTY_KEY: policy_entry(policy, rank),
        }

    async def delete(self, group: str) -> bool:
        return self.properties.get(group, {}).pop(PROPERTY_KEY, None) is not None

    async def reorder(self, order: Sequence[str]) -> None:
        for group, rank in ranks_for_order(self._ranks(), order).items():
            self.properties[group][PROPERTY_KEY] = {
                **self.properties[group][PROPERTY_KEY],
                "rank": rank,
            }
