"""Root conftest: loads the fixtures that bring up real backends (see tests/backends) and the
fault run's report (tests/faults/report.py: the `faults` marker and the closing table)."""

pytest_plugins = ["tests.backends.fixtures", "tests.faults.report"]
