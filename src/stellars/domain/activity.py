"""Activity: samples of server activity, their exponential-decay score, and activity levels.

A sample records, at `taken_at`, the last activity of the user's running server. The sample
is active when that server activity is within `inactive_after` of the sample time (the user's
own last_activity moves on every hub page view, so it is never used).

Score over the samples in (now - retention, now]: each weighs w = 2^(-age / half_life);
score = floor(100 * sum(w * active) / sum(w)); no samples gives None.

The ends follow the exact arithmetic of that definition, not the floats that compute it. Every
weight is positive, so:
- a window whose samples are all active scores 100, and one with no active sample scores 0;
- a window holding at least one inactive sample scores at most 99, however little that sample
  weighs. Floats alone would say 100: next to newer active samples the weight of an inactive
  one 364 days old (2^-121 at the default half-life of 72 h) vanishes from the sum, and one
  40 h old at a half-life of 1 h (2^-40) leaves a share that the rounding tolerance lifts to
  100. "100" means "active at every sample", and an idle sample is still in the window;
- there is no such floor at the other end, on purpose: a window holding active samples scores
  0 when they make up less than 1 % of the weight, exactly as floor() of the definition says
  (one active sample in two hundred of equal weight, or one whose weight vanishes next to
  newer inactive ones). A floor at 1 would make the two directions look alike, but it would
  contradict the definition for shares it computes exactly, and level "none" is what a user
  active for under 1 % of the weighted window should see.
The counts of active and inactive samples decide these ends, in the definition and in the fast
path alike, so both give the same integer.

Usage history: per user and UTC day, how many samples were taken and how many were active
(`DailyActivity`); each active sample stands for one sample interval of work (`daily_hours`).

`DecayedTally` is the fast path: per-user sums kept relative to an anchor instant, so a store
can maintain them on insert and prune and never rescan samples for a report. The ratio of two
sums relative to the same anchor does not depend on the anchor, which is why this works; a
property test proves the tally and the definition give the same integer score.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from types import MappingProxyType
from typing import ClassVar

from .errors import InvalidValue
from .validation import Bounds, check_bounds, whole_number

SECONDS_PER_DAY = 86_400
SECONDS_PER_HOUR = 3_600

# Float sums of powers of two land a hair below an exact integer percentage (0.5 -> 49.999...);
# without this tolerance the same history could floor to two different scores.
_FLOOR_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityPolicy:
    """The activity knobs, in the units admins configure them in, with their valid ranges."""

    LIMITS: ClassVar[Mapping[str, Bounds]] = MappingProxyType(
        {
            "retention_days": (1, 365),
            "half_life_hours": (1, 168),
            "inactive_after_minutes": (1, 1440),
            "sample_interval_seconds": (60, 86_400),
            "target_hours": (1, 24),
        }
    )

    retention_days: int = 7
    half_life_hours: int = 72
    inactive_after_minutes: int = 60
    sample_interval_seconds: int = 600
    target_hours: int = 8

    def __post_init__(self) -> None:
        check_bounds(self, self.LIMITS)

    @property
    def retention(self) -> timedelta:
        return timedelta(days=self.retention_days)

    @property
    def half_life(self) -> timedelta:
        return timedelta(hours=self.half_life_hours)

    @property
    def inactive_after(self) -> timedelta:
        return timedelta(minutes=self.inactive_after_minutes)

    @property
    def sample_interval(self) -> timedelta:
        return timedelta(seconds=self.sample_interval_seconds)

    @property
    def samples_per_day(self) -> int:
        """How many samples make 24 hours of data at this interval."""
        return math.ceil(SECONDS_PER_DAY / self.sample_interval_seconds)


@dataclass(frozen=True, slots=True)
class ActivitySample:
    """One observation: at `taken_at`, the user's running server last saw activity at ..."""

    username: str
    taken_at: datetime
    server_last_activity: datetime | None


@dataclass(frozen=True, slots=True)
class RecordedSample:
    """A sample as stored: the activity verdict is fixed when it is taken."""

    username: str
    taken_at: datetime
    active: bool
    server_last_activity: datetime | None = None


def is_active(sample: ActivitySample, policy: ActivityPolicy) -> bool:
    """Active when the server's last activity lies within `inactive_after` of the sample time."""
    if sample.server_last_activity is None:
        return False
    return sample.taken_at - sample.server_last_activity <= policy.inactive_after


def classify(sample: ActivitySample, policy: ActivityPolicy) -> RecordedSample:
    """Fix the activity verdict of a sample for storage."""
    return RecordedSample(
        username=sample.username,
        taken_at=sample.taken_at,
        active=is_active(sample, policy),
        server_last_activity=sample.server_last_activity,
    )


def retention_cutoff(now: datetime, policy: ActivityPolicy) -> datetime:
    """Samples taken at or before this instant are outside the window and may be pruned."""
    return now - policy.retention


def in_window(taken_at: datetime, *, now: datetime, policy: ActivityPolicy) -> bool:
    """Whether a sample time lies in the scoring window (now - retention, now]."""
    return retention_cutoff(now, policy) < taken_at <= now


def decay_weight(age: timedelta, half_life: timedelta) -> float:
    """2^(-age / half_life): 1 now, 1/2 one half-life ago (negative ages weigh more than 1)."""
    return 2.0 ** (-(age / half_life))


def percent_from_weights(active_weight: float, total_weight: float) -> int:
    """floor(100 * active / total), clamped to [0, 100], tolerant of float rounding."""
    if total_weight <= 0.0:
        return 0
    value = math.floor(100.0 * active_weight / total_weight + _FLOOR_TOLERANCE)
    return max(0, min(100, value))


@dataclass(frozen=True, slots=True)
class ActivityScore:
    """A user's score (None without samples), how many samples it rests on, and whether they
    cover a day (the dashboard withholds the number until then)."""

    value: int | None
    sample_count: int
    enough_data: bool


def score_samples(
    samples: Iterable[RecordedSample], *, now: datetime, policy: ActivityPolicy
) -> ActivityScore:
    """The definition: weigh every in-window sample by its age and take the active share.

    Weights are taken relative to the newest sample in the window, which leaves their ratio
    unchanged but keeps them from underflowing to zero: with a year of retention and a one-hour
    half-life, 2^(-age / half_life) of a month-old sample is below the smallest float.
    """
    window = [s for s in samples if in_window(s.taken_at, now=now, policy=policy)]
    if not window:
        return _score(0, 0, 0.0, 0.0, policy)
    newest = max(sample.taken_at for sample in window)
    total = 0.0
    active = 0.0
    active_count = 0
    for sample in window:
        weight = decay_weight(newest - sample.taken_at, policy.half_life)
        total += weight
        if sample.active:
            active += weight
            active_count += 1
    return _score(len(window), active_count, active, total, policy)


def _score(
    count: int, active_count: int, active: float, total: float, policy: ActivityPolicy
) -> ActivityScore:
    if count == 0:
        return ActivityScore(value=None, sample_count=0, enough_data=False)
    if active_count == 0:
        value = 0
    elif active_count == count:
        value = 100
    else:
        # An inactive sample is in the window: its weight is positive, so the exact share is
        # below 100 % even when the float sums (or the floor's tolerance) say otherwise.
        value = min(percent_from_weights(active, total), 99)
    return ActivityScore(
        value=value, sample_count=count, enough_data=count >= policy.samples_per_day
    )


@dataclass(frozen=True, slots=True)
class DecayedTally:
    """Running sums of sample weights relative to `anchor` (the newest sample time).

    total_weight = sum(2^((t_i - anchor) / half_life)) over the tallied samples, and
    active_weight the same over the active ones. Scores only need their ratio.
    """

    anchor: datetime | None = None
    total_weight: float = 0.0
    active_weight: float = 0.0
    count: int = 0
    active_count: int = 0

    def add(self, taken_at: datetime, active: bool, half_life: timedelta) -> DecayedTally:
        """The tally with one more sample; the anchor moves forward to the newest sample."""
        if self.anchor is None or self.count == 0:
            return DecayedTally(
                anchor=taken_at,
                total_weight=1.0,
                active_weight=1.0 if active else 0.0,
                count=1,
                active_count=1 if active else 0,
            )
        if taken_at > self.anchor:
            shrink = decay_weight(taken_at - self.anchor, half_life)
            total = self.total_weight * shrink + 1.0
            active_weight = self.active_weight * shrink + (1.0 if active else 0.0)
            anchor = taken_at
        else:
            weight = decay_weight(self.anchor - taken_at, half_life)
            total = self.total_weight + weight
            active_weight = self.active_weight + (weight if active else 0.0)
            anchor = self.anchor
        return DecayedTally(
            anchor=anchor,
            total_weight=total,
            active_weight=active_weight,
            count=self.count + 1,
            active_count=self.active_count + (1 if active else 0),
        )

    def remove(self, taken_at: datetime, active: bool, half_life: timedelta) -> DecayedTally:
        """The tally without one sample that was previously added."""
        if self.anchor is None or self.count == 0:
            raise InvalidValue("tally", "cannot remove a sample from an empty tally")
        if active and self.active_count == 0:
            raise InvalidValue("tally", "cannot remove an active sample: none was added")
        count = self.count - 1
        active_count = self.active_count - (1 if active else 0)
        if count == 0:
            return DecayedTally()
        weight = decay_weight(self.anchor - taken_at, half_life)
        total = max(self.total_weight - weight, 0.0)
        active_weight = max(self.active_weight - weight, 0.0) if active else self.active_weight
        # Exact endpoints stay exact: subtraction must not leave residue in an all-or-nothing tally.
        if active_count == 0:
            active_weight = 0.0
        elif active_count == count:
            active_weight = total
        return DecayedTally(
            anchor=self.anchor,
            total_weight=total,
            active_weight=active_weight,
            count=count,
            active_count=active_count,
        )

    def merge(self, other: DecayedTally, half_life: timedelta) -> DecayedTally:
        """One tally holding the samples of both (used when a user is renamed onto another)."""
        if other.count == 0 or other.anchor is None:
            return self
        if self.count == 0 or self.anchor is None:
            return other
        anchor = max(self.anchor, other.anchor)
        mine = decay_weight(anchor - self.anchor, half_life)
        theirs = decay_weight(anchor - other.anchor, half_life)
        return DecayedTally(
            anchor=anchor,
            total_weight=self.total_weight * mine + other.total_weight * theirs,
            active_weight=self.active_weight * mine + other.active_weight * theirs,
            count=self.count + other.count,
            active_count=self.active_count + other.active_count,
        )

    def score(self, policy: ActivityPolicy) -> ActivityScore:
        """The score of the tallied samples; equal to `score_samples` over the same samples."""
        return _score(self.count, self.active_count, self.active_weight, self.total_weight, policy)


def tally_samples(samples: Iterable[RecordedSample], half_life: timedelta) -> DecayedTally:
    """Fold samples into a tally (no window filter: the caller chooses the samples)."""
    tally = DecayedTally()
    for sample in samples:
        tally = tally.add(sample.taken_at, sample.active, half_life)
    return tally


@dataclass(frozen=True, slots=True)
class ActivityStoreSummary:
    """How many samples a store holds, for how many users."""

    samples: int
    users: int


@dataclass(frozen=True, slots=True)
class DailyActivity:
    """A user's samples on one UTC day: how many were taken, and how many were active."""

    username: str
    day: date
    active_samples: int
    samples: int

    def __post_init__(self) -> None:
        _require_day("day", self.day)
        whole_number("samples", self.samples, 1)
        whole_number("active_samples", self.active_samples, 0, self.samples)


@dataclass(frozen=True, slots=True)
class DailyHours:
    """A user's active hours on one UTC day: a row of the usage history."""

    username: str
    day: date
    hours: float


def active_hours(active_samples: int, policy: ActivityPolicy) -> float:
    """Hours of work that many active samples stand for (one sample interval each), rounded
    half up to 2 decimals in exact integer arithmetic."""
    seconds = active_samples * policy.sample_interval_seconds
    hundredths = (2 * 100 * seconds + SECONDS_PER_HOUR) // (2 * SECONDS_PER_HOUR)
    return hundredths / 100


def daily_hours(days: Iterable[DailyActivity], policy: ActivityPolicy) -> list[DailyHours]:
    """Active hours per user and day, in the order given."""
    return [
        DailyHours(day.username, day.day, active_hours(day.active_samples, policy)) for day in days
    ]


def first_history_day(today: date, policy: ActivityPolicy) -> date:
    """The oldest UTC day inside the retention window: today - retention_days + 1."""
    return today - timedelta(days=policy.retention_days - 1)


def history_range(
    start: date, end: date, *, today: date, policy: ActivityPolicy
) -> tuple[date, date]:
    """A requested range of usage history (both days inclusive, UTC), checked: start not after
    end, end not after today, start not before the first day the retention window still
    covers. Returns (start, end)."""
    _require_day("start", start)
    _require_day("end", end)
    _require_day("today", today)
    if start > end:
        raise InvalidValue("start", f"must not be after end ({end}), got {start}")
    if end > today:
        raise InvalidValue("end", f"must not be after today ({today}), got {end}")
    first = first_history_day(today, policy)
    if start < first:
        raise InvalidValue(
            "start",
            f"must be {first} or later (samples are kept {policy.retention_days} days), "
            f"got {start}",
        )
    return start, end


def _require_day(field: str, value: object) -> None:
    # A datetime is a date too, but compares with neither dates nor days.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidValue(field, f"must be a date, got {value!r}")


class ActivityLevel(str, Enum):
    """Named bands of the score, used by the tick log and the dashboard."""

    VERY_HIGH = "very-high"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"
    VERY_LOW = "very-low"
    NONE = "none"


def activity_level(score: int | None) -> ActivityLevel:
    """very-high >= 80, high >= 60, normal >= 40, low >= 20, very-low > 0, else none."""
    if score is None or score <= 0:
        return ActivityLevel.NONE
    if score >= 80:
        return ActivityLevel.VERY_HIGH
    if score >= 60:
        return ActivityLevel.HIGH
    if score >= 40:
        return ActivityLevel.NORMAL
    if score >= 20:
        return ActivityLevel.LOW
    return ActivityLevel.VERY_LOW
