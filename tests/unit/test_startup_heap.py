"""The hub's start-up objects are kept out of garbage collection (a full collection walking a
quarter of a million long-lived objects stalls the hub for hundreds of milliseconds)."""

from __future__ import annotations

import gc

from stellars.adapters.jupyterhub.extension import freeze_startup_heap


def test_everything_alive_at_start_is_frozen_and_later_objects_are_not():
    try:
        frozen = freeze_startup_heap()
        assert frozen == gc.get_freeze_count() > 10_000  # at least this test run's modules
        later = [[index] for index in range(1000)]
        assert gc.is_tracked(later)
        assert gc.get_freeze_count() == frozen
        gc.collect()  # later objects are collected as usual: they move up the generations
        assert any(obj is later for obj in gc.get_objects(generation=2))
    finally:
        gc.unfreeze()  # leave the test process as it was
