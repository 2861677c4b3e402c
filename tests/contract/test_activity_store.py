"""Contract of the ActivityStore port."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stellars.adapters.memory import InMemoryActivityStore
from stellars.domain.activity import ActivityPolicy, RecordedSample, score_samples
from tests.strategies import EPOCH, durations

POLICY = ActivityPolicy()
NOW = EPOCH + timedelta(days=30)
WINDOW = {"since": NOW - POLICY.retention, "until": NOW}


@pytest.fixture(params=["memory"])
def store(request):
    """A fresh, empty store built for POLICY's half-life, one per implementation."""
    if request.param == "memory":
        return InMemoryActivityStore(half_life=POLICY.half_life)
    raise AssertionError(request.param)


def at(hours_ago: float, user: str = "alice", active: bool = True) -> RecordedSample:
    return RecordedSample(user, NOW - timedelta(hours=hours_ago), active, None)


async def test_an_empty_store_has_no_tallies_and_says_so(store):
    assert await store.tallies(**WINDOW) == {}
    summary = await store.summary()
    assert (summary.samples, summary.users, summary.text) == (0, 0, "No samples yet")


async def test_added_samples_are_tallied_per_user(store):
    await store.add([at(1), at(2, active=False), at(1, user="bob")])
    tallies = await store.tallies(**WINDOW)
    assert set(tallies) == {"alice", "bob"}
    assert (tallies["alice"].count, tallies["alice"].active_count) == (2, 1)
    assert (await store.summary()).text == "3 samples for 2 users"


async def test_samples_come_back_oldest_first_within_the_window(store):
    await store.add([at(1), at(5), at(24 * 8)])
    got = await store.samples("alice", **WINDOW)
    assert [s.taken_at for s in got] == [NOW - timedelta(hours=5), NOW - timedelta(hours=1)]
    assert all(s.active for s in got)


async def test_tallies_only_count_the_window(store):
    await store.add([at(1), at(24 * 7), at(24 * 7 + 1), at(-1)])
    tallies = await store.tallies(**WINDOW)
    assert tallies["alice"].count == 1


async def test_prune_removes_samples_at_or_before_the_cutoff_in_batches(store):
    await store.add([at(h) for h in range(0, 30)])
    cutoff = NOW - timedelta(hours=10)
    assert await store.prune(older_than=cutoff, batch_size=7) == 20
    assert (await store.summary()).samples == 10
    assert await store.prune(older_than=cutoff) == 0
    tally = (await store.tallies(since=NOW - timedelta(days=1), until=NOW))["alice"]
    assert tally.count == 10


async def test_rename_moves_samples_and_merges_with_existing_ones(store):
    await store.add([at(1, user="old"), at(2, user="old", active=False), at(3, user="new")])
    assert await store.rename_user("old", "new") == 2
    tallies = await store.tallies(**WINDOW)
    assert set(tallies) == {"new"}
    assert (tallies["new"].count, tallies["new"].active_count) == (3, 2)


async def test_delete_user_and_reset(store):
    await store.add([at(1), at(2), at(1, user="bob")])
    assert await store.delete_user("alice") == 2
    assert set(await store.tallies(**WINDOW)) == {"bob"}
    assert await store.reset() == 1
    assert (await store.summary()).samples == 0


async def test_an_empty_batch_is_fine(store):
    await store.add([])
    assert (await store.summary()).samples == 0


@st.composite
def random_histories(draw):
    users = draw(st.lists(st.sampled_from(["ann", "bo", "cy"]), min_size=1, max_size=3))
    rows = []
    for _ in range(draw(st.integers(0, 40))):
        age = draw(durations(-timedelta(hours=2), POLICY.retention * 1.3))
        rows.append(RecordedSample(draw(st.sampled_from(users)), NOW - age, draw(st.booleans())))
    prune_at = draw(st.one_of(st.none(), durations(POLICY.retention * 0.5, POLICY.retention * 1.5)))
    return rows, prune_at


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=random_histories())
async def test_store_tallies_score_like_the_definition(store, case):
    """Same integer score and same count as `score_samples` over the stored window."""
    rows, prune_at = case
    await store.reset()
    await store.add(rows)
    if prune_at is not None:
        await store.prune(older_than=NOW - prune_at)
        rows = [r for r in rows if r.taken_at > NOW - prune_at]
    tallies = await store.tallies(**WINDOW)
    for user in {r.username for r in rows}:
        expected = score_samples([r for r in rows if r.username == user], now=NOW, policy=POLICY)
        got = (
            tallies[user].score(POLICY)
            if user in tallies
            else score_samples([], now=NOW, policy=POLICY)
        )
        assert got == expected
