"""Contract of the ActivityStore port."""

from __future__ import annotations

import contextlib
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stellars.adapters.memory import InMemoryActivityStore
from stellars.adapters.sql import SqlActivityStore
from stellars.domain.activity import (
    ActivityPolicy,
    ActivityStoreSummary,
    DailyActivity,
    RecordedSample,
    score_samples,
)
from stellars.ports.activity_store import ActivityStore
from tests.contract.sql import SQL_KINDS, sql_database
from tests.strategies import EPOCH, durations

POLICY = ActivityPolicy()
NOW = EPOCH + timedelta(days=30)
WINDOW = {"since": NOW - POLICY.retention, "until": NOW}
# Small, so that the prunes of these tests span several transactions of the SQL store.
PRUNE_BATCH_SIZE = 7


@pytest.fixture(params=["memory", *SQL_KINDS])
def store(request, tmp_path):
    """A fresh, empty store built for POLICY's half-life, one per implementation (the SQL
    ones prune in batches of PRUNE_BATCH_SIZE)."""
    if request.param == "memory":
        yield InMemoryActivityStore(half_life=POLICY.half_life)
        return
    with sql_database(request, request.param, tmp_path) as database:
        yield SqlActivityStore(
            database, half_life=POLICY.half_life, prune_batch_size=PRUNE_BATCH_SIZE
        )


def at(hours_ago: float, user: str = "alice", active: bool = True) -> RecordedSample:
    return RecordedSample(user, NOW - timedelta(hours=hours_ago), active, None)


async def test_an_empty_store_has_no_tallies_and_an_empty_summary(store):
    assert await store.tallies(**WINDOW) == {}
    assert await store.summary() == ActivityStoreSummary(samples=0, users=0)


async def test_added_samples_are_tallied_per_user(store):
    await store.add([at(1), at(2, active=False), at(1, user="bob")])
    tallies = await store.tallies(**WINDOW)
    assert set(tallies) == {"alice", "bob"}
    assert (tallies["alice"].count, tallies["alice"].active_count) == (2, 1)
    assert await store.summary() == ActivityStoreSummary(samples=3, users=2)


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
    assert await store.prune(older_than=cutoff) == 20  # SQL: batches of 7 + 7 + 6
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


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
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


async def test_renaming_a_user_onto_itself_changes_nothing(store):
    await store.add([at(1), at(2, active=False)])
    assert await store.rename_user("alice", "alice") == 2
    tally = (await store.tallies(**WINDOW))["alice"]
    assert (tally.count, tally.active_count) == (2, 1)


async def test_samples_keep_the_server_activity_they_were_taken_with(store):
    seen = NOW - timedelta(minutes=5)
    await store.add([RecordedSample("alice", NOW, True, seen)])
    (got,) = await store.samples("alice", **WINDOW)
    assert got == RecordedSample("alice", NOW, True, seen)


_USERS = ["ann", "bo", "cy"]


@st.composite
def operation_sequences(draw):
    """Adds, prunes, renames and deletes in any order, then a window to score."""
    operations = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["add", "add", "prune", "rename", "delete"]))
        if kind == "add":
            batch = [
                RecordedSample(
                    draw(st.sampled_from(_USERS)),
                    NOW - draw(durations(-timedelta(hours=2), POLICY.retention * 1.3)),
                    draw(st.booleans()),
                )
                for _ in range(draw(st.integers(0, 12)))
            ]
            operations.append(("add", batch))
        elif kind == "prune":
            operations.append(("prune", NOW - draw(durations(timedelta(0), POLICY.retention))))
        elif kind == "rename":
            operations.append(
                ("rename", draw(st.sampled_from(_USERS)), draw(st.sampled_from(_USERS)))
            )
        else:
            operations.append(("delete", draw(st.sampled_from(_USERS))))
    until = NOW - draw(durations(-timedelta(hours=3), timedelta(days=2)))
    since = until - draw(durations(timedelta(hours=1), POLICY.retention * 1.2))
    return operations, since, until


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=operation_sequences())
async def test_tallies_stay_exact_through_any_sequence_of_operations(store, case):
    """Whatever happened before, tallies over any window score like the definition over a
    plain list that went through the same operations."""
    operations, since, until = case
    await store.reset()
    shadow: list[RecordedSample] = []
    for operation in operations:
        if operation[0] == "add":
            await store.add(operation[1])
            shadow.extend(operation[1])
        elif operation[0] == "prune":
            await store.prune(older_than=operation[1])
            shadow = [r for r in shadow if r.taken_at > operation[1]]
        elif operation[0] == "rename":
            _, old, new = operation
            await store.rename_user(old, new)
            shadow = [
                RecordedSample(new, r.taken_at, r.active) if r.username == old else r
                for r in shadow
            ]
        else:
            await store.delete_user(operation[1])
            shadow = [r for r in shadow if r.username != operation[1]]
    tallies = await store.tallies(since=since, until=until)
    window = [r for r in shadow if since < r.taken_at <= until]
    assert set(tallies) == {r.username for r in window}
    for user, tally in tallies.items():
        mine = [r for r in window if r.username == user]
        assert (tally.count, tally.active_count) == (len(mine), sum(r.active for r in mine))
        if since >= until - POLICY.retention:  # the definition scores (until - retention, until]
            assert tally.score(POLICY) == score_samples(mine, now=until, policy=POLICY)
    summary = await store.summary()
    assert (summary.samples, summary.users) == (len(shadow), len({r.username for r in shadow}))


# --- daily activity (usage history) ----------------------------------------------------------
# NOW is 2026-01-31 00:00 UTC.
JAN = {day: date(2026, 1, day) for day in range(27, 32)}


def on(day: int, hour: int, minute: int = 0, user: str = "alice", active: bool = True):
    return RecordedSample(user, datetime(2026, 1, day, hour, minute, tzinfo=timezone.utc), active)


async def test_daily_activity_counts_samples_per_user_and_utc_day(store):
    await store.add(
        [
            on(28, 23, 59, active=True),  # the day before the range
            on(29, 0, 0, active=True),  # the range's first instant
            on(29, 9, 30, active=False),
            RecordedSample(
                "alice", datetime(2026, 1, 29, 23, 59, 59, 999_999, tzinfo=timezone.utc), False
            ),
            on(30, 0, 0, active=True),
            on(30, 12, 0, active=True),
            on(30, 23, 50, active=False),
            on(30, 6, 0, user="bob", active=False),
            on(31, 0, 0, user="carol", active=True),  # the day after the range
        ]
    )
    got = await store.daily_activity(since=JAN[29], until=JAN[30])
    assert got == [
        DailyActivity("alice", JAN[29], active_samples=1, samples=3),
        DailyActivity("alice", JAN[30], active_samples=2, samples=3),
        DailyActivity("bob", JAN[30], active_samples=0, samples=1),
    ]
    assert await store.daily_activity(since=JAN[31], until=JAN[31]) == [
        DailyActivity("carol", JAN[31], active_samples=1, samples=1)
    ]
    assert await store.daily_activity(since=JAN[28], until=JAN[28]) == [
        DailyActivity("alice", JAN[28], active_samples=1, samples=1)
    ]


async def test_daily_activity_of_some_users_only(store):
    await store.add([on(29, 10), on(29, 11, user="bob"), on(30, 11, user="bob", active=False)])
    bob = await store.daily_activity(since=JAN[27], until=JAN[31], usernames={"bob", "nobody"})
    assert bob == [DailyActivity("bob", JAN[29], 1, 1), DailyActivity("bob", JAN[30], 0, 1)]
    assert await store.daily_activity(since=JAN[27], until=JAN[31], usernames=[]) == []
    assert await store.daily_activity(since=JAN[27], until=JAN[31], usernames=["nobody"]) == []


async def test_daily_activity_is_sorted_by_username_then_day_whatever_the_collation(store):
    names = ["bea", "Zed", "amy", "Amy", "_x", "b"]
    await store.add([on(day, 8, user=name) for name in names for day in (30, 29)])
    got = await store.daily_activity(since=JAN[29], until=JAN[30])
    assert [(d.username, d.day) for d in got] == [
        (name, JAN[day]) for name in sorted(names) for day in (29, 30)
    ]


async def test_daily_activity_puts_a_sample_on_its_utc_day(store):
    two_hours_east = timezone(timedelta(hours=2))
    await store.add(
        [RecordedSample("alice", datetime(2026, 1, 30, 1, tzinfo=two_hours_east), True)]
    )
    assert await store.daily_activity(since=JAN[29], until=JAN[30]) == [
        DailyActivity("alice", JAN[29], 1, 1)
    ]


async def test_daily_activity_of_an_empty_or_reversed_range(store):
    await store.add([on(29, 10)])
    assert await store.daily_activity(since=JAN[30], until=JAN[29]) == []
    assert await store.daily_activity(since=JAN[27], until=JAN[28]) == []


async def test_daily_activity_follows_prunes_renames_and_deletes(store):
    await store.add([on(28, 10), on(29, 10), on(29, 11, active=False), on(29, 12, user="bob")])
    await store.prune(older_than=datetime(2026, 1, 29, tzinfo=timezone.utc))
    await store.rename_user("alice", "ann")
    await store.delete_user("bob")
    assert await store.daily_activity(since=JAN[27], until=JAN[31]) == [
        DailyActivity("ann", JAN[29], 1, 2)
    ]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.builds(
            RecordedSample,
            st.sampled_from(_USERS),
            durations(timedelta(0), timedelta(days=5)).map(lambda age: NOW - age),
            st.booleans(),
        ),
        max_size=40,
    ),
    first=st.integers(0, 5),
    length=st.integers(0, 5),
    some=st.one_of(st.none(), st.sets(st.sampled_from(_USERS))),
)
async def test_daily_activity_counts_like_a_plain_list(store, rows, first, length, some):
    await store.reset()
    await store.add(rows)
    since = NOW.date() - timedelta(days=first)
    until = since + timedelta(days=length)
    chosen = [
        r
        for r in rows
        if since <= r.taken_at.date() <= until and (some is None or r.username in some)
    ]
    samples = Counter((r.username, r.taken_at.date()) for r in chosen)
    active = Counter((r.username, r.taken_at.date()) for r in chosen if r.active)
    expected = [DailyActivity(u, d, active[u, d], n) for (u, d), n in sorted(samples.items())]
    assert await store.daily_activity(since=since, until=until, usernames=some) == expected


@pytest.fixture(params=["memory", *SQL_KINDS])
def store_for(request, tmp_path):
    """Builds one store of each implementation, for the half-life a test asks for."""
    with contextlib.ExitStack() as stack:

        def build(half_life: timedelta) -> ActivityStore:
            if request.param == "memory":
                return InMemoryActivityStore(half_life=half_life)
            database = stack.enter_context(sql_database(request, request.param, tmp_path))
            return SqlActivityStore(database, half_life=half_life)

        yield build


YEAR = ActivityPolicy(retention_days=365)  # the default half-life of 72 h
H1_WEEK = ActivityPolicy(half_life_hours=1)  # the default retention of 7 days


@pytest.mark.parametrize(
    ("policy", "odd_age", "recent_active", "score"),
    [
        (YEAR, timedelta(days=364), True, 99),  # an idle sample whose weight vanishes: not 100
        (H1_WEEK, timedelta(hours=40), True, 99),  # 1 - 2^-40 active: still not 100
        (YEAR, timedelta(days=364), False, 0),  # an active one whose weight vanishes: 0
        (H1_WEEK, timedelta(hours=40), False, 0),
    ],
)
async def test_the_score_ends_hold_when_a_weight_vanishes(
    store_for, policy, odd_age, recent_active, score
):
    """A window with an idle sample scores at most 99, one whose active share is under 1 %
    scores 0 (the module docstring of stellars.domain.activity), through the store's tallies
    as through the definition, also after a prune."""
    store = store_for(policy.half_life)
    recent = [at(hours, active=recent_active) for hours in range(6)]
    odd = RecordedSample("alice", NOW - odd_age, not recent_active, None)
    stale = RecordedSample("alice", NOW - policy.retention - timedelta(hours=1), True, None)
    await store.add([*recent, odd, stale])
    assert await store.prune(older_than=NOW - policy.retention) == 1
    window = {"since": NOW - policy.retention, "until": NOW}
    tally = (await store.tallies(**window))["alice"]
    expected = score_samples([*recent, odd], now=NOW, policy=policy)
    assert (tally.score(policy), expected.value) == (expected, score)


@st.composite
def histories_with_vanishing_weights(draw):
    """A year of retention at the 72 h half-life (121 half-lives): samples of the last few days
    and samples months old, whose weights vanish next to them; often all of one kind and all
    of the other, the histories whose ends (99, 0) only the counts can tell."""
    users = draw(st.lists(st.sampled_from(["ann", "bo"]), min_size=1, max_size=2, unique=True))
    rows = []
    for user in users:
        pattern = draw(st.sampled_from(["active recent", "idle recent", "mixed"]))
        for recent in (True, False):
            span = (
                (timedelta(0), timedelta(days=3))
                if recent
                else (timedelta(days=200), YEAR.retention * 1.05)
            )
            for _ in range(draw(st.integers(1, 6))):
                active = (
                    draw(st.booleans())
                    if pattern == "mixed"
                    else recent == (pattern == "active recent")
                )
                rows.append(RecordedSample(user, NOW - draw(durations(*span)), active))
    prune_at = draw(st.one_of(st.none(), durations(timedelta(days=100), YEAR.retention * 1.1)))
    return rows, prune_at


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=histories_with_vanishing_weights())
async def test_store_tallies_score_like_the_definition_when_weights_vanish(store, case):
    """The store is built for the 72 h half-life, so a year of retention lets weights vanish."""
    rows, prune_at = case
    await store.reset()
    await store.add(rows)
    if prune_at is not None:
        await store.prune(older_than=NOW - prune_at)
        rows = [r for r in rows if r.taken_at > NOW - prune_at]
    tallies = await store.tallies(since=NOW - YEAR.retention, until=NOW)
    for user in {r.username for r in rows}:
        mine = [r for r in rows if r.username == user]
        expected = score_samples(mine, now=NOW, policy=YEAR)
        got = (
            tallies[user].score(YEAR)
            if user in tallies
            else score_samples([], now=NOW, policy=YEAR)
        )
        assert got == expected
        window = [r for r in mine if r.taken_at > NOW - YEAR.retention]
        if any(not r.active for r in window):
            assert got.value <= 99  # an idle sample in the window, however light
