"""The catalogue described for people: one row per variable with the value in effect, the
default and the allowed values, for the settings page, `GET /hub/api/settings` and
docs/configuration.md.

Secrets are never shown (only whether one is set), and a URL is shown with its password masked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from stellars.domain.secrets import mask_password
from stellars.domain.settings import PlatformSettings
from stellars.domain.validation import describe_bounds

from .variables import CATEGORIES, VARIABLES, Kind, Variable


@dataclass(frozen=True, slots=True)
class SettingRow:
    """One row of the settings page and of docs/configuration.md."""

    category: str
    variable: str
    description: str
    value: str
    default: str
    allowed: str


def default_text(variable: Variable) -> str:
    """The default as the docs and the settings page show it."""
    if variable.default_text is not None:
        return variable.default_text
    if variable.kind is Kind.SECRET:
        return "(not set)"
    default = variable.owner.__dataclass_fields__[variable.attribute].default
    return _text(default, variable)


def allowed_text(variable: Variable) -> str:
    """The allowed values: the variable's own words, the choices, a range from the policy's
    LIMITS, or the kind."""
    if variable.allowed is not None:
        return variable.allowed
    if variable.choices:
        return ", ".join(variable.choices)
    limits = getattr(variable.owner, "LIMITS", {})
    if variable.attribute in limits:
        return describe_bounds(limits[variable.attribute])
    if variable.kind is Kind.FLAG:
        return "0, 1"
    if variable.kind is Kind.INTEGER:
        return "a whole number"
    return ""


def _text(value: object, variable: Variable) -> str:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "1" if value else "0"
    if value is None or value is dataclasses.MISSING:
        return ""
    text = str(value)
    if variable.kind is Kind.URL:
        return mask_password(text)
    return text


def effective_text(settings: PlatformSettings, variable: Variable) -> str:
    """The value in effect, as the settings page shows it: the derived value where the
    variable declares one; a secret only as whether it is set."""
    if variable.kind is Kind.SECRET:
        return "(set)" if variable.value_in(settings) else "(not set)"
    if variable.effective is not None:
        return _text(variable.effective(settings), variable)
    return _text(variable.value_in(settings), variable)


def describe(
    settings: PlatformSettings, variables: Sequence[Variable] = VARIABLES
) -> list[SettingRow]:
    """Every variable with the value in effect, in catalogue order (grouped by category)."""
    order = {category: index for index, category in enumerate(CATEGORIES)}
    rows = [
        SettingRow(
            category=variable.category,
            variable=variable.name,
            description=variable.description,
            value=effective_text(settings, variable),
            default=default_text(variable),
            allowed=allowed_text(variable),
        )
        for variable in variables
    ]
    return sorted(rows, key=lambda row: order[row.category])
