"""The environment parsed into `PlatformSettings`, once, at hub start.

Every variable that is set and not empty is parsed by its kind (or its own parser) and handed to
the settings dataclass of its field, which validates it; the first value the platform cannot use
stops the hub with a SettingsError naming the variable, never a silent default. Nothing here
reads the environment: the caller hands it a mapping (deploy/jupyterhub_config.py passes
`os.environ`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from stellars.domain.errors import InvalidValue
from stellars.domain.settings import PlatformSettings

from .variables import BY_NAME, PASSWORD_FILE_VARIABLE, VARIABLES, Kind, Variable, section_class

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class SettingsError(InvalidValue):
    """A variable holds a value the platform cannot use; `field` is the variable's name."""


def variable_for(field: str) -> str:
    """The variable that sets a settings field ("passphrases.words"), or the field itself."""
    return next((v.name for v in VARIABLES if v.field == field), field)


def _parse(variable: Variable, text: str) -> object:
    value = text.strip()
    if variable.parse is not None:
        return variable.parse(value)
    if variable.kind is Kind.INTEGER:
        try:
            return int(value)
        except ValueError:
            raise InvalidValue("value", f"must be a whole number, got {text!r}") from None
    if variable.kind is Kind.FLAG:
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise InvalidValue("value", f"must be 0 or 1, got {text!r}")
    if variable.kind is Kind.SECRET:
        return text  # a password keeps its spaces
    return value


def settings_from_environment(
    environ: Mapping[str, str],
    *,
    cwd: str,
    volumes: Mapping[str, object] | None = None,
    read_file: Callable[[str], str] | None = None,
) -> PlatformSettings:
    """Every variable that is set and not empty, parsed and validated into PlatformSettings.

    `cwd` is the default data directory; `volumes` is DockerSpawner's volumes dict (a data
    literal of the deployment); `read_file` reads JUPYTERHUB_ADMIN_PASSWORD_FILE. Raises
    SettingsError naming the variable at fault.
    """
    values: dict[str, dict[str, object]] = {}
    top: dict[str, object] = {}
    owner: dict[str, str] = {}  # field -> variable that set it, for error messages
    for variable in VARIABLES:
        if variable.name == PASSWORD_FILE_VARIABLE:
            continue
        raw = environ.get(variable.name, "")
        if not raw.strip():
            continue
        try:
            value = _parse(variable, raw)
        except InvalidValue as error:
            raise SettingsError(variable.name, error.message) from None
        _assign(variable, value, values, top, owner)
    password_file = environ.get(PASSWORD_FILE_VARIABLE, "").strip()
    if password_file:
        _assign(
            BY_NAME[PASSWORD_FILE_VARIABLE],
            _read_password(password_file, read_file),
            values,
            top,
            owner,
        )
    values.setdefault("hub", {}).setdefault("data_dir", cwd)
    if volumes is not None:
        values.setdefault("spawner", {})["volumes"] = volumes
    return _build(values, top, owner)


def _assign(
    variable: Variable,
    value: object,
    values: dict[str, dict[str, object]],
    top: dict[str, object],
    owner: dict[str, str],
) -> None:
    if variable.section is None:
        top[variable.attribute] = value
    else:
        values.setdefault(variable.section, {})[variable.attribute] = value
    owner[variable.field] = variable.name


def _read_password(path: str, read_file: Callable[[str], str] | None) -> str:
    if read_file is None:
        raise SettingsError(PASSWORD_FILE_VARIABLE, "no file reader was given")
    try:
        text = read_file(path)
    except OSError as error:
        raise SettingsError(
            PASSWORD_FILE_VARIABLE, f"cannot read {path}: {error.strerror or error}"
        ) from None
    lines = text.splitlines()
    password = lines[0] if lines else ""
    if not password:
        raise SettingsError(PASSWORD_FILE_VARIABLE, f"{path} is empty")
    return password


def _build(
    values: Mapping[str, Mapping[str, object]],
    top: Mapping[str, Any],
    owner: Mapping[str, str],
) -> PlatformSettings:
    sections: dict[str, Any] = {}
    for section, fields in values.items():
        factory = section_class(section)
        try:
            sections[section] = factory(**fields)
        except InvalidValue as error:
            variable = owner.get(f"{section}.{error.field}", f"{section}.{error.field}")
            raise SettingsError(variable, error.message) from None
    try:
        return PlatformSettings(**sections, **top)
    except InvalidValue as error:
        # A rule across settings may be about one the environment left at its default (swarm
        # mode with the default SQLite file): the message still names that one's variable.
        variable = owner.get(error.field) or variable_for(error.field)
        raise SettingsError(variable, error.message) from None
