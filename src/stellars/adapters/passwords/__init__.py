"""Passphrases from xkcdpass's word lists."""

from .xkcd import XkcdPasswordGenerator

__all__ = ["XkcdPasswordGenerator"]
