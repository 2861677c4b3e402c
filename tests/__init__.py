"""Test suite of stellars-hub (a package so that `tests.backends` is importable)."""
