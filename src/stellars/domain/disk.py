"""The host's free disk for the container engine's data directory, as an admin reads it.

Every image layer, every container's writable layer and every named volume (the users' homes
among them) lives in the engine's data directory (`docker info`'s `DockerRootDir`), so when its
filesystem fills up, labs fail to start or to save. A measurement is the filesystem's size and
the space an ordinary process may still write (statfs's blocks available to non-root, what `df`
calls "Available"); the rule turns it into words and a state:

- the free share is free / total, shown in per mille and written with one decimal, rounded
  down ("9.5 %"), so the text never shows 10.0 % for a disk that is low;
- low: less than `LOW_DISK_PERCENT` (10) per cent of the filesystem is free, computed exactly
  on the byte counts (free * 100 < percent * total); ok otherwise;
- unknown: nothing was measured, with the reason the port gave ("unknown: <reason>").

    report = assess_disk(measurement)
    report.text   # "38 GiB free of 400 GiB (9.5 %): low, under 10 % free"
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .errors import InvalidValue
from .limits import describe_bytes
from .validation import echo

#: Under this share of the data directory's filesystem free, the admin pages warn.
LOW_DISK_PERCENT = 10


def _whole(name: str, value: object, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InvalidValue(name, f"must be a whole number of at least {least}, got {echo(value)}")


@dataclass(frozen=True, slots=True)
class DiskSpace:
    """One filesystem's size and the bytes still free for ordinary writers. A filesystem of no
    size cannot be judged (some pseudo filesystems report 0 blocks): its total must be at least
    one byte, and the free bytes between 0 and the total."""

    total_bytes: int
    free_bytes: int

    def __post_init__(self) -> None:
        _whole("total_bytes", self.total_bytes, 1)
        _whole("free_bytes", self.free_bytes, 0)
        if self.free_bytes > self.total_bytes:
            raise InvalidValue(
                "free_bytes",
                f"must not exceed the total of {self.total_bytes}, got {self.free_bytes}",
            )


@dataclass(frozen=True, slots=True)
class DiskMeasurement:
    """What a measurement found: the directory measured (empty when not even that is known)
    and its filesystem's space, or no space and the reason why."""

    path: str = ""
    space: DiskSpace | None = None
    reason: str = ""

    @staticmethod
    def unknown(reason: str, path: str = "") -> DiskMeasurement:
        return DiskMeasurement(path, None, reason)


class DiskState(Enum):
    OK = "ok"
    LOW = "low"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class DiskReport:
    """A measurement judged: its state, the free share in per mille (None when unknown) and
    the words the admin pages show."""

    measurement: DiskMeasurement
    state: DiskState
    free_permille: int | None
    text: str

    @property
    def free_percent(self) -> float | None:
        """The free share in per cent, one decimal, rounded down (None when unknown)."""
        return None if self.free_permille is None else self.free_permille / 10


def assess_disk(measurement: DiskMeasurement, low_percent: int = LOW_DISK_PERCENT) -> DiskReport:
    """The state and words for `measurement`, low under `low_percent` (1 to 99) per cent free."""
    if isinstance(low_percent, bool) or not isinstance(low_percent, int):
        raise InvalidValue("low_percent", f"must be a whole number, got {echo(low_percent)}")
    if not 1 <= low_percent <= 99:
        raise InvalidValue("low_percent", f"must be between 1 and 99, got {low_percent}")
    space = measurement.space
    if space is None:
        reason = measurement.reason.strip()
        text = f"unknown: {reason}" if reason else "unknown"
        return DiskReport(measurement, DiskState.UNKNOWN, None, text)
    permille = space.free_bytes * 1000 // space.total_bytes
    low = space.free_bytes * 100 < low_percent * space.total_bytes
    text = (
        f"{describe_bytes(space.free_bytes)} free of {describe_bytes(space.total_bytes)} "
        f"({permille // 10}.{permille % 10} %)"
    )
    if low:
        return DiskReport(
            measurement, DiskState.LOW, permille, f"{text}: low, under {low_percent} % free"
        )
    return DiskReport(measurement, DiskState.OK, permille, text)
