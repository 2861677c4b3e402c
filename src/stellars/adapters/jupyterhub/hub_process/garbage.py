"""Garbage collection in a long-running hub: its start-up heap kept out of the collector's way.

By the time the hub asks for its handlers, its modules, classes and configuration are loaded:
a quarter of a million objects that live as long as the process, and that every full
collection would otherwise walk again, holding every thread. They are frozen; objects made
later are collected as usual. Young collections are made rarer too, so that what a request
makes is mostly freed by reference counting before a collection sees it. The measurements
behind both choices: docs/decisions/0004.
"""

from __future__ import annotations

import gc

#: Net allocations between young-generation collections (CPython's default is 700).
YOUNG_COLLECTION_THRESHOLD = 10_000


def settle_garbage_collection() -> int:
    """Freeze what exists now and raise the young-generation threshold; returns how many
    objects were frozen."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, oldest)
    return gc.get_freeze_count()
