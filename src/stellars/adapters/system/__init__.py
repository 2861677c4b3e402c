"""The operating system's clock, and the disk of a directory of this machine."""

from .clock import SystemClock
from .disk import DirectoryDisk

__all__ = ["DirectoryDisk", "SystemClock"]
