from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
from typing import Protocol

from stellars.domain.activity import (
    ActivityStoreSummary,
    DailyActivity,
    DecayedTally,
    RecordedSample,
)


class ActivityStore(Protocol):
    """Activity samples and, per user, their decay tally.

    An implementation is built for one half-life and keeps per-user tallies so that `tallies`
    never rescans samples; its tallies must score exactly like the definition in
    `stellars.domain.activity.score_samples` over the same samples.
    Raises BackendUnavailable when its storage cannot be reached.
    """

    async def add(self, samples: Sequence[RecordedSample]) -> None:
        """Record samples atomically: all of them or none."""
        ...

    async def tallies(self, *, since: datetime, until: datetime) -> Mapping[str, DecayedTally]:
        """Per-user tallies of the samples with since < taken_at <= until (users with none are
        absent)."""
        ...

    async def samples(
        self, username: str, *, since: datetime, until: datetime
    ) -> list[RecordedSample]:
        """One user's samples with since < taken_at <= until, oldest first."""
        ...

    async def daily_activity(
        self, *, since: date, until: date, usernames: Collection[str] | None = None
    ) -> list[DailyActivity]:
        """Per user and UTC day from `since` to `until` (both inclusive), how many samples
        were taken and how many were active, sorted by username then day; users and days
        without samples are absent. `usernames`: only those users (None: everyone)."""
        ...

    async def prune(self, *, older_than: datetime) -> int:
        """Delete samples with taken_at <= older_than; returns how many were deleted."""
        ...

    async def rename_user(self, old: str, new: str) -> int:
        """Move every sample of `old` to `new` (merging with samples `new` may have)."""
        ...

    async def delete_user(self, username: str) -> int:
        """Delete every sample of a user; returns how many."""
        ...

    async def reset(self) -> int:
        """Delete every sample; returns how many."""
        ...

    async def summary(self) -> ActivityStoreSummary:
        """How many samples are stored, for how many users."""
        ...
