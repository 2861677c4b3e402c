"""The fault run's report (a pytest plugin, loaded by tests/conftest.py so that the process that
prints the summary has it, pytest-xdist's controller included): the `faults` marker, the
`outcomes` fixture, and the closing table of faults x outcomes.

Each fault test records what it checked through `outcomes(fault, check, result)`; the rows travel
on the test's report as user properties (which pytest-xdist sends from its workers) and the
session ends with one table of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

#: The user-property key of one outcome row: (fault, check, result).
OUTCOME_KEY = "fault_outcome"
#: Rows of this process (the controller's, under xdist), in the order their reports came.
_session_rows: list[tuple[str, str, str, str]] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "faults: breaks a backend under a running platform (the fault run, issue 21)"
    )


@pytest.fixture
def outcomes(request: pytest.FixtureRequest) -> Callable[[str, str, str], None]:
    """``outcomes(fault, check, result)`` adds one row to the closing table."""

    def record(fault: str, check: str, result: str) -> None:
        request.node.user_properties.append((OUTCOME_KEY, (fault, check, result)))

    return record


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call":
        return
    verdict = "passed" if report.passed else ("skipped" if report.skipped else "FAILED")
    for key, value in report.user_properties:
        if key == OUTCOME_KEY:
            fault, check, result = value
            _session_rows.append((fault, check, result, verdict))


def format_table(rows: list[tuple[str, str, str, str]]) -> list[str]:
    """Rows as an aligned text table with a header: fault | check | outcome | test."""
    header = ("fault", "check", "outcome", "test")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(4)]
    line = " | ".join(f"{{:<{width}}}" for width in widths)
    rule = "-+-".join("-" * width for width in widths)
    return [line.format(*header), rule, *(line.format(*row) for row in rows)]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not _session_rows:
        return
    terminalreporter.section("faults x outcomes")
    for text in format_table(_session_rows):
        terminalreporter.write_line(text)
