"""The platform's routes and pages inside the hub (Tornado handlers on JupyterHub's own)."""

from .base import PLATFORM_SETTING, StellarsAPIHandler, StellarsPageHandler, status_for
from .routes import handlers

__all__ = [
    "PLATFORM_SETTING",
    "StellarsAPIHandler",
    "StellarsPageHandler",
    "handlers",
    "status_for",
]
