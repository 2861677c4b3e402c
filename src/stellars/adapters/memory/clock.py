from __future__ import annotations

from datetime import datetime, timedelta

from stellars.domain.timeutil import require_aware


class ManualClock:
    """A Clock that stands still until told to move."""

    def __init__(self, start: datetime) -> None:
        self.current = require_aware(start, "start")

    def now(self) -> datetime:
        return self.current

    def advance(self, by: timedelta) -> datetime:
        self.current += by
        return self.current

    def set(self, to: datetime) -> None:
        self.current = require_aware(to, "to")
