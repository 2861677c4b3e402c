"""The JSON shapes more than one route writes: timestamps, durations, sizes, volumes, the
host's free disk.

Route modules import these instead of each other (an import-linter contract keeps the route
modules independent).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from stellars.domain.disk import LOW_DISK_PERCENT, DiskMeasurement, assess_disk
from stellars.domain.services import Snapshot, UserVolumes, UserVolumeState
from stellars.domain.volume_ownership import OrphanedVolume

MIB = 1024 * 1024


def iso(value: datetime | None) -> str | None:
    """JupyterHub's timestamp format: ISO 8601 in UTC with a Z."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def seconds(value: timedelta | None) -> int | None:
    """Whole seconds, as the original's fields count them."""
    return None if value is None else int(value.total_seconds())


def mebibytes(size: int | None) -> float | None:
    """Bytes as MiB with one decimal (the original's `*_mb` fields)."""
    return None if size is None else round(size / MIB, 1)


def volume_json(state: UserVolumeState) -> dict[str, Any]:
    """One volume of a user; `exists` and `owned` are null until the volumes were measured
    once; `owned` false: an earlier user of the same name left it (no size shown)."""
    return {
        "label": state.label,
        "name": state.name,
        "mount_point": state.mount_point,
        "exists": state.exists,
        "owned": state.owned,
        "size_bytes": state.size_bytes,
    }


def volumes_json(volumes: UserVolumes) -> list[dict[str, Any]]:
    return [volume_json(state) for state in volumes.volumes]


def orphan_json(orphan: OrphanedVolume) -> dict[str, Any]:
    """A volume named for a user that no current account owns."""
    return {
        "name": orphan.name,
        "label": orphan.label,
        "former_username": orphan.former_username,
        "reason": orphan.reason,
        "size_bytes": orphan.size_bytes,
        "created_at": iso(orphan.created_at),
    }


def host_disk_json(snapshot: Snapshot[DiskMeasurement], now: datetime) -> dict[str, Any]:
    """The free disk of the engine's data directory as the background measured it last: the
    state ("ok", "low" under `low_percent` per cent free, "unknown"), the bytes (null when
    unknown), the free share in per cent (one decimal, rounded down), the words the pages show,
    and how old the measurement is."""
    report = assess_disk(snapshot.value)
    space = report.measurement.space
    return {
        "path": report.measurement.path or None,
        "state": report.state.value,
        "total_bytes": None if space is None else space.total_bytes,
        "free_bytes": None if space is None else space.free_bytes,
        "free_percent": report.free_percent,
        "low_percent": LOW_DISK_PERCENT,
        "text": report.text,
        "age_seconds": seconds(snapshot.age(now)),
        "error": snapshot.error,
    }
