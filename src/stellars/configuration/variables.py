"""The catalogue of the deployment's variables: every environment variable the platform reads,
the settings field it sets, what it means and how its text is parsed.

The catalogue never restates a rule of the domain: a variable's default and its allowed range
come from the field it names (the dataclass default and the policy's LIMITS), and a value
derived from other settings (the proxy's API port, the database URLs) is declared here as the
function that computes it, so every reader shows what the hub really uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any

from stellars.domain.errors import InvalidValue
from stellars.domain.gpu import GpuMode
from stellars.domain.limits import LabLimitSettings, describe_bytes, describe_cores
from stellars.domain.policies import GpuSharing
from stellars.domain.quotas import QuotaSettings
from stellars.domain.settings import (
    OrphanVolumePolicy,
    PlatformSettings,
    SharedVolumeMode,
    SpawnerKind,
)

from .quantities import SIZE_EXAMPLES, parse_cores, parse_count, parse_memory_size


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
    #: The value in effect when the hub derives it from other settings (None: the field's own).
    effective: Callable[[PlatformSettings], object] | None = None
    #: The allowed values in words, where neither the choices nor the field's LIMITS say them.
    allowed: str | None = None

    @property
    def section(self) -> str | None:
        return self.field.split(".")[0] if "." in self.field else None

    @property
    def attribute(self) -> str:
        return self.field.split(".")[-1]

    @property
    def owner(self) -> Any:
        """The settings dataclass that holds the field (a section, or PlatformSettings)."""
        return PlatformSettings if self.section is None else section_class(self.section)

    def value_in(self, settings: PlatformSettings) -> object:
        """The field's value in `settings`, as parsed (not derived)."""
        holder = settings if self.section is None else getattr(settings, self.section)
        return getattr(holder, self.attribute)


def section_class(section: str) -> Any:
    """The dataclass of one section of PlatformSettings ("hub" -> HubSettings)."""
    return PlatformSettings.__dataclass_fields__[section].default_factory


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


def _limit_text(value: float | None, show: Callable[[float], str]) -> str:
    """A lab limit setting as the settings page shows it."""
    if value is None:
        return "derived from the engine's host at start (see the facts above)"
    return "0 (no limit)" if value == 0 else show(value)


def _memory_limit(settings: PlatformSettings) -> str:
    return _limit_text(settings.lab_limits.memory_limit, lambda v: describe_bytes(int(v)))


def _cpu_limit(settings: PlatformSettings) -> str:
    return _limit_text(settings.lab_limits.cpu_limit, describe_cores)


def _pids_limit(settings: PlatformSettings) -> str:
    return _limit_text(settings.lab_limits.pids_limit, lambda v: f"{int(v)} processes")


def _storage_quota(settings: PlatformSettings) -> str:
    quota = settings.quotas.quota
    return "0 (no quota)" if quota is None else describe_bytes(quota)


_MEMORY_LOW = describe_bytes(LabLimitSettings.LIMITS["memory_limit"][0])
_QUOTA_LOW = describe_bytes(QuotaSettings.LIMITS["storage_quota"][0])
_PIDS_LOW, _PIDS_HIGH = LabLimitSettings.LIMITS["pids_limit"]
_CPU_LOW, _CPU_HIGH = LabLimitSettings.MIN_CPU_LIMIT, LabLimitSettings.MAX_CPU_LIMIT

HUB = "JupyterHub"
SPAWNER = "User servers (DockerSpawner)"
GPU = "GPU"
CULLER = "Idle culler and sessions"
ACTIVITY = "Activity monitor"
USERS = "Users and credentials"
NOTIFICATIONS = "Notifications"
BRANDING = "Branding"
HUB_PROCESS = "Hub process"
AUDIT = "Audit feed"

CATEGORIES = (
    HUB,
    SPAWNER,
    GPU,
    CULLER,
    ACTIVITY,
    USERS,
    NOTIFICATIONS,
    AUDIT,
    BRANDING,
    HUB_PROCESS,
)

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
        "STELLARS_AUTHENTICATOR",
        HUB,
        "hub.authenticator",
        "How users log in. native: NativeAuthenticator (sign-up with an admin's authorization, "
        "the admin's password, generated passphrases for users an admin creates). Or any "
        "JupyterHub authenticator by its entry-point name (dummy, shared-password, pam, "
        "generic-oauth, github, ...) or class path (package.module.Class), configured in a "
        "config file that loads this one: the platform's pages and API work with every one; "
        "passwords and passphrases need native.",
    ),
    Variable(
        "JUPYTERHUB_SIGNUP_ENABLED",
        HUB,
        "hub.signup_enabled",
        "Whether people may sign up (an admin authorizes each new account).",
        Kind.FLAG,
    ),
    Variable(
        "STELLARS_PASSWORD_MIN_LENGTH",
        HUB,
        "logins.password_min_length",
        "Least length of a password people choose at sign-up or change (native only); the "
        "admin's password must have it too.",
        Kind.INTEGER,
    ),
    Variable(
        "STELLARS_PASSWORD_COMMON_CHECK",
        HUB,
        "logins.password_common_check",
        "Refuse passwords on NativeAuthenticator's list of the 10,000 most common ones at "
        "sign-up and change (native only).",
        Kind.FLAG,
    ),
    Variable(
        "STELLARS_LOGIN_LOCKOUT_FAILURES",
        HUB,
        "logins.lockout_failures",
        "Failed logins of one user name, from anywhere, after which it is locked for "
        "STELLARS_LOGIN_LOCKOUT_SECONDS (native only; 0: never). Anyone can lock any name this "
        "way; more than STELLARS_LOGIN_ATTEMPTS_PER_MINUTE keeps one address from doing it in "
        "a minute.",
        Kind.INTEGER,
    ),
    Variable(
        "STELLARS_LOGIN_LOCKOUT_SECONDS",
        HUB,
        "logins.lockout_seconds",
        "How long a locked user name stays locked; every further failure locks it again. Short, "
        "so a stranger cannot keep anyone out for long once they stop.",
        Kind.INTEGER,
    ),
    Variable(
        "STELLARS_LOGIN_ATTEMPTS_PER_MINUTE",
        HUB,
        "logins.attempts_per_minute",
        "Sign-ups and failed logins one address may make in any minute (native only; 0: no "
        "limit); more are answered 429 unchecked. IPv6 addresses count by their /64.",
        Kind.INTEGER,
    ),
    Variable(
        "STELLARS_TRUSTED_PROXIES",
        HUB,
        "logins.trusted_proxies",
        "Addresses or networks (comma-separated) of reverse proxies in front of the hub's "
        "proxy, whose X-Forwarded-For is believed for the per-address limit. Behind a reverse "
        "proxy (or Docker's port publishing from 127.0.0.1) list it here, or every client "
        "shares its address and its limit.",
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
        effective=lambda settings: settings.hub.effective_proxy_api_port,
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
        effective=lambda settings: settings.hub.effective_hub_db_url,
    ),
    Variable(
        "STELLARS_DB_URL",
        HUB,
        "hub.stellars_db_url",
        "The platform's database (activity samples, session deadlines): SQLite or PostgreSQL.",
        Kind.URL,
        default_text="sqlite:///<data dir>/stellars.sqlite",
        effective=lambda settings: settings.hub.effective_stellars_db_url,
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
        "auto: Docker containers, and the hub refuses to start when no engine answers; docker: "
        "Docker containers, and the hub starts even when the engine does not answer yet (spawns "
        "say why); local: processes on the hub's machine, as the hub's own user, only for a hub "
        "that listens on loopback alone and does not run as root (make run's fallback); "
        "swarm: Docker Swarm services through the manager at DOCKER_HOST, on the attachable "
        "overlay network JUPYTERHUB_NETWORK_NAME, each user's lab on the node that holds their "
        "volumes; needs a PostgreSQL STELLARS_DB_URL (docs/deploy.md).",
        Kind.CHOICE,
        choices=tuple(kind.value for kind in SpawnerKind),
        parse=_choice(SpawnerKind),
    ),
    Variable(
        "STELLARS_ALLOW_LOCAL_AS_ROOT",
        SPAWNER,
        "spawner.local_as_root",
        "Let local servers run under a hub that runs as root, and so as root on this machine: "
        "for throwaway test machines only.",
        Kind.FLAG,
    ),
    Variable(
        "STELLARS_SWARM_PIN_VOLUMES",
        SPAWNER,
        "spawner.swarm_pin_volumes",
        "Swarm mode: start each user's lab on the node that holds their volumes (chosen at "
        "their first start: the node with the fewest labs). Turn off only where the volumes "
        "live on storage every node reaches (an NFS server through the local driver's "
        "options): labs then go to any node.",
        Kind.FLAG,
    ),
    Variable(
        "STELLARS_SWARM_JOB_IMAGE",
        SPAWNER,
        "spawner.swarm_job_image",
        "Swarm mode: the image of the one-off jobs that reset a user's volumes on the node that "
        "holds them (they run `python -m stellars.entrypoints.volume_job`): the hub's own "
        "image, which every node has (deploy/stack.yml).",
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
    Variable(
        "STELLARS_SHARED_VOLUME",
        SPAWNER,
        "spawner.shared_volume",
        "How every server mounts the one volume all users share (jupyterhub_shared at "
        "/mnt/shared). Every lab runs as the same user, so nothing keeps users apart there. "
        "read-only: users read what an admin puts there (docker run --rm -v "
        "jupyterhub_shared:/mnt/shared -v /path/to/data:/data:ro alpine cp -a /data/. "
        "/mnt/shared/); read-write: any user may also change or delete any other user's files "
        "there; off: not mounted. Servers get a change at their next start.",
        Kind.CHOICE,
        choices=tuple(mode.value for mode in SharedVolumeMode),
        parse=_choice(SharedVolumeMode),
    ),
    Variable(
        "STELLARS_ALLOWED_IMAGES",
        SPAWNER,
        "spawner.allowed_images",
        "The lab images group policies may give their members (separated by commas or "
        "spaces); a policy naming any other is refused. A member of groups whose policies "
        "allow several chooses at each start. Users without such a policy get "
        "JUPYTERHUB_NOTEBOOK_IMAGE.",
        default_text="JUPYTERHUB_NOTEBOOK_IMAGE alone",
        effective=lambda settings: ", ".join(settings.spawner.allowed_image_list),
    ),
    Variable(
        "STELLARS_LAB_MEMORY_LIMIT",
        SPAWNER,
        "lab_limits.memory_limit",
        "Memory each lab may use, swap off: past it the kernel's OOM killer stops a process "
        "inside that lab (its user is told when it was the server), never the hub or another "
        "lab. 0: no limit. Unset: derived from the engine's host at start (the hub's log and "
        "this page say the value). Group policies may give their members more or less.",
        parse=parse_memory_size,
        default_text="three quarters of the engine's host memory, leaving at least 1 GiB",
        effective=_memory_limit,
        allowed=f"0 (no limit), or at least {_MEMORY_LOW}: {SIZE_EXAMPLES}",
    ),
    Variable(
        "STELLARS_LAB_CPU_LIMIT",
        SPAWNER,
        "lab_limits.cpu_limit",
        "CPU cores' worth of time each lab may use (1.5: one and a half cores), however many "
        "processes it runs. 0: no limit. Unset: the engine's host's cores less one, at least "
        "one.",
        parse=parse_cores,
        default_text="the engine's host's cores less one, at least one",
        effective=_cpu_limit,
        allowed=f"0 (no limit), or {_CPU_LOW:g}-{_CPU_HIGH:g} cores",
    ),
    Variable(
        "STELLARS_LAB_PIDS_LIMIT",
        SPAWNER,
        "lab_limits.pids_limit",
        "Processes and threads each lab may run at once: a fork bomb stops there. 0: no limit. "
        "Unset: 2048, or on an engine's host of more than 32 cores, cores² + 1024 (a pool of "
        "one worker per core, each with a thread per core, and JupyterLab's own).",
        parse=parse_count,
        default_text="2048; cores² + 1024 on a host of more than 32 cores",
        effective=_pids_limit,
        allowed=f"0 (no limit), or {_PIDS_LOW}-{_PIDS_HIGH}",
    ),
    Variable(
        "STELLARS_STORAGE_QUOTA",
        SPAWNER,
        "quotas.storage_quota",
        "A soft storage quota per user over the sizes of their volumes (home, workspace, "
        "cache) as last measured (JUPYTERHUB_ACTIVITYMON_VOLUMES_UPDATE_INTERVAL). A running "
        "lab is warned at 90 %; over the quota a start is refused with the "
        "volume reset offered (which works whatever the usage). 0 or unset: no quota. Group "
        "policies may give their members another (the most generous wins).",
        parse=parse_memory_size,
        effective=_storage_quota,
        allowed=f"0 (no quota), or at least {_QUOTA_LOW}: {SIZE_EXAMPLES}",
    ),
    # --- GPU -----------------------------------------------------------------------------
    Variable(
        "JUPYTERHUB_GPU_ENABLED",
        GPU,
        "gpu.mode",
        "0 off, 1 all GPUs to every server, 2 detect at start and, when found, give them out "
        "one by one (STELLARS_GPUS_PER_SERVER each, as STELLARS_GPU_SHARING says, unless a "
        "group policy says otherwise).",
        Kind.CHOICE,
        choices=("0", "1", "2"),
        parse=_gpu_mode,
    ),
    Variable(
        "STELLARS_GPUS_PER_SERVER",
        GPU,
        "gpu.per_server",
        "GPUs each server gets in mode 2 where no group policy decides (0: none). A start that "
        "cannot get them is refused, naming who holds each GPU.",
        Kind.INTEGER,
    ),
    Variable(
        "STELLARS_GPU_SHARING",
        GPU,
        "gpu.sharing",
        "How those GPUs are given in mode 2 where no group policy decides. shared: a GPU may "
        "serve several servers, spread by load, so every server starts; exclusive: a GPU serves "
        "one server at a time, and a start finding none free is refused.",
        Kind.CHOICE,
        choices=tuple(sharing.value for sharing in GpuSharing),
        parse=_choice(GpuSharing),
    ),
    Variable(
        "STELLARS_GPU_USE_INTERVAL",
        GPU,
        "gpu.use_seconds",
        "Seconds between two readings of the GPUs' memory in use and utilisation (nvidia-smi, "
        "in mode 2 when GPUs were found), shown on the activity page.",
        Kind.INTEGER,
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
    Variable(
        "STELLARS_CULL_SPARE_BUSY",
        CULLER,
        "busy.enabled",
        "Count a server that is computing as active for culling: one whose CPU (or GPU, when "
        "it holds one) stayed at or above its threshold over the last busy window is kept "
        "alive, and its idle timeout runs from the end of its last busy window.",
        Kind.FLAG,
    ),
    Variable(
        "STELLARS_CULL_BUSY_CPU_PERCENT",
        CULLER,
        "busy.cpu_percent",
        "Average CPU over a busy window, in percent of ONE core (from the container's "
        "cumulative CPU time), at or above which a server is busy: 100 is one core busy the "
        "whole window; a lab limited to 0.5 CPU never exceeds 50.",
        Kind.INTEGER,
    ),
    Variable(
        "STELLARS_CULL_BUSY_GPU_PERCENT",
        CULLER,
        "busy.gpu_percent",
        "GPU utilisation in percent (the busiest of the server's GPUs, nvidia-smi) at or above "
        "which, at both ends of a busy window, a server holding GPUs is busy.",
        Kind.INTEGER,
    ),
    Variable(
        "STELLARS_CULL_BUSY_WINDOW_SECONDS",
        CULLER,
        "busy.window_seconds",
        "Seconds between two readings of every running server's load: the window busy-ness is "
        "measured over. A busy window keeps its server active for two windows after its end.",
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
    # --- audit feed ----------------------------------------------------------------------
    Variable(
        "STELLARS_AUDIT_RETENTION_DAYS",
        AUDIT,
        "audit.retention_days",
        "Days an entry of the audit feed is kept; older ones are pruned every hour.",
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
    # --- hub process ---------------------------------------------------------------------
    Variable(
        "STELLARS_LOOP_STALL_REPORT_MS",
        HUB_PROCESS,
        "hub_process.loop_stall_report_ms",
        "Milliseconds the hub's event loop may stay blocked before the log shows the code "
        "blocking it (a warning with its stack, once per stall); 0: never.",
        Kind.INTEGER,
    ),
    Variable(
        "STELLARS_HUB_LOOP_REALTIME",
        HUB_PROCESS,
        "hub_process.loop_thread_realtime",
        "Run the hub's event-loop thread, and only it, under the kernel's real-time "
        "round-robin policy at the lowest priority (SCHED_RR 1), so that pages and API calls "
        "never wait behind booting labs and the engine for a CPU. Needs CAP_SYS_NICE (root on "
        "the host; cap_add: SYS_NICE in a container); without it the hub logs why and runs "
        "as usual.",
        Kind.FLAG,
    ),
)

BY_NAME: Mapping[str, Variable] = MappingProxyType({v.name: v for v in VARIABLES})
PASSWORD_FILE_VARIABLE = "JUPYTERHUB_ADMIN_PASSWORD_FILE"
