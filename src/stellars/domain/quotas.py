"""Storage quotas: how much of their quota a user's volumes use, and what they read about it.

A quota is soft: nothing stops a lab from writing past it. It is a number of bytes per user (the
deployer's `STELLARS_STORAGE_QUOTA`, or the most generous of the user's group policies',
`stellars.domain.policies`), None for no quota. The rules, for the sizes of a user's own volumes
as the engine last measured them:

1. **Usage** is the sum of the sizes; a volume that does not exist uses nothing (its size is
   0, known).
2. **Unknown is never zero**: a size that is not known (not measured yet, or Docker's answer
   was partial, mid-scan) makes the usage unknown, and an unknown usage never warns and never
   refuses a start.
3. **State**: `none` without a quota; else `unknown` while the usage is; `over` when the usage
   is more than the quota; `warning` when it is at least `WARNING_PERCENT` (90 %) of it,
   compared exactly in whole bytes (100 x usage >= 90 x quota); else `under`.
4. **Percent** shown is the usage's share of the quota rounded down (so 99.9 % reads 99 %,
   never a full quota that is not), None without a quota or a usage.
5. Over the quota a start is refused (`over_quota_reason`), offering the volume reset, which
   works whatever the usage: a user is never left with a lab they cannot clean.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import ClassVar

from .errors import InvalidValue
from .limits import describe_bytes
from .notifications import MAX_MESSAGE_LENGTH
from .policies import GroupPolicy
from .validation import Bounds, echo

#: From this share of the quota (in percent) a user is warned.
WARNING_PERCENT = 90


class QuotaState(str, Enum):
    """Where a user's usage stands against their quota."""

    NONE = "none"  # no quota
    UNKNOWN = "unknown"  # a size is not known: neither warned nor refused
    UNDER = "under"
    WARNING = "warning"  # at least WARNING_PERCENT of the quota
    OVER = "over"  # more than the quota: a start is refused


def _size(field: str, value: object, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InvalidValue(field, f"must be a whole number of bytes >= {least}, got {echo(value)}")


@dataclass(frozen=True, slots=True)
class StorageUsage:
    """A user's usage (bytes; None: unknown) against their quota (bytes; None: no quota)."""

    used_bytes: int | None
    quota_bytes: int | None

    def __post_init__(self) -> None:
        if self.used_bytes is not None:
            _size("used_bytes", self.used_bytes, 0)
        if self.quota_bytes is not None:
            _size("quota_bytes", self.quota_bytes, 1)

    @property
    def state(self) -> QuotaState:
        used, quota = self.used_bytes, self.quota_bytes
        if quota is None:
            return QuotaState.NONE
        if used is None:
            return QuotaState.UNKNOWN
        if used > quota:
            return QuotaState.OVER
        if used * 100 >= quota * WARNING_PERCENT:
            return QuotaState.WARNING
        return QuotaState.UNDER

    @property
    def percent(self) -> int | None:
        """The usage's share of the quota in whole percent, rounded down."""
        if self.used_bytes is None or self.quota_bytes is None:
            return None
        return self.used_bytes * 100 // self.quota_bytes

    @property
    def warns(self) -> bool:
        """Whether the user is to be warned: at the warning share or over the quota."""
        return self.state in (QuotaState.WARNING, QuotaState.OVER)

    @property
    def text(self) -> str:
        """The usage as the user reads it: "4.6 GiB of 5 GiB (92 %)"."""
        used, quota = self.used_bytes, self.quota_bytes
        if quota is None:
            if used is None:
                return "usage not known yet (no quota)"
            return f"{describe_bytes(used)} used (no quota)"
        if used is None:
            return f"usage not known yet (quota {describe_bytes(quota)})"
        words = f"{describe_bytes(used)} of {describe_bytes(quota)} ({self.percent} %)"
        if self.state is QuotaState.OVER:
            return f"{words}: over the quota"
        return words


def storage_usage(sizes: Iterable[int | None], quota: int | None) -> StorageUsage:
    """The usage of volumes of these `sizes` (None: not known) against `quota`, by the rules
    of this module."""
    known = list(sizes)
    if None in known:
        return StorageUsage(None, quota)
    return StorageUsage(sum(size for size in known if size is not None), quota)


def over_quota_reason(username: str, usage: StorageUsage, *, home_url: str, reset_url: str) -> str:
    """Why a start is refused over the quota, and how to get back under it: the volume reset,
    on the home page (`home_url`) or by `DELETE reset_url`. Raises InvalidValue for a usage that
    is not over its quota."""
    used, quota = usage.used_bytes, usage.quota_bytes
    if used is None or quota is None or used <= quota:
        raise InvalidValue("usage", f"is not over a quota: {usage.text}")
    return (
        f"The server of {username} cannot start: its volumes use {describe_bytes(used)}, more "
        f"than the storage quota of {describe_bytes(quota)} ({usage.percent} %). Free space by "
        f"resetting volumes: Manage volumes on the home page ({home_url}), or DELETE "
        f"{reset_url} with the volumes to reset; then start again."
    )


def warning_message(usage: StorageUsage) -> str:
    """The notification a running lab gets at the warning share (at most
    `MAX_MESSAGE_LENGTH` characters)."""
    text = (
        f"Storage: your volumes use {usage.text} of your quota. Over it, your server will not "
        "start again: delete files you do not need."
    )
    if len(text) <= MAX_MESSAGE_LENGTH:
        return text
    return f"Storage: your volumes use {usage.text} of your quota."


@dataclass(frozen=True, slots=True, kw_only=True)
class QuotaSettings:
    """The deployer's storage quota per user, in bytes: 0 is no quota; anything else at least
    what a group policy's quota must be. Group policies may give their members another."""

    LIMITS: ClassVar[Mapping[str, Bounds]] = MappingProxyType(
        {"storage_quota": GroupPolicy.LIMITS["storage_quota"]}
    )

    storage_quota: int = 0

    def __post_init__(self) -> None:
        value = self.storage_quota
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidValue("storage_quota", f"must be a whole number, got {echo(value)}")
        least = self.LIMITS["storage_quota"][0]
        if value != 0 and value < least:
            raise InvalidValue(
                "storage_quota",
                f"must be 0 (no quota) or at least {describe_bytes(least)}, got {value} bytes",
            )

    @property
    def quota(self) -> int | None:
        """The quota in bytes, None for no quota."""
        return self.storage_quota or None
