"""Activity: sample every user's server activity, prune, and report scores."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime

from stellars.domain.activity import (
    ActivityLevel,
    ActivityPolicy,
    ActivitySample,
    ActivityScore,
    ActivityStoreSummary,
    DailyHours,
    activity_level,
    classify,
    daily_hours,
    history_range,
    retention_cutoff,
)
from stellars.domain.hub import HubUser
from stellars.ports.activity_store import ActivityStore
from stellars.ports.clock import Clock
from stellars.ports.hub_directory import HubDirectory

#: Scores computed between two turns of the event loop: 10,000 users' scores take about 50 ms
#: of CPU, longer than a request may wait on the loop.
SCORES_PER_TURN = 1000


@dataclass(frozen=True, slots=True)
class TickSummary:
    """What one sampling tick did, for its one-line log."""

    users: int
    active: int
    idle: int
    offline: int
    pruned: int
    levels: dict[ActivityLevel, int] = field(default_factory=dict)

    @property
    def line(self) -> str:
        levels = ", ".join(
            f"{level.value}({count})"
            for level in ActivityLevel
            if (count := self.levels.get(level, 0))
        )
        return (
            f"Tick: {self.users} users (active={self.active}, idle={self.idle}, "
            f"offline={self.offline}) | levels: {levels or 'none'} | pruned {self.pruned}"
        )


@dataclass(frozen=True, slots=True)
class UsageHistory:
    """Daily active hours per user for the days from `start` to `end` (both inclusive)."""

    start: date
    end: date
    days: tuple[DailyHours, ...]


@dataclass(frozen=True, slots=True)
class UserActivity:
    """One row of the activity dashboard."""

    username: str
    score: int | None
    level: ActivityLevel
    sample_count: int
    enough_data: bool
    last_activity: datetime | None
    server_active: bool
    recently_active: bool


class ActivityService:
    """Samples every user's server activity and reports scores for all users."""

    def __init__(
        self,
        *,
        store: ActivityStore,
        directory: HubDirectory,
        clock: Clock,
        policy: ActivityPolicy,
    ) -> None:
        self._store = store
        self._directory = directory
        self._clock = clock
        self.policy = policy
        #: Counts the samples this service recorded or wiped (what a cached view depends on).
        self.revision = 0

    def sample_of(self, user: HubUser, now: datetime) -> ActivitySample:
        """A stopped server counts as no activity: the sample asks "working right now?"."""
        return ActivitySample(user.name, now, user.latest_server_activity())

    async def tick(self) -> TickSummary:
        """Record one sample per user in one transaction, prune, and summarise."""
        users = await self._directory.list_users()
        now = self._clock.now()
        recorded = [classify(self.sample_of(user, now), self.policy) for user in users]
        await self._store.add(recorded)
        self.revision += 1
        pruned = await self._store.prune(older_than=retention_cutoff(now, self.policy))
        scores = await self._scores(now)
        active = idle = offline = 0
        for user, sample in zip(users, recorded, strict=True):
            if not user.has_active_server:
                offline += 1
            elif sample.active:
                active += 1
            else:
                idle += 1
        levels = Counter(
            activity_level(scores[u.name].value) if u.name in scores else ActivityLevel.NONE
            for u in users
        )
        return TickSummary(len(users), active, idle, offline, pruned, dict(levels))

    async def _scores(self, now: datetime) -> dict[str, ActivityScore]:
        tallies = list(
            (await self._store.tallies(since=retention_cutoff(now, self.policy), until=now)).items()
        )
        scores: dict[str, ActivityScore] = {}
        for start in range(0, len(tallies), SCORES_PER_TURN):
            if start:  # thousands of users: let other requests run between slices
                await asyncio.sleep(0)
            scores.update(
                (name, tally.score(self.policy))
                for name, tally in tallies[start : start + SCORES_PER_TURN]
            )
        return scores

    async def scores(self) -> dict[str, ActivityScore]:
        """Every user's score now (users without samples are absent)."""
        return await self._scores(self._clock.now())

    async def report(self) -> list[UserActivity]:
        """A dashboard row for every hub user, sorted by name."""
        users = await self._directory.list_users()
        now = self._clock.now()
        scores = await self._scores(now)
        rows = []
        for user in users:
            score = scores.get(user.name)
            last = user.latest_server_activity()
            rows.append(
                UserActivity(
                    username=user.name,
                    score=score.value if score else None,
                    level=activity_level(score.value if score else None),
                    sample_count=score.sample_count if score else 0,
                    enough_data=score.enough_data if score else False,
                    last_activity=last,
                    server_active=user.has_active_server,
                    recently_active=(
                        user.has_active_server
                        and last is not None
                        and now - last <= self.policy.inactive_after
                    ),
                )
            )
        return rows

    async def reset(self) -> int:
        """Delete every sample and tally; returns how many samples went."""
        try:
            return await self._store.reset()
        finally:
            self.revision += 1

    async def history(
        self, start: date, end: date, *, usernames: Collection[str] | None = None
    ) -> UsageHistory:
        """Daily active hours over a range inside the retention window (UTC days).

        Raises InvalidValue naming "start" or "end" for a range the samples do not cover.
        """
        first, last = history_range(start, end, today=self._clock.now().date(), policy=self.policy)
        days = await self._store.daily_activity(since=first, until=last, usernames=usernames)
        return UsageHistory(first, last, tuple(daily_hours(days, self.policy)))

    async def summary(self) -> ActivityStoreSummary:
        return await self._store.summary()
