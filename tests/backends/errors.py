"""The one exception every backend helper raises when its backend cannot be brought up."""


class BackendMissing(Exception):
    """A real backend (Docker, PostgreSQL, CHP, ...) is not available on this machine.

    The message says what is missing and how to get it; the pytest fixtures turn it into a skip,
    or into a failure when ``STELLARS_REQUIRE_BACKENDS=1``.
    """
