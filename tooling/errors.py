"""The one exception the tooling raises when a tool or backend it needs is not there."""

INSTALL_HINT = "run `bash tooling/install-system.sh` as root"


class BackendMissing(Exception):
    """A real backend or tool (Docker, mmdebstrap, PostgreSQL, CHP, ...) is not available here.

    The message says what is missing and how to get it; the pytest fixtures turn it into a skip,
    or into a failure when ``STELLARS_REQUIRE_BACKENDS=1``; `make run` prints it.
    """
