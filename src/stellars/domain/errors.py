"""Errors raised by the domain and by every implementation of a port.

Adapters translate their technology's exceptions into these, so callers (web handlers,
services) map one small hierarchy onto HTTP statuses instead of catching SDK errors:
InvalidValue 400, Forbidden 403, NotFound 404, Conflict (and Refused) 409,
BackendUnavailable 503.
"""

from __future__ import annotations


class StellarsError(Exception):
    """Base of every error this package raises on purpose."""


class InvalidValue(StellarsError, ValueError):
    """A value broke a rule; `field` names the offending input so the message can point at it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Forbidden(StellarsError):
    """The caller may not do this (e.g. act for another user without admin rights)."""


class NotFound(StellarsError):
    """The thing asked for does not exist."""


class Conflict(StellarsError):
    """The request is valid but the current state forbids it (e.g. the server is running)."""


class Refused(Conflict):
    """A policy says no in the current state; `reason` is a sentence a user can read."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BackendUnavailable(StellarsError):
    """A backend (Docker engine, database, proxy, hub API) could not be reached or timed out."""


class ContainerNotFound(NotFound):
    """No container exists under the expected name."""


class VolumeInUse(Conflict):
    """A volume is attached to a container and cannot be removed."""
