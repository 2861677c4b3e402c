"""The platform's effective settings: `/hub/settings` for admins and `GET /hub/api/settings`
for scripts, every variable by category with its value, default and allowed range.

Secrets are never sent: the page and the API say only whether one is set, and database URLs
have their passwords masked. Both show the free disk of the engine's data directory as the
background measured it last.
"""

from __future__ import annotations

import dataclasses
from itertools import groupby
from typing import Any

from jupyterhub.scopes import needs_scope
from tornado import web

from stellars.adapters.jupyterhub import scopes
from stellars.configuration import describe

from .base import StellarsAPIHandler, StellarsPageHandler
from .wire import host_disk_json


def facts(platform: Any) -> list[tuple[str, str]]:
    """What the hub found at start, plus the GPU decision as it stands now."""
    gpu = platform.gpu.current
    return [
        *platform.facts.items(),
        ("GPU", ("on" if gpu.enabled else "off") + f": {gpu.reason}"),
    ]


class SettingsPage(StellarsPageHandler):
    """`GET /hub/settings`: JupyterHub's admin-ui scope, and the settings API's own
    (custom:stellars:settings), so the page shows no one what the API would refuse them."""

    @web.authenticated
    @needs_scope("admin-ui")
    async def get(self) -> None:
        self.require_scope(scopes.SETTINGS)
        platform = self.platform
        rows = describe(platform.settings)
        categories = [(name, list(group)) for name, group in groupby(rows, lambda r: r.category)]
        await self.render_page(
            "stellars-settings.html",
            categories=categories,
            facts=facts(platform),
            volumes=platform.settings.spawner.volumes,
            host_disk=host_disk_json(platform.host_disk.snapshot(), platform.clock.now()),
        )


class SettingsAPI(StellarsAPIHandler):
    """`GET /hub/api/settings` (custom:stellars:settings)."""

    async def get(self) -> None:
        self.require_scope(scopes.SETTINGS)
        platform = self.platform
        self.write_json(
            {
                "settings": [dataclasses.asdict(row) for row in describe(platform.settings)],
                "facts": dict(facts(platform)),
                "host_disk": host_disk_json(platform.host_disk.snapshot(), platform.clock.now()),
            }
        )


#: (pattern, handler) pairs relative to the hub prefix.
ROUTES: list[tuple[Any, ...]] = [
    (r"/settings", SettingsPage),
    (r"/api/settings", SettingsAPI),
]
