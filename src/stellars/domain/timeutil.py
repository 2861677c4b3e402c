"""Small helpers for the timezone-aware UTC datetimes used throughout the domain."""

from __future__ import annotations

from datetime import datetime, timezone

from .errors import InvalidValue

UTC = timezone.utc


def require_aware(value: datetime, field: str) -> datetime:
    """Return `value` converted to UTC; naive datetimes are rejected (their zone is a guess)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(field, "must be a timezone-aware datetime")
    return value.astimezone(UTC)


def assume_utc(value: datetime) -> datetime:
    """Treat a naive datetime as UTC (JupyterHub's ORM and our SQL tables store naive UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
