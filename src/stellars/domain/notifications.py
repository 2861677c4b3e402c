"""Admin broadcasts into running JupyterLab servers: validation, targets and the report."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from .errors import InvalidValue
from .hub import HubUser, ServerSnapshot, running_servers
from .validation import whole_number

MAX_MESSAGE_LENGTH = 140
DEFAULT_AUTO_CLOSE_MS = 5_000
MAX_AUTO_CLOSE_MS = 10 * 60 * 1000


class Variant(str, Enum):
    DEFAULT = "default"
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    ERROR = "error"
    IN_PROGRESS = "in-progress"


VARIANT_NAMES = ", ".join(v.value for v in Variant)


@dataclass(frozen=True, slots=True, kw_only=True)
class Broadcast:
    """A validated broadcast.

    `message` is kept stripped; `auto_close_ms` None keeps the notification until it is
    dismissed; `recipients` None means every running server, otherwise at least one username
    (duplicates dropped, order kept).
    """

    message: str
    variant: Variant = Variant.INFO
    auto_close_ms: int | None = None
    recipients: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.message, str):
            raise InvalidValue("message", "must be a string")
        message = self.message.strip()
        if not message:
            raise InvalidValue("message", "must not be empty")
        if len(message) > MAX_MESSAGE_LENGTH:
            raise InvalidValue(
                "message", f"must be at most {MAX_MESSAGE_LENGTH} characters, got {len(message)}"
            )
        object.__setattr__(self, "message", message)
        if not isinstance(self.variant, Variant):
            raise InvalidValue("variant", f"must be one of: {VARIANT_NAMES}")
        if self.auto_close_ms is not None:
            whole_number("autoClose", self.auto_close_ms, 1, MAX_AUTO_CLOSE_MS)
        if self.recipients is not None:
            names = self.recipients
            if not isinstance(names, tuple) or not all(isinstance(n, str) for n in names):
                raise InvalidValue("recipients", "must be a list of usernames")
            if not names:
                raise InvalidValue(
                    "recipients", "must name at least one user; leave it out to reach every server"
                )
            object.__setattr__(self, "recipients", tuple(dict.fromkeys(names)))


@dataclass(frozen=True, slots=True)
class TargetResolution:
    """Servers to deliver to, and named recipients that cannot be reached (reported, not lost)."""

    targets: tuple[ServerSnapshot, ...]
    unknown: tuple[str, ...] = ()
    not_running: tuple[str, ...] = ()


def resolve_targets(broadcast: Broadcast, users: Iterable[HubUser]) -> TargetResolution:
    """Every running server of the recipients (or of everyone), in username order."""
    by_name = {user.name: user for user in users}
    if broadcast.recipients is None:
        names: Sequence[str] = sorted(by_name)
    else:
        names = broadcast.recipients
    targets: list[ServerSnapshot] = []
    unknown: list[str] = []
    not_running: list[str] = []
    for name in names:
        user = by_name.get(name)
        if user is None:
            unknown.append(name)
            continue
        running = running_servers([user])
        if not running:
            if broadcast.recipients is not None:
                not_running.append(name)
            continue
        targets.extend(running)
    return TargetResolution(tuple(targets), tuple(unknown), tuple(not_running))


@dataclass(frozen=True, slots=True)
class Delivery:
    """The result of delivering to one server."""

    username: str
    server_name: str
    ok: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class BroadcastReport:
    deliveries: tuple[Delivery, ...]
    unknown: tuple[str, ...] = ()
    not_running: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return len(self.deliveries)

    @property
    def successful(self) -> int:
        return sum(1 for d in self.deliveries if d.ok)

    @property
    def failed(self) -> int:
        return self.total - self.successful

    @property
    def message(self) -> str:
        if not self.deliveries:
            text = "No running servers to notify"
        else:
            text = f"Delivered to {self.successful} of {self.total} server(s)"
        skipped = []
        if self.unknown:
            skipped.append(f"unknown users: {', '.join(self.unknown)}")
        if self.not_running:
            skipped.append(f"not running: {', '.join(self.not_running)}")
        return text + (f" ({'; '.join(skipped)})" if skipped else "")


def summarize(deliveries: Iterable[Delivery], resolution: TargetResolution) -> BroadcastReport:
    """Aggregate per-server results, keeping the unreachable recipients in the report."""
    return BroadcastReport(tuple(deliveries), resolution.unknown, resolution.not_running)
