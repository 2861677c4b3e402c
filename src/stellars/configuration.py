"""The deployment's variables: one catalogue that parses them into `PlatformSettings`, describes
them for the settings page and documents them.

Every variable names the settings field it sets; its default and its allowed range come from
that field (the dataclass default and the policy's LIMITS), so the catalogue never restates a
rule of the domain. Nothing here reads the environment: deploy/jupyterhub_config.py hands it
`os.environ`.

    settings = settings_from_environment(os.environ, cwd=os.getcwd(), volumes=VOLUMES)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from stellars.domain.errors import InvalidValue
from stellars.domain.gpu import GpuMode
from stellars.domain.settings import (
    OrphanVolumePolicy,
    PlatformSettings,
    SpawnerKind,
)
from stellars.domain.validation import describe_bounds


class Kind(str, Enum):
    """How a variable's text becomes a value, and how the settings page shows it."""

    TEXT = "text"
    INTEGER = "integer"
    FLAG = "flag"  # 0/1, true/false, yes/no, on/off
    CHOICE = "choice"  # one of a fixed set, parsed by the variable's own parser
    SECRET = "secret"  # never shown: the page says only whether it is set
    URL = "url"  # shown with any password in it masked


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable: where it goes in PlatformSettings and what it means."""

    name: str
    category: str
    field: str  # "section.attribute" in PlatformSettings, or a top-level attribute
    description: str
    kind: Kind = Kind.TEXT
    choices: tuple[str, ...] = ()
    parse: Callable[[str], object] | None = None
    default_text: str | None = None  # when the field default does not say it (derived values)

    @property
    def section(self) -> str | None:
        return self.field.split(".")[0] if "." in self.field else None

    @property
    def attribute(self) -> str:
        return self.field.split(".")[-1]


def variable_for(field: str) -> str:
    """The variable that sets a settings field ("passphrases.words"), or the field itself."""
    return next((v.name for v in VARIABLES if v.field == field), field)


class SettingsError(InvalidValue):
    """A variable holds a value the platform cannot use; `field` is the variable's name."""


def _choice(enum: type[Enum]) -> Callable[[str], object]:
    def parse(text: str) -> object:
        try:
            return enum(text.strip().lower())
        except ValueError:
            names = ", ".join(str(member.value) for member in enum)
            raise InvalidValue("value", f"must be one of {names}") from None

    return parse


def _gpu_mode(text: str) -> object:
    return GpuMode.parse(text, "value")


HUB = "JupyterHub"
SPAWNER = "User servers (DockerSpawner)"
GPU = "GPU"
CULLER = "Idle culler and sessions"
ACTIVITY = "Activity monitor"
USERS = "Users and credentials"
NOTIFICATIONS = "Notifications"
BRANDING = "Branding"

CATEGORIES = (HUB, SPAWNER, GPU, CULLER, ACTIVITY, USERS, NOTIFICATIONS, BRANDING)

VARIABLES: tuple[Variable, ...] = (
    # --- JupyterHub ----------------------------------------------------------------------
    Variable("JUPYTERHUB_ADMIN", HUB, "hub.admin_username", "The admin account's user name."),
    Variable(
        "JUPYTERHUB_ADMIN_PASSWORD",
        HUB,
        "hub.admin_password",
        "The admin's password, set at every start (at least 8 characters). Empty: the admin "
        "signs up on the first start. Prefer JUPYTERHUB_ADMIN_PASSWORD_FILE.",
        Kind.SECRET,
    ),
    Variable(
        "JUPYTERHUB_ADMIN_PASSWORD_FILE",
        HUB,
        "hub.admin_password",
        "A file holding the admin's password (a Docker or Compose secret); its first line is "
        "used. Wins over JUPYTERHUB_ADMIN_PASSWORD.",
        Kind.SECRET,
    ),
    Variable(
        "JUPYTERHUB_SIGNUP_ENABLED",
        HUB,
        "hub.signup_enabled",
        "Whether people may sign up (an admin authorizes each new account).",
        Kind.FLAG,
    ),
    Variable("JUPYTERHUB_BASE_URL", HUB, "hub.base_url", "URL prefix of the whole platform."),
    Variable("JUPYTERHUB_IP", HUB, "hub.public_ip", "Address the proxy listens on for browsers."),
    Variable("JUPYTERHUB_PORT", HUB, "hub.public_port", "Port of the proxy.", Kind.INTEGER),
    Variable(
        "JUPYTERHUB_PROXY_API_PORT",
        HUB,
        "hub.proxy_api_port",
        "Port of the proxy's REST API, always on 127.0.0.1.",
        Kind.INTEGER,
        default_text="JUPYTERHUB_PORT + 1",
    ),
    Variable("JUPYTERHUB_HUB_BIND_URL", HUB, "hub.hub_bind_url", "Where the hub process listens."),
    Variable(
        "JUPYTERHUB_HUB_CONNECT_URL",
        HUB,
        "hub.hub_connect_url",
        "How user servers reach the hub, when not at JUPYTERHUB_HUB_BIND_URL.",
    ),
    Variable(
        "JUPYTERHUB_DATA_DIR",
        HUB,
        "hub.data_dir",
        "Directory of the hub's state: databases, cookie secret, pid files.",
        default_text="the working directory",
    ),
    Variable(
        "JUPYTERHUB_DB_URL",
        HUB,
        "hub.hub_db_url",
        "JupyterHub's own database (users, servers, tokens).",
        Kind.URL,
        default_text="sqlite:///<data dir>/jupyterhub.sqlite",
    ),
    Variable(
        "STELLARS_DB_URL",
        HUB,
        "hub.stellars_db_url",
        "The platform's database (activity samples, session deadlines): SQLite or PostgreSQL.",
        Kind.URL,
        default_text="sqlite:///<data dir>/stellars.sqlite",
    ),
    Variable(
        "STELLARS_CHP",
        HUB,
        "hub.proxy_command",
        "The configurable-http-proxy command the hub starts.",
    ),
    Variable(
        "JUPYTERHUB_SSL_CERT",
        HUB,
        "hub.ssl_cert",
        "TLS certificate (PEM file, absolute path) with which the proxy serves HTTPS; set "
        "together with JUPYTERHUB_SSL_KEY. Empty: plain HTTP, for a TLS reverse proxy in front.",
    ),
    Variable(
        "JUPYTERHUB_SSL_KEY",
        HUB,
        "hub.ssl_key",
        "Private key (PEM file, absolute path) of JUPYTERHUB_SSL_CERT.",
    ),
    # --- user servers --------------------------------------------------------------------
    Variable(
        "STELLARS_SPAWNER",
        SPAWNER,
        "spawner.kind",
        "docker: Docker containers; local: processes on the hub's machine; auto: Docker when "
        "an engine answers at start, local otherwise (the log says why).",
        Kind.CHOICE,
        choices=tuple(kind.value for kind in SpawnerKind),
        parse=_choice(SpawnerKind),
    ),
    Variable(
        "JUPYTERHUB_NOTEBOOK_IMAGE", SPAWNER, "spawner.image", "The JupyterLab image users get."
    ),
    Variable(
        "JUPYTERHUB_NETWORK_NAME",
        SPAWNER,
        "spawner.network_name",
        "Docker network of the user servers.",
    ),
    Variable("DOCKER_HOST", SPAWNER, "spawner.docker_url", "The Docker engine's address."),
    Variable(
        "JUPYTERHUB_SPAWN_TIMEOUT",
        SPAWNER,
        "spawner.start_timeout_seconds",
        "Seconds a server may take to start and answer.",
        Kind.INTEGER,
    ),
    # --- GPU -----------------------------------------------------------------------------
    Variable(
        "JUPYTERHUB_GPU_ENABLED",
        GPU,
        "gpu.mode",
        "0 off, 1 all GPUs to every server, 2 detect at start and use them when found.",
        Kind.CHOICE,
        choices=("0", "1", "2"),
        parse=_gpu_mode,
    ),
    Variable(
        "JUPYTERHUB_NVIDIA_IMAGE",
        GPU,
        "gpu.probe_image",
        "Image in which auto-detection runs nvidia-smi (never pulled by the probe).",
    ),
    Variable(
        "JUPYTERHUB_GPU_PROBE_TIMEOUT",
        GPU,
        "gpu.probe_timeout_seconds",
        "Seconds the GPU probe may take.",
        Kind.INTEGER,
    ),
    # --- culler --------------------------------------------------------------------------
    Variable(
        "JUPYTERHUB_IDLE_CULLER_ENABLED",
        CULLER,
        "sessions.enabled",
        "Run jupyterhub-idle-culler, enforcing session deadlines and extensions.",
        Kind.FLAG,
    ),
    Variable(
        "JUPYTERHUB_IDLE_CULLER_TIMEOUT",
        CULLER,
        "sessions.idle_timeout_seconds",
        "Seconds of inactivity before a server is stopped.",
        Kind.INTEGER,
    ),
    Variable(
        "JUPYTERHUB_IDLE_CULLER_INTERVAL",
        CULLER,
        "sessions.cull_every_seconds",
        "Seconds between two culler passes.",
        Kind.INTEGER,
    ),
    Variable(
        "JUPYTERHUB_IDLE_CULLER_MAX_AGE",
        CULLER,
        "sessions.max_age_seconds",
        "Seconds after which a server is stopped whatever its activity (0: never).",
        Kind.INTEGER,
    ),
    Variable(
        "JUPYTERHUB_IDLE_CULLER_MAX_EXTENSION",
        CULLER,
        "sessions.max_extension_hours",
        "Hours a user may add to a session beyond the idle timeout (0: no extensions).",
        Kind.INTEGER,
    ),
    Variable(
        "JUPYTERHUB_IDLE_CULLER_WARNING_MINUTES",
        CULLER,
        "sessions.warning_minutes",
        "Minutes before a server is stopped that its JupyterLab shows a warning with a link to "
        "extend the session (0: no warning).",
        Kind.INTEGER,
    ),
    # --- activity ------------------------------------------------------------------------
    Variable(
        "JUPYTERHUB_ACTIVITYMON_RETENTION_DAYS",
        ACTIVITY,
        "activity.retention_days",
        "Days of activity samples kept and scored.",
        Kind.INTEGER,
    ),
    Variable(
        "JUPYTERHUB_ACTIVITYMON_HALF_LIFE",
        ACTIVITY,
        "activity.half_life_hours",
        "Hours after which a sample weighs half as much in the score.",
        Kind.INTEGER,
    ),
    Variable(
        "JUPYTERHUB_ACTIVITYMON_INACTIVE_AFTER",
        ACTIVITY,
        "activity.inactive_after_minutes",
        "Minutes without server activity after which a sample counts as inactive.",
        Kind.INTEGER,
    ),
    Variable(
        "JUPYTERHUB_ACTIVITYMON_SAMPLE_INTERVAL",
        ACTIVITY,
        "activity.sample_interval_seconds",
        "Seconds between two activity samples.",
        Kind.INTEGER,
    ),
    Variable(
        "JUPYTERHUB_ACTIVITYMON_TARGET_HOURS",
        ACTIVITY,
        "activity.target_hours",
        "Active hours per day that fill the dashboard's activity bar.",
        Kind.INTEGER,
    ),
    Variable(
        "JUPYTERHUB_ACTIVITYMON_RESOURCES_UPDATE_INTERVAL",
        ACTIVITY,
        "stats.container_stats_seconds",
        "Seconds between two readings of the servers' CPU and memory.",
        Kind.INTEGER,
    ),
    Variable(
        "JUPYTERHUB_ACTIVITYMON_VOLUMES_UPDATE_INTERVAL",
        ACTIVITY,
        "stats.volume_sizes_seconds",
        "Seconds between two measurements of the volume sizes.",
        Kind.INTEGER,
    ),
    Variable(
        "STELLARS_LOOP_STALL_REPORT_MS",
        ACTIVITY,
        "stats.loop_stall_report_ms",
        "Milliseconds the hub's event loop may stay blocked before the log shows the code "
        "blocking it (a warning with its stack, once per stall); 0: never.",
        Kind.INTEGER,
    ),
    Variable(
        "STELLARS_HUB_LOOP_REALTIME",
        ACTIVITY,
        "stats.loop_thread_realtime",
        "Run the hub's event-loop thread, and only it, under the kernel's real-time "
        "round-robin policy at the lowest priority (SCHED_RR 1), so that pages and API calls "
        "never wait behind booting labs and the engine for a CPU. Needs CAP_SYS_NICE (root on "
        "the host; cap_add: SYS_NICE in a container); without it the hub logs why and runs "
        "as usual.",
        Kind.FLAG,
    ),
    # --- users ---------------------------------------------------------------------------
    Variable(
        "JUPYTERHUB_AUTOGENERATED_PASSWORD_WORDS",
        USERS,
        "passphrases.words",
        "Words in the passphrase generated for a user an admin creates.",
        Kind.INTEGER,
    ),
    Variable(
        "JUPYTERHUB_AUTOGENERATED_PASSWORD_DELIMITER",
        USERS,
        "passphrases.delimiter",
        "Text between the words of a generated passphrase.",
    ),
    Variable(
        "STELLARS_CREDENTIALS_TTL",
        USERS,
        "vault.ttl_seconds",
        "Seconds a generated passphrase waits for an admin to collect it, once.",
        Kind.INTEGER,
    ),
    Variable(
        "STELLARS_DOCKER_SOCKET_GROUP",
        USERS,
        "docker_access.socket_group",
        "Members get the host's Docker socket in their server (root-equivalent).",
    ),
    Variable(
        "STELLARS_DOCKER_PRIVILEGED_GROUP",
        USERS,
        "docker_access.privileged_group",
        "Members get a privileged container (root-equivalent).",
    ),
    Variable(
        "STELLARS_ORPHAN_VOLUMES",
        USERS,
        "orphan_volumes",
        "keep: a deleted or renamed user's volumes stay, listed as orphaned; delete: removed.",
        Kind.CHOICE,
        choices=tuple(policy.value for policy in OrphanVolumePolicy),
        parse=_choice(OrphanVolumePolicy),
    ),
    # --- notifications -------------------------------------------------------------------
    Variable(
        "STELLARS_BROADCAST_CONCURRENCY",
        NOTIFICATIONS,
        "broadcast.concurrency",
        "Servers a broadcast is delivered to at once.",
        Kind.INTEGER,
    ),
    Variable(
        "STELLARS_BROADCAST_TIMEOUT",
        NOTIFICATIONS,
        "broadcast.timeout_seconds",
        "Seconds a server may take to accept a notification.",
        Kind.INTEGER,
    ),
    # --- branding ------------------------------------------------------------------------
    Variable(
        "JUPYTERHUB_LOGO_URI",
        BRANDING,
        "branding.logo_uri",
        "Hub logo: file:///path (copied) or http(s):// URL (linked); empty keeps the stock one.",
    ),
    Variable(
        "JUPYTERHUB_FAVICON_URI",
        BRANDING,
        "branding.favicon_uri",
        "Favicon of the hub and of JupyterLab tabs: file:///path or http(s):// URL.",
    ),
    Variable(
        "JUPYTERHUB_LAB_MAIN_ICON_URI",
        BRANDING,
        "branding.lab_main_icon_uri",
        "JupyterLab's main icon: file:///path or http(s):// URL.",
    ),
    Variable(
        "JUPYTERHUB_LAB_SPLASH_ICON_URI",
        BRANDING,
        "branding.lab_splash_icon_uri",
        "JupyterLab's splash icon: file:///path or http(s):// URL.",
    ),
)

BY_NAME: Mapping[str, Variable] = MappingProxyType({v.name: v for v in VARIABLES})
PASSWORD_FILE_VARIABLE = "JUPYTERHUB_ADMIN_PASSWORD_FILE"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


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


def _section_type(section: str) -> Any:
    return PlatformSettings.__dataclass_fields__[section].default_factory


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
        factory = _section_type(section)
        try:
            sections[section] = factory(**fields)
        except InvalidValue as error:
            variable = owner.get(f"{section}.{error.field}", f"{section}.{error.field}")
            raise SettingsError(variable, error.message) from None
    try:
        return PlatformSettings(**sections, **top)
    except InvalidValue as error:
        raise SettingsError(owner.get(error.field, error.field), error.message) from None


# --- describing the effective settings ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class SettingRow:
    """One row of the settings page and of docs/configuration.md."""

    category: str
    variable: str
    description: str
    value: str
    default: str
    allowed: str


def _field_value(settings: PlatformSettings, variable: Variable) -> object:
    if variable.section is None:
        return getattr(settings, variable.attribute)
    return getattr(getattr(settings, variable.section), variable.attribute)


def _section_class(variable: Variable) -> Any:
    if variable.section is None:
        return PlatformSettings
    return _section_type(variable.section)


def default_text(variable: Variable) -> str:
    """The default as the docs and the settings page show it."""
    if variable.default_text is not None:
        return variable.default_text
    if variable.kind is Kind.SECRET:
        return "(not set)"
    owner = _section_class(variable)
    default = owner.__dataclass_fields__[variable.attribute].default
    return _text(default, variable)


def allowed_text(variable: Variable) -> str:
    """The allowed values: a range from the policy's LIMITS, the choices, or the kind."""
    if variable.choices:
        return ", ".join(variable.choices)
    limits = getattr(_section_class(variable), "LIMITS", {})
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


def mask_password(url: str) -> str:
    """A URL with the password of its user part replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def effective_text(settings: PlatformSettings, variable: Variable) -> str:
    """The value in effect, as the settings page shows it; secrets are never shown."""
    if variable.kind is Kind.SECRET:
        return "(set)" if settings.hub.admin_password else "(not set)"
    if variable.field == "hub.proxy_api_port":
        return str(settings.hub.effective_proxy_api_port)
    if variable.field == "hub.hub_db_url":
        return mask_password(settings.hub.effective_hub_db_url)
    if variable.field == "hub.stellars_db_url":
        return mask_password(settings.hub.effective_stellars_db_url)
    return _text(_field_value(settings, variable), variable)


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
