"""Access to the platform by JupyterHub scopes.

JupyterHub has scopes for users, servers and the admin UI, but none for what the platform adds,
so it defines `custom:` scopes for those. Every user gets the per-user ones filtered to
themself (`!user`), so a user's own API token can call the user's own routes, and a token
created with explicit scopes can do only what it names. A service or script gets them through a
role in `load_roles`.

Admins: JupyterHub refuses any change to its `admin` role (RoleValueError), so the platform's
scopes go to a role of their own, `stellars-admin`, that follows the admin flag (roles.py).
Pages for admins check JupyterHub's own `admin-ui` scope; restarting a server checks
`servers`, and why a server stopped `read:servers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from jupyterhub.roles import get_default_roles

ACTIVITY = "custom:stellars:activity"
BROADCAST = "custom:stellars:broadcast"
CREDENTIALS = "custom:stellars:credentials"
VOLUMES = "custom:stellars:volumes"
SESSIONS = "custom:stellars:sessions"
SETTINGS = "custom:stellars:settings"
POLICIES = "custom:stellars:policies"
RESOURCES = "custom:stellars:resources"
AUDIT = "custom:stellars:audit"

#: JupyterHub's scope for its admin pages; the platform's admin pages check it too.
ADMIN_UI = "admin-ui"
#: JupyterHub's scope for starting and stopping a user's servers; restarting checks it too.
SERVERS = "servers"
#: JupyterHub's scope for reading a user's servers; why one stopped is part of that.
READ_SERVERS = "read:servers"

CUSTOM_SCOPES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        ACTIVITY: {"description": "Read the activity dashboard's data, reset it and take samples."},
        BROADCAST: {"description": "List running servers and broadcast notifications into them."},
        CREDENTIALS: {"description": "Collect the generated passphrases of new users, once."},
        VOLUMES: {"description": "List a user's Docker volumes with their sizes and reset them."},
        SESSIONS: {"description": "Read a server's idle countdown and extend its session."},
        SETTINGS: {"description": "Read the platform's effective settings (never its secrets)."},
        POLICIES: {"description": "Read, create, change, order and delete group policies."},
        RESOURCES: {"description": "Read what a user's servers get from their group policies."},
        AUDIT: {"description": "Read the audit feed: who changed what, for whom, and how."},
    }
)

#: The role that gives admins every platform scope (kept on exactly the admins).
ADMIN_ROLE = "stellars-admin"

#: What every user may do with their own resources.
USER_SCOPES: tuple[str, ...] = (f"{VOLUMES}!user", f"{SESSIONS}!user", f"{RESOURCES}!user")


def _default_scopes(role_name: str) -> list[str]:
    for role in get_default_roles():
        if role["name"] == role_name:
            return list(role["scopes"])
    raise KeyError(role_name)


def platform_roles() -> list[dict[str, Any]]:
    """`load_roles` entries: the admins' role with every platform scope, and JupyterHub's user
    role extended with the per-user ones (keeping every scope JupyterHub gives it: a config
    that redefines a role replaces its scopes)."""
    return [
        {
            "name": ADMIN_ROLE,
            "description": "The platform's scopes, held by every admin",
            "scopes": list(CUSTOM_SCOPES),
        },
        {"name": "user", "scopes": [*_default_scopes("user"), *USER_SCOPES]},
    ]


def custom_scopes() -> dict[str, dict[str, str]]:
    """`c.JupyterHub.custom_scopes`."""
    return {scope: dict(definition) for scope, definition in CUSTOM_SCOPES.items()}
