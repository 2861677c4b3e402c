"""The platform's routes and pages inside the hub (Tornado handlers on JupyterHub's own)."""

from .base import StellarsAPIHandler, StellarsPageHandler, status_for
from .branding import branding_base
from .hub_routes import take_turns_on_hub_routes
from .recording import audited
from .routes import handlers
from .turns import Turns

__all__ = [
    "StellarsAPIHandler",
    "StellarsPageHandler",
    "Turns",
    "audited",
    "branding_base",
    "handlers",
    "status_for",
    "take_turns_on_hub_routes",
]
