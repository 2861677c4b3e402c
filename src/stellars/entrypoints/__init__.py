"""Entry points of processes the hub starts (managed services). Each `main()` is the composition
root of its own process: it alone reads what JupyterHub hands the service in its environment."""

from __future__ import annotations

import itertools
import signal
import sys
from collections.abc import Sequence

#: The managed services' modules, as the hub's config starts them (`python -m <module>`).
SERVICE_MODULES = frozenset({f"{__name__}.activity_sampler", f"{__name__}.idle_culler"})


def started_as_service(argv: Sequence[str]) -> bool:
    """Whether this interpreter's command line is `python [options] -m <a service module> ...`."""
    return any(
        flag == "-m" and module in SERVICE_MODULES for flag, module in itertools.pairwise(argv)
    )


# JupyterHub stops a managed service with SIGINT, also one still importing its modules (a stop
# right after the hub's start). Python would raise KeyboardInterrupt wherever the import is and
# print its traceback into the hub's log; with the signal's default action the process ends
# quietly instead (and a SIGINT that a background shell left ignored is not inherited). Each
# service's main() installs its own handlers once it runs. Nothing changes in other processes
# that import this package, the hub included.
if started_as_service(sys.orig_argv):
    signal.signal(signal.SIGINT, signal.SIG_DFL)
