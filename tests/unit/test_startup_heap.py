"""The hub's start-up objects are kept out of garbage collection (a full collection walking a
quarter of a million long-lived objects stalls the hub for hundreds of milliseconds), and young
collections are rarer, so short-lived objects are not promoted into full collections."""

from __future__ import annotations

import gc

from stellars.adapters.jupyterhub.hub_process.garbage import (
    YOUNG_COLLECTION_THRESHOLD,
    settle_garbage_collection,
)


def test_everything_alive_at_start_is_frozen_and_later_objects_are_not():
    thresholds = gc.get_threshold()
    try:
        frozen = settle_garbage_collection()
        assert frozen == gc.get_freeze_count() > 10_000  # at least this test run's modules
        later = [[index] for index in range(1000)]
        assert gc.is_tracked(later)
        assert gc.get_freeze_count() == frozen
        gc.collect()  # later objects are collected as usual: they move up the generations
        assert any(obj is later for obj in gc.get_objects(generation=2))
    finally:
        gc.unfreeze()  # leave the test process as it was
        gc.set_threshold(*thresholds)


def test_young_collections_wait_for_more_allocations_and_the_older_ones_keep_their_pace():
    thresholds = gc.get_threshold()
    try:
        settle_garbage_collection()
        assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, *thresholds[1:])
        assert thresholds[0] < YOUNG_COLLECTION_THRESHOLD
        gc.collect()
        before = gc.get_stats()[0]["collections"]
        survivors = [[index] for index in range(YOUNG_COLLECTION_THRESHOLD // 2)]
        assert gc.get_stats()[0]["collections"] == before  # CPython's default would have run
        del survivors
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
