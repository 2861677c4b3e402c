from __future__ import annotations

from datetime import datetime, timezone


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)
