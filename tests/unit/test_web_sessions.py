"""The session card's JSON with the busy rule: `busy_computing` and the figures of `busy`."""

from __future__ import annotations

from datetime import timedelta

from stellars.adapters.jupyterhub.web.sessions import busy_json, status_json
from stellars.domain.busy import NOT_BUSY, BusyVerdict, BusyWindow
from stellars.domain.services import SessionStatus
from tests.strategies import EPOCH

END = EPOCH + timedelta(hours=3)
WINDOW = BusyWindow(
    start=END - timedelta(minutes=10), end=END, cpu_percent=97.04, gpu_percent=None, busy=True
)


def card(busy: BusyVerdict) -> SessionStatus:
    return SessionStatus(
        culler_enabled=True,
        server_active=True,
        idle_timeout=timedelta(hours=1),
        ceiling=timedelta(hours=3),
        max_extension_hours=2,
        remaining=timedelta(hours=1),
        offer_hours=2,
        busy=busy,
    )


def test_a_server_kept_alive_shows_the_message_and_the_figures():
    now = END + timedelta(minutes=1)
    answer = status_json(card(BusyVerdict(active_now=True, activity_at=now, window=WINDOW)))
    assert answer["busy_computing"] is True
    assert answer["busy"] == {
        "message": "kept alive: busy computing (CPU 97.0 % of one core over the last 10.0 min)",
        "kept_alive": True,
        "activity_at": "2026-01-01T03:01:00Z",
        "window_start": "2026-01-01T02:50:00Z",
        "window_end": "2026-01-01T03:00:00Z",
        "cpu_percent": 97.0,
        "gpu_percent": None,
        "window_busy": True,
    }
    assert answer["time_remaining_seconds"] == 3600


def test_a_server_that_computed_earlier_shows_when():
    idle = BusyWindow(start=END, end=END + timedelta(minutes=10), cpu_percent=0.5,
                      gpu_percent=20, busy=False)  # fmt: skip
    answer = status_json(card(BusyVerdict(active_now=False, activity_at=END, window=idle)))
    assert answer["busy_computing"] is False
    assert answer["busy"]["message"] == "last busy computing until 2026-01-01 03:00:00 UTC"
    assert answer["busy"]["kept_alive"] is False
    assert (answer["busy"]["cpu_percent"], answer["busy"]["gpu_percent"]) == (0.5, 20)
    assert answer["busy"]["window_busy"] is False


def test_without_busyness_the_card_says_nothing_of_it():
    answer = status_json(card(NOT_BUSY))
    assert answer["busy_computing"] is False and answer["busy"] is None
    assert busy_json(BusyVerdict(active_now=False, activity_at=None, window=WINDOW)) is None
