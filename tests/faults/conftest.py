"""The fault run (issue 21 §5): each test breaks one backend under a running platform and checks
that nothing is lost and every page and API answers (or answers 503 with a message while its
backend is away). Every test in this directory is marked `faults` (and `real`): run them alone
with `pytest -m faults`, or leave them out with `-m "not faults"`. The marker, the `outcomes`
fixture and the closing table of faults x outcomes are in `tests.faults.report`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.faults)
            item.add_marker(pytest.mark.real)
