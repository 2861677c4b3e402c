from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from stellars.domain.policies import GroupPolicy


class PolicyReader(Protocol):
    """The group policies, kept with JupyterHub's groups, read in the admins' order (by rank,
    ties by group name). A stored policy the platform cannot read is left out (and logged).
    Raises BackendUnavailable."""

    async def groups(self) -> list[str]:
        """Every group of the hub, with a policy or not, by name."""
        ...

    async def in_order(self) -> list[GroupPolicy]:
        """Every policy, in the admins' order."""
        ...

    async def for_groups(self, groups: Iterable[str]) -> list[GroupPolicy]:
        """The policies of `groups` (of those that have one), in the admins' order."""
        ...

    async def get(self, group: str) -> GroupPolicy | None:
        """The policy of `group`; None when it has none (or the hub has no such group)."""
        ...


class PolicyStore(PolicyReader, Protocol):
    """PolicyReader that also writes. Raises NotFound for a group the hub does not have."""

    async def put(self, policy: GroupPolicy) -> None:
        """Store the policy of `policy.group`, replacing the one it had (which keeps its place
        in the order); a group's first policy goes after every other."""
        ...

    async def delete(self, group: str) -> bool:
        """Remove the policy of `group`; True if it had one."""
        ...

    async def reorder(self, order: Sequence[str]) -> None:
        """The admins' order: the policies of the groups `order` names first, in its order,
        every other policy after them by group name (see `policy_documents.ranks_for_order`).
        A named group without a policy is passed over."""
        ...
