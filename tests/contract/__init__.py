"""Contract suites: one per port, written once and run against every implementation.

Each suite has an `implementation` fixture parametrized by name. A real adapter joins by adding
its name to the parameter list and a factory (a fixture that builds it against a real backend)
next to the in-memory one; the tests themselves never change.
"""
