"""Hypothesis strategies shared by the unit and contract suites.

Every policy strategy draws from the whole range the policy allows (its LIMITS), so a property
holds for every configuration an admin can choose, not only for comfortable ones.

The Hypothesis profiles (STELLARS_HYPOTHESIS_PROFILE) are set in tests/conftest.py.
"""

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


def within(bounds: tuple[int, int | None], *, cap: int | None = None) -> st.SearchStrategy[int]:
    """Integers across a policy's inclusive bounds (`cap` stands in for an open upper end)."""
    low, high = bounds
    return st.integers(low, high if high is not None else cap)


#: User names as hubs really see them: beyond a few ASCII names, also unicode letters, upper
#: case, digits first, and the punctuation JupyterHub allows.
usernames = st.one_of(
    st.sampled_from(["alice", "bob", "a.b-c_d@e", "0day", "Ünïcödé", "MiXeD", "東京"]),
    st.from_regex(r"[0-9][a-z0-9._@-]{0,15}", fullmatch=True),
    st.text(
        alphabet=st.characters(categories=["Lu", "Ll", "Lo", "Nd"], include_characters="._@-+ "),
        min_size=1,
        max_size=20,
    ),
)


@st.composite
def activity_policies(draw: st.DrawFn) -> ActivityPolicy:
    limits = ActivityPolicy.LIMITS
    return ActivityPolicy(**{name: draw(within(bounds)) for name, bounds in limits.items()})


@st.composite
def histories(
    draw: st.DrawFn,
    *,
    now: datetime,
    window: timedelta,
    username: str = "alice",
    max_size: int = 40,
) -> list[RecordedSample]:
    """Samples of one user at times up to `window` before `now` (some may fall outside it).

    Ages cluster at times, as a real sampler's do: some samples share an instant, some lie a
    hair apart, some far apart across the window.
    """
    spread = durations(timedelta(0), window * 1.2)
    ages = draw(st.lists(spread, max_size=max_size))
    if ages and draw(st.booleans()):
        # repeat some instants and put others a microsecond from them
        base = ages[0]
        extra = draw(st.lists(st.sampled_from([base, base + timedelta(microseconds=1)])))
        ages = ages + extra
    return [RecordedSample(username, now - age, draw(st.booleans()), None) for age in ages]


@st.composite
def session_policies(draw: st.DrawFn, *, enabled: bool = True) -> SessionPolicy:
    limits = SessionPolicy.LIMITS
    return SessionPolicy(
        enabled=enabled,
        idle_timeout_seconds=draw(within(limits["idle_timeout_seconds"])),
        cull_every_seconds=draw(within(limits["cull_every_seconds"])),
        max_extension_hours=draw(within(limits["max_extension_hours"])),
        max_age_seconds=draw(
            st.one_of(st.just(0), within(limits["max_age_seconds"], cap=400 * 86_400))
        ),
    )


@st.composite
def servers(
    draw: st.DrawFn,
    *,
    now: datetime,
    running: bool | None = None,
    username: str | None = None,
) -> ServerSnapshot:
    """A server started up to 400 days before `now` (or with no start time known), with
    activity anywhere since its start, of any user, default or named."""
    started = draw(
        st.one_of(st.none(), durations(timedelta(0), timedelta(days=400)).map(lambda d: now - d))
    )
    earliest = started if started is not None else now - timedelta(days=400)
    last_activity = draw(
        st.one_of(st.none(), durations(timedelta(0), now - earliest).map(lambda d: earliest + d))
    )
    is_running = draw(st.booleans()) if running is None else running
    pending = None if is_running else draw(st.sampled_from([None, "spawn", "stop"]))
    return ServerSnapshot(
        username=username if username is not None else draw(usernames),
        name=draw(st.sampled_from(["", "gpu", "Named-1"])),
        ready=is_running or (pending == "stop"),
        pending=pending,
        started=started,
        last_activity=last_activity,
    )


@st.composite
def deadlines(draw: st.DrawFn, *, now: datetime) -> datetime | None:
    """None, or a deadline anywhere from a year ago to a year ahead."""
    return draw(
        st.one_of(
            st.none(),
            durations(timedelta(0), timedelta(days=730)).map(
                lambda d: now - timedelta(days=365) + d
            ),
        )
    )
