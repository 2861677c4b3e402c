"""The fault run (issue 21 §5): each test breaks one backend under a running platform and checks
that nothing is lost and every page and API answers (or answers 503 with a message while its
backend is away). Every test in this directory is marked `faults` (and `real`): run them alone
with `pytest -m faults`, or leave them out with `-m "not faults"`.

Each test records what it checked through the `outcomes` fixture; the rows travel on the test's
report (as user properties, so they survive pytest-xdist's workers) and the session ends with a
table of faults x outcomes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
#: The user-property key of one outcome row: (fault, check, result).
OUTCOME_KEY = "fault_outcome"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "faults: breaks a backend under a running platform (the fault run, issue 21)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.faults)
            item.add_marker(pytest.mark.real)


@pytest.fixture
def outcomes(request: pytest.FixtureRequest) -> Callable[[str, str, str], None]:
    """``outcomes(fault, check, result)`` adds one row to the closing table."""

    def record(fault: str, check: str, result: str) -> None:
        request.node.user_properties.append((OUTCOME_KEY, (fault, check, result)))

    return record


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" and not (report.when == "setup" and report.failed):
        return
    verdict = "passed" if report.passed else ("skipped" if report.skipped else "FAILED")
    for key, value in report.user_properties:
        if key == OUTCOME_KEY:
            fault, check, result = value
            _session_rows.append((fault, check, result, verdict))


#: Rows of this process (the controller's, under xdist): filled by the report hook above.
_session_rows: list[tuple[str, str, str, str]] = []


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
