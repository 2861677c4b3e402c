"""The fault run's closing table: one aligned row per outcome under a header and a rule."""

from __future__ import annotations

from tests.faults.report import format_table


def test_rows_are_aligned_under_the_header():
    lines = format_table([
        ("proxy SIGKILL", "routes", "2 of 2 back", "passed"),
        ("db away", "sampler", "caught up", "FAILED"),
    ])  # fmt: skip
    assert lines == [
        "fault         | check   | outcome     | test  ",
        "--------------+---------+-------------+-------",
        "proxy SIGKILL | routes  | 2 of 2 back | passed",
        "db away       | sampler | caught up   | FAILED",
    ]
