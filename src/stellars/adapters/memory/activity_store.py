from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, timedelta

from stellars.domain.activity import (
    ActivityStoreSummary,
    DailyActivity,
    DecayedTally,
    RecordedSample,
    tally_samples,
)
from stellars.domain.timeutil import UTC


class InMemoryActivityStore:
    """Samples in a list; tallies are folded on demand (a fake need not be fast)."""

    def __init__(self, *, half_life: timedelta) -> None:
        self.half_life = half_life
        self.rows: list[RecordedSample] = []

    async def add(self, samples: Sequence[RecordedSample]) -> None:
        self.rows.extend(samples)

    def _between(self, since: datetime, until: datetime) -> list[RecordedSample]:
        return sorted(
            (row for row in self.rows if since < row.taken_at <= until),
            key=lambda row: row.taken_at,
        )

    async def tallies(self, *, since: datetime, until: datetime) -> Mapping[str, DecayedTally]:
        by_user: dict[str, list[RecordedSample]] = {}
        for row in self._between(since, until):
            by_user.setdefault(row.username, []).append(row)
        return {name: tally_samples(rows, self.half_life) for name, rows in by_user.items()}

    async def samples(
        self, username: str, *, since: datetime, until: datetime
    ) -> list[RecordedSample]:
        return [row for row in self._between(since, until) if row.username == username]

    async def daily_activity(
        self, *, since: date, until: date, usernames: Collection[str] | None = None
    ) -> list[DailyActivity]:
        wanted = None if usernames is None else set(usernames)
        samples: Counter[tuple[str, date]] = Counter()
        active: Counter[tuple[str, date]] = Counter()
        for row in self.rows:
            day = row.taken_at.astimezone(UTC).date()
            if since <= day <= until and (wanted is None or row.username in wanted):
                samples[row.username, day] += 1
                active[row.username, day] += 1 if row.active else 0
        return [
            DailyActivity(name, day, active[name, day], count)
            for (name, day), count in sorted(samples.items())
        ]

    async def prune(self, *, older_than: datetime) -> int:
        keep = [row for row in self.rows if row.taken_at > older_than]
        removed = len(self.rows) - len(keep)
        self.rows = keep
        return removed

    async def rename_user(self, old: str, new: str) -> int:
        moved = 0
        for index, row in enumerate(self.rows):
            if row.username == old:
                self.rows[index] = RecordedSample(
                    new, row.taken_at, row.active, row.server_last_activity
                )
                moved += 1
        return moved

    async def delete_user(self, username: str) -> int:
        keep = [row for row in self.rows if row.username != username]
        removed = len(self.rows) - len(keep)
        self.rows = keep
        return removed

    async def reset(self) -> int:
        removed = len(self.rows)
        self.rows = []
        return removed

    async def summary(self) -> ActivityStoreSummary:
        return ActivityStoreSummary(len(self.rows), len({row.username for row in self.rows}))
