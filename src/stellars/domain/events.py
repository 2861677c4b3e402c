"""Platform events: what the managed services do in their own processes (a sampler tick, a cull
by the idle culler), recorded in an event log so that the hub can count them for its metrics.

An event is a kind ("sampler-tick", "cull"), when it happened (aware, kept in UTC), an outcome
("ok", "failed", or a cull's reason: "idle", "deadline", "max-age"), an optional duration in
seconds, and the id the log assigns when it records it (0 before). Ids only grow: a reader asks
for the events after the last id it has seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from .errors import InvalidValue
from .timeutil import require_aware
from .validation import non_empty_text, whole_number

KIND_MAX_LENGTH = 32
OUTCOME_MAX_LENGTH = 64

SAMPLER_TICK = "sampler-tick"
CULL = "cull"


@dataclass(frozen=True, slots=True)
class PlatformEvent:
    """Something a platform process did; `at` is normalised to UTC."""

    kind: str
    at: datetime
    outcome: str
    seconds: float = 0.0
    id: int = 0

    def __post_init__(self) -> None:
        _label("kind", self.kind, KIND_MAX_LENGTH)
        _label("outcome", self.outcome, OUTCOME_MAX_LENGTH)
        object.__setattr__(self, "at", require_aware(self.at, "at"))
        seconds = self.seconds
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise InvalidValue("seconds", f"must be a number, got {seconds!r}")
        if not math.isfinite(seconds) or seconds < 0:
            raise InvalidValue("seconds", f"must be a finite number >= 0, got {seconds!r}")
        object.__setattr__(self, "seconds", float(seconds))
        whole_number("id", self.id, 0)


def _label(field: str, value: object, max_length: int) -> None:
    text = non_empty_text(field, value)
    if len(text) > max_length:
        raise InvalidValue(field, f"must be at most {max_length} characters, got {len(text)}")
