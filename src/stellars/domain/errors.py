"""Errors raised by the domain and by every implementation of a port.

Adapters translate their technology's exceptions into these, so callers (web handlers,
services) map one small hierarchy onto HTTP statuses instead of catching SDK errors.
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


class NotFound(StellarsError):
    """The thing asked for does not exist."""


class Conflict(StellarsError):
    """The request is valid but the current state forbids it (e.g. the server is running)."""


class Refused(StellarsError):
    """A policy says no; `reason` is a sentence a user can read."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BackendUnavailable(StellarsError):
    """A backend (Docker engine, database, proxy, hub API) could not be reached or timed out."""


class ContainerNotFound(NotFound):
    """No container exists under the expected name."""


class VolumeInUse(Conflict):
    """A volume is attached to a container and cannot be removed."""
