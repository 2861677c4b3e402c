"""Root conftest: loads the fixtures that bring up real backends (see tests/backends)."""

pytest_plugins = ["tests.backends.fixtures"]
