"""Values between the domain and the stored columns, shared by the stores.

Times are stored as naive UTC (as the original platform stored them): a domain time is checked
to be timezone-aware before it loses its zone, and a stored time gets UTC back on the way out.
Lists of keys go to the database in chunks small enough for every SQLite build.

The hot paths (thousands of rows per tick) talk to the driver directly: `StoredTimes` converts
times exactly as the column type would, once per distinct instant, and `driver_statement`
writes a statement in the driver's own placeholders for an executemany of plain tuples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect

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


def driver_statement(dialect: Dialect, template: str) -> str:
    """`template` with each `?` written as the driver's positional placeholder (psycopg: %s)."""
    if dialect.paramstyle == "qmark":
        return template
    if dialect.paramstyle in {"format", "pyformat"}:
        return template.replace("?", "%s")
    raise ValueError(f"unsupported driver parameter style {dialect.paramstyle!r}")


class StoredTimes:
    """Times between the domain (aware UTC) and a naive UTC DateTime column as the driver sees
    it (SQLite: text), converted by the column type's own processors and remembered: the samples
    of a tick share one instant, and so do most tallies' anchors, so each distinct instant is
    converted once per use of this object (one transaction), not once per row."""

    def __init__(self, dialect: Dialect) -> None:
        column_type = DateTime().dialect_impl(dialect)
        self._to_driver: Callable[[Any], Any] = column_type.bind_processor(dialect) or _as_is
        self._from_driver: Callable[[Any], Any] = (
            column_type.result_processor(dialect, None) or _as_is
        )
        self._aware: dict[Any, datetime] = {}
        self._stored: dict[datetime, Any] = {}

    def aware(self, stored: Any) -> datetime:
        """A value the driver returned for the column, as an aware UTC datetime."""
        found = self._aware.get(stored)
        if found is None:
            found = self._aware[stored] = self._from_driver(stored).replace(tzinfo=UTC)
        return found

    def stored(self, value: datetime, field: str) -> Any:
        """An aware datetime as the driver takes it for the column; naive input is refused as
        `field` (a naive datetime never equals an aware one, so it never hits the memo)."""
        found = self._stored.get(value)
        if found is None:
            found = self._stored[value] = self._to_driver(naive_utc(value, field))
        return found


def _as_is(value: Any) -> Any:
    """What a driver that takes and returns datetimes (psycopg) needs done to them."""
    return value
