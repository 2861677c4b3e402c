"""HostDisk for a directory of this machine, measured with statvfs: the disk of local servers'
homes when user servers run as local processes (there is no engine data directory then)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from stellars.domain.disk import DiskMeasurement, DiskSpace
from stellars.domain.errors import InvalidValue


class DirectoryDisk:
    """Measures the filesystem of `path` on this machine with `statvfs` (the operating
    system's; tests pass one that misbehaves), off the event loop, within `timeout_seconds` (a
    hung network filesystem is a reason, not a hang). Total: fragment size times blocks; free:
    the blocks available to non-root. Never raises."""

    def __init__(
        self,
        path: str,
        *,
        timeout_seconds: float = 10.0,
        statvfs: Callable[[str], os.statvfs_result] = os.statvfs,
    ) -> None:
        self.path = path
        self.timeout_seconds = timeout_seconds
        self._statvfs = statvfs

    async def measure(self) -> DiskMeasurement:
        try:
            stat = await asyncio.wait_for(
                asyncio.to_thread(self._statvfs, self.path), self.timeout_seconds
            )
        except asyncio.TimeoutError:
            return DiskMeasurement.unknown(
                f"statvfs did not answer within {self.timeout_seconds:g} s", self.path
            )
        except OSError as exc:
            return DiskMeasurement.unknown(
                f"cannot measure {self.path}: {exc.strerror or exc}", self.path
            )
        except Exception as exc:  # the port promises a measurement, whatever went wrong
            return DiskMeasurement.unknown(
                f"cannot measure {self.path}: {type(exc).__name__}: {exc}", self.path
            )
        try:
            space = DiskSpace(
                total_bytes=stat.f_frsize * stat.f_blocks,
                free_bytes=stat.f_frsize * stat.f_bavail,
            )
        except InvalidValue as exc:
            return DiskMeasurement.unknown(
                f"the filesystem of {self.path} reports {exc.field} {exc.message}", self.path
            )
        except (AttributeError, TypeError) as exc:
            return DiskMeasurement.unknown(f"unreadable statvfs answer: {exc}", self.path)
        return DiskMeasurement(self.path, space)
