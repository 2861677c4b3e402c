"""Hypothesis strategies shared by the unit and contract suites."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

from stellars.domain.activity import ActivityPolicy, RecordedSample
from stellars.domain.hub import ServerSnapshot
from stellars.domain.sessions import SessionPolicy

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


def instants(span: timedelta = timedelta(days=400)) -> st.SearchStrategy[datetime]:
    """Aware UTC datetimes with microsecond precision within `span` after EPOCH."""
    micros = int(span / timedelta(microseconds=1))
    return st.integers(0, micros).map(lambda us: EPOCH + timedelta(microseconds=us))


def durations(low: timedelta, high: timedelta) -> st.SearchStrategy[timedelta]:
    return st.integers(
        int(low / timedelta(microseconds=1)), int(high / timedelta(microseconds=1))
    ).map(lambda us: timedelta(microseconds=us))


@st.composite
def activity_policies(draw: st.DrawFn) -> ActivityPolicy:
    return ActivityPolicy(
        retention_days=draw(st.integers(1, 30)),
        half_life_hours=draw(st.integers(1, 168)),
        inactive_after_minutes=draw(st.integers(1, 1440)),
        sample_interval_seconds=draw(st.integers(60, 86_400)),
        target_hours=draw(st.integers(1, 24)),
    )


@st.composite
def histories(
    draw: st.DrawFn,
    *,
    now: datetime,
    window: timedelta,
    username: str = "alice",
    max_size: int = 40,
) -> list[RecordedSample]:
    """Samples of one user at times up to `window` before `now` (some may fall outside it)."""
    ages = draw(st.lists(durations(timedelta(0), window * 1.2), max_size=max_size))
    return [RecordedSample(username, now - age, draw(st.booleans()), None) for age in ages]


@st.composite
def session_policies(draw: st.DrawFn, *, enabled: bool = True) -> SessionPolicy:
    return SessionPolicy(
        enabled=enabled,
        idle_timeout_seconds=draw(st.integers(60, 7 * 86_400)),
        cull_every_seconds=60,
        max_extension_hours=draw(st.integers(0, 72)),
        max_age_seconds=draw(st.one_of(st.just(0), st.integers(60, 30 * 86_400))),
    )


@st.composite
def servers(draw: st.DrawFn, *, now: datetime, running: bool | None = None) -> ServerSnapshot:
    """A server started up to 30 days before `now`, with activity anywhere since its start."""
    started = now - draw(durations(timedelta(0), timedelta(days=30)))
    last_activity = draw(
        st.one_of(st.none(), durations(timedelta(0), now - started).map(lambda d: started + d))
    )
    is_running = draw(st.booleans()) if running is None else running
    pending = None if is_running else draw(st.sampled_from([None, "spawn", "stop"]))
    return ServerSnapshot(
        username="alice",
        ready=is_running or (pending == "stop"),
        pending=pending,
        started=started,
        last_activity=last_activity,
    )


@st.composite
def deadlines(draw: st.DrawFn, *, now: datetime) -> datetime | None:
    """None, or a deadline anywhere from a week ago to a week ahead."""
    return draw(
        st.one_of(
            st.none(),
            durations(timedelta(0), timedelta(days=14)).map(lambda d: now - timedelta(days=7) + d),
        )
    )
