"""Translate JupyterHub REST API models (JSON) into the domain's HubUser and ServerSnapshot."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from stellars.domain.errors import BackendUnavailable
from stellars.domain.hub import HubUser, ServerSnapshot
from stellars.domain.timeutil import assume_utc

# JupyterHub writes `2026-01-01T12:00:00.123456Z`; other writers (or Python 3.10's stricter
# `fromisoformat`) differ in the fraction's digits and in Z versus +00:00.
_TIMESTAMP = re.compile(
    r"^(?P<base>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?)"
    r"(?:\.(?P<fraction>\d+))?"
    r"(?P<zone>Z|z|[+-]\d{2}:?\d{2})?$"
)


def parse_timestamp(value: object) -> datetime | None:
    """An ISO 8601 timestamp as an aware UTC datetime; None stays None (naive means UTC)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    match = _TIMESTAMP.match(value.strip())
    if match is None:
        raise ValueError(f"not an ISO 8601 timestamp: {value!r}")
    text = match["base"]
    if match["fraction"]:
        text += "." + match["fraction"][:6].ljust(6, "0")
    zone = match["zone"]
    if zone and zone not in {"Z", "z"}:
        text += zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not a valid timestamp: {value!r} ({exc})") from exc
    return assume_utc(parsed)


def server_from_model(username: str, model: Mapping[str, Any]) -> ServerSnapshot:
    """One entry of a user model's `servers` (JupyterHub lists running and pending ones)."""
    return ServerSnapshot(
        username=username,
        name=str(model.get("name") or ""),
        ready=bool(model.get("ready", False)),
        pending=model.get("pending") or None,
        started=parse_timestamp(model.get("started")),
        last_activity=parse_timestamp(model.get("last_activity")),
        url=model.get("url"),
    )


def user_from_model(model: Mapping[str, Any]) -> HubUser:
    """A user model of `GET /users` or `GET /users/NAME` as a HubUser.

    Raises BackendUnavailable when the model is not what JupyterHub sends (a hub this adapter
    cannot read is as good as an unreachable one to its callers).
    """
    try:
        name = model["name"]
        if not isinstance(name, str):
            raise TypeError(f"user name is not a string: {name!r}")
        servers = model.get("servers") or {}
        return HubUser(
            name=name,
            admin=bool(model.get("admin", False)),
            groups=frozenset(model.get("groups") or ()),
            servers={
                key: server_from_model(name, {"name": key, **server})
                for key, server in servers.items()
            },
            last_activity=parse_timestamp(model.get("last_activity")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BackendUnavailable(f"unexpected user model from the hub API: {exc}") from exc
