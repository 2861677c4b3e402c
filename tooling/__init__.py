"""The project's own tooling (not part of the product): images built offline for `make run` and
the tests, and the `make run` launcher."""
