"""The running JupyterHub application, handed to the in-hub adapters when the hub starts.

The adapters are built by the composition root while JupyterHub loads its configuration, before
the application object has users, a proxy or a database. JupyterHub hands the application to the
platform once, when it registers handlers (see `extension.py`), and `bind` passes it on. No
adapter looks the application up as a process-wide singleton.
"""

from __future__ import annotations

from typing import Any

from stellars.domain.errors import BackendUnavailable


class HubHandle:
    """A late-bound reference to the JupyterHub application of this process."""

    def __init__(self) -> None:
        self._app: Any = None

    def bind(self, app: Any) -> None:
        """Attach the running application; a second, different one is refused."""
        if self._app is not None and self._app is not app:
            raise RuntimeError("this platform is already attached to another JupyterHub")
        self._app = app

    @property
    def bound(self) -> bool:
        return self._app is not None

    @property
    def app(self) -> Any:
        """The JupyterHub application. Raises BackendUnavailable before the hub has started."""
        if self._app is None:
            raise BackendUnavailable("the hub has not started yet")
        return self._app
