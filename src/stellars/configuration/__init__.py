"""The deployment's variables: one catalogue that parses them into `PlatformSettings`, describes
them for the settings page and documents them.

    settings = settings_from_environment(os.environ, cwd=os.getcwd(), volumes=VOLUMES)
    rows = describe(settings)

- `variables`: the catalogue itself (`VARIABLES`, `BY_NAME`, the categories). Every variable
  names the settings field it sets; its default and its allowed range come from that field (the
  dataclass default and the policy's LIMITS), so the catalogue never restates a rule of the
  domain, and a derived value is declared on its variable (`Variable.effective`).
- `parsing`: the environment into validated settings; a bad value names its variable.
- `describing`: one row per variable with the value in effect, its default and its range.

Nothing here reads the environment: deploy/jupyterhub_config.py hands it `os.environ`.
"""

from __future__ import annotations

from stellars.domain.secrets import mask_password

from .describing import SettingRow, allowed_text, default_text, describe, effective_text
from .parsing import SettingsError, settings_from_environment, variable_for
from .variables import (
    ACTIVITY,
    BRANDING,
    BY_NAME,
    CATEGORIES,
    CULLER,
    GPU,
    HUB,
    HUB_PROCESS,
    NOTIFICATIONS,
    PASSWORD_FILE_VARIABLE,
    SPAWNER,
    USERS,
    VARIABLES,
    Kind,
    Variable,
    section_class,
)

__all__ = [
    "ACTIVITY",
    "BRANDING",
    "BY_NAME",
    "CATEGORIES",
    "CULLER",
    "GPU",
    "HUB",
    "HUB_PROCESS",
    "NOTIFICATIONS",
    "PASSWORD_FILE_VARIABLE",
    "SPAWNER",
    "USERS",
    "VARIABLES",
    "Kind",
    "SettingRow",
    "SettingsError",
    "Variable",
    "allowed_text",
    "default_text",
    "describe",
    "effective_text",
    "mask_password",
    "section_class",
    "settings_from_environment",
    "variable_for",
]
