"""Database URLs shown without their passwords, on the settings page, in the settings API and
in docs/configuration.md."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def mask_password(url: str) -> str:
    """A URL with the password of its user part replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
