"""The credential vault of the hub process: generated passphrases held in memory only."""

from .memory import ProcessMemoryVault

__all__ = ["ProcessMemoryVault"]
