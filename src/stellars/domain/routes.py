"""Routes the platform keeps in JupyterHub's proxy, such as a lab's favicon sent to the hub.

Routespecs follow JupyterHub's convention: a URL path that starts and ends with '/'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import InvalidValue


def check_routespec(routespec: str) -> str:
    """The routespec itself, when it is a path that starts and ends with '/'."""
    if not routespec.startswith("/") or not routespec.endswith("/"):
        raise InvalidValue("routespec", f"must start and end with '/', got {routespec!r}")
    return routespec


@dataclass(frozen=True, slots=True)
class ProxyRoute:
    """A route of the proxy: requests under `routespec` go to `target`."""

    routespec: str
    target: str
    data: Mapping[str, object] = field(default_factory=dict)


#: Where JupyterLab asks for its favicon, relative to the server's URL prefix (and, while a
#: kernel runs, for favicon-busy-1..3.ico next to it, which stay with the lab).
LAB_FAVICON_PATH = "static/favicons/favicon.ico"


def lab_favicon_routespec(server_prefix: str) -> str:
    """The proxy route for exactly the favicon of the server at `server_prefix` ("/user/a/")."""
    return check_routespec(server_prefix.rstrip("/") + "/" + LAB_FAVICON_PATH + "/")
