"""Values between the domain and the stored columns, shared by the stores.

Times are stored as naive UTC (as the original platform stored them): a domain time is checked
to be timezone-aware before it loses its zone, and a stored time gets UTC back on the way out.
Lists of keys go to the database in chunks small enough for every SQLite build.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TypeVar

from stellars.domain.timeutil import UTC, require_aware

T = TypeVar("T")

# Keeps IN lists and executemany batches well under every SQLite build's variable limit.
CHUNK_SIZE = 500


def naive_utc(value: datetime, field: str) -> datetime:
    """`value` as the naive UTC a column stores; naive input is refused as `field`."""
    return require_aware(value, field).replace(tzinfo=None)


def aware(value: datetime) -> datetime:
    """A stored naive UTC time as the domain's aware one."""
    return value.replace(tzinfo=UTC)


def chunks(items: Sequence[T], size: int = CHUNK_SIZE) -> Iterable[Sequence[T]]:
    """`items` in consecutive slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
