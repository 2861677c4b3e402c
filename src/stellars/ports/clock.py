from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """The only source of "now" for domain services."""

    def now(self) -> datetime:
        """The current instant as a timezone-aware UTC datetime."""
        ...
