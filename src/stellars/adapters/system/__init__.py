"""The operating system's clock."""

from .clock import SystemClock

__all__ = ["SystemClock"]
