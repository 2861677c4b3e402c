"""Every configurable knob of the platform as frozen, validated values.

`stellars.configuration` turns the deployment's environment into one `PlatformSettings`, once,
at hub start; a bad value stops the hub with a message naming the variable, never a silent
default. The composition function (`stellars.platform.build`) and the hub
configuration both read this one value, so a name used by the services is the same value that
configures DockerSpawner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from ipaddress import ip_address
from types import MappingProxyType
from typing import ClassVar
from urllib.parse import urlsplit

from .activity import ActivityPolicy
from .audit import RETENTION_BOUNDS
from .branding import BrandingPlan, plan_branding
from .busy import BusyPolicy
from .credentials import PassphrasePolicy, VaultPolicy
from .docker_access import DockerAccessGroups
from .errors import InvalidValue
from .gpu import GpuMode
from .limits import LabLimitSettings
from .logins import LoginPolicy
from .policies import GpuSharing
from .quotas import QuotaSettings
from .sessions import SessionPolicy
from .validation import Bounds, check_bounds, non_empty_text
from .volumes import DockerNaming, UserVolume, user_volumes

#: Where JupyterHub's own state and the stellars database live when nothing else is set.
HUB_DB_FILE = "jupyterhub.sqlite"
#: The authenticator setting of NativeAuthenticator, the default: the only one whose passwords
#: the platform keeps (sign-up, the admin's password, generated passphrases).
NATIVE_AUTHENTICATOR = "native"
STELLARS_DB_FILE = "stellars.sqlite"


class OrphanVolumePolicy(str, Enum):
    """What happens to a deleted or renamed user's volumes."""

    KEEP = "keep"  # kept and listed as orphaned, never silently reused by a new user
    DELETE = "delete"


class SharedVolumeMode(str, Enum):
    """How every user's server mounts the one volume all users share (`/mnt/shared`).

    Every lab runs as the same uid, so on a writable share Unix permissions keep no user from
    changing or deleting what another keeps there. Read-only is the default: users read what an
    admin puts there, and nobody can spoil it for the others; per-group team folders are for
    the group policies, not for this one volume.
    """

    OFF = "off"  # not mounted
    READ_ONLY = "read-only"
    READ_WRITE = "read-write"  # every user may change and delete every other user's files


class SpawnerKind(str, Enum):
    """Which spawner runs user servers.

    Local processes run as the hub's own user, with its files, its environment and its Docker
    access: they are never chosen for anyone. Only a deployer who asks for them gets them, on a
    hub that only this machine can reach (`PlatformSettings`) and not as root (deploy/).
    """

    AUTO = "auto"  # Docker; with no engine answering at start the hub refuses to start
    DOCKER = "docker"  # Docker; the hub starts anyway, spawns say what is wrong
    LOCAL = "local"
    SWARM = "swarm"  # Swarm services on the manager at `docker_url`; PostgreSQL only


def is_sqlite(url: str) -> bool:
    """Whether a database URL names SQLite (any driver: sqlite://, sqlite+pysqlite://)."""
    return url.strip().lower().split(":", 1)[0].split("+", 1)[0] == "sqlite"


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable only from this machine (an empty host or 0.0.0.0 means every
    interface)."""
    if host.lower() == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere


def _url_without_trailing_slash(field_name: str, value: str) -> str:
    text = non_empty_text(field_name, value).strip()
    if not text.startswith(("http://", "https://")):
        raise InvalidValue(field_name, f"must be an http:// or https:// URL, got {value!r}")
    return text.rstrip("/")


def _check_tls_pair(cert: str, key: str) -> None:
    """The proxy serves HTTPS with a certificate and its key: both absolute paths, or neither."""
    for field_name, path, partner in (("ssl_cert", cert, key), ("ssl_key", key, cert)):
        if path and not path.startswith("/"):
            raise InvalidValue(field_name, f"must be an absolute path, got {path!r}")
        if path and not partner:
            other = "private key" if field_name == "ssl_cert" else "certificate"
            raise InvalidValue(field_name, f"is set without its {other}: set both or neither")


@dataclass(frozen=True, slots=True, kw_only=True)
class HubSettings:
    """Where the hub listens and keeps its state, and who administers it.

    `proxy_api_port` None means the public port + 1; empty database URLs mean SQLite files in
    `data_dir`. `admin_password` empty means the admin signs up on first start.
    """

    LIMITS: ClassVar[Mapping[str, Bounds]] = MappingProxyType(
        {"public_port": (1, 65_535), "proxy_api_port": (1, 65_535)}
    )

    admin_username: str = "admin"
    admin_password: str = field(default="", repr=False)
    #: How users log in: `native`, a JupyterHub authenticator's entry-point name, or a class path.
    authenticator: str = NATIVE_AUTHENTICATOR
    signup_enabled: bool = True
    base_url: str = "/"
    public_ip: str = "127.0.0.1"
    public_port: int = 8000
    proxy_api_port: int | None = None
    hub_bind_url: str = "http://127.0.0.1:8081"
    hub_connect_url: str = ""
    data_dir: str = "."
    hub_db_url: str = field(default="", repr=False)
    stellars_db_url: str = field(default="", repr=False)
    proxy_command: str = "configurable-http-proxy"
    ssl_cert: str = ""  # TLS at the proxy: certificate and key paths, both or neither
    ssl_key: str = ""

    def __post_init__(self) -> None:
        non_empty_text("admin_username", self.admin_username)
        if self.admin_username != self.admin_username.strip().lower():
            raise InvalidValue(
                "admin_username",
                "must be lower case without surrounding spaces (JupyterHub "
                f"normalises user names), got {self.admin_username!r}",
            )
        if self.admin_password and len(self.admin_password) < 8:
            raise InvalidValue("admin_password", "must be at least 8 characters long")
        non_empty_text("authenticator", self.authenticator)
        if self.admin_password and not self.keeps_passwords:
            raise InvalidValue(
                "admin_password",
                "is kept only with NativeAuthenticator (authenticator 'native'); users of "
                f"{self.authenticator!r} log in with their identity provider's passwords",
            )
        bounds = dict(self.LIMITS)
        if self.proxy_api_port is None:
            bounds.pop("proxy_api_port")
        check_bounds(self, bounds)
        if not self.base_url.startswith("/"):
            raise InvalidValue("base_url", f"must start with '/', got {self.base_url!r}")
        non_empty_text("public_ip", self.public_ip)
        object.__setattr__(
            self, "hub_bind_url", _url_without_trailing_slash("hub_bind_url", self.hub_bind_url)
        )
        if self.hub_connect_url:
            object.__setattr__(
                self,
                "hub_connect_url",
                _url_without_trailing_slash("hub_connect_url", self.hub_connect_url),
            )
        non_empty_text("data_dir", self.data_dir)
        non_empty_text("proxy_command", self.proxy_command)
        _check_tls_pair(self.ssl_cert, self.ssl_key)

    @property
    def keeps_passwords(self) -> bool:
        """Whether the platform keeps users' passwords (NativeAuthenticator), rather than an
        identity provider."""
        return self.authenticator == NATIVE_AUTHENTICATOR

    @property
    def loopback_only(self) -> bool:
        """Whether only this machine can reach the hub: the proxy and the hub's own port."""
        return is_loopback(self.public_ip) and is_loopback(
            urlsplit(self.hub_bind_url).hostname or ""
        )

    @property
    def base_path(self) -> str:
        """The base URL with exactly one trailing '/' ("/" or "/prefix/")."""
        return self.base_url.rstrip("/") + "/"

    @property
    def effective_proxy_api_port(self) -> int:
        return self.proxy_api_port if self.proxy_api_port is not None else self.public_port + 1

    @property
    def effective_hub_db_url(self) -> str:
        return self.hub_db_url or f"sqlite:///{self.data_dir.rstrip('/')}/{HUB_DB_FILE}"

    @property
    def effective_stellars_db_url(self) -> str:
        return self.stellars_db_url or f"sqlite:///{self.data_dir.rstrip('/')}/{STELLARS_DB_FILE}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SpawnerSettings:
    """How user servers are started: the spawner, the lab image and DockerSpawner's names.

    `volumes` is DockerSpawner's `volumes` dict (name template -> mount point); the entries
    whose name contains {username} are the per-user volumes the platform lists and resets.
    """

    LIMITS: ClassVar[Mapping[str, Bounds]] = MappingProxyType({"start_timeout_seconds": (10, 3600)})

    kind: SpawnerKind = SpawnerKind.AUTO
    image: str = "stellars-hub-lab:latest"
    network_name: str = "bridge"
    docker_url: str = "unix:///var/run/docker.sock"
    prefix: str = "jupyterlab"
    name_template: str = "jupyterlab-{username}"
    volumes: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    start_timeout_seconds: int = 120
    #: Local servers for a hub that runs as root (they then run as root): test rigs only.
    local_as_root: bool = False
    #: How the volume every user shares is mounted (see SharedVolumeMode for the default).
    shared_volume: SharedVolumeMode = SharedVolumeMode.READ_ONLY
    #: The images group policies may give (separated by commas or spaces); empty: `image`.
    allowed_images: str = ""
    #: Swarm mode: each user's lab on the node holding their volumes (stellars.domain.swarm);
    #: False only where the volumes are on storage every node reaches.
    swarm_pin_volumes: bool = True
    #: Swarm mode: the image of the one-off jobs that remove volumes on a node (the hub's own
    #: image, which every node has: it runs `python -m stellars.entrypoints.volume_job`).
    swarm_job_image: str = "stellars-hub:latest"

    def __post_init__(self) -> None:
        if not isinstance(self.kind, SpawnerKind):
            raise InvalidValue("kind", f"must be one of {', '.join(k.value for k in SpawnerKind)}")
        if not isinstance(self.shared_volume, SharedVolumeMode):
            choices = ", ".join(mode.value for mode in SharedVolumeMode)
            raise InvalidValue("shared_volume", f"must be one of {choices}")
        non_empty_text("image", self.image)
        non_empty_text("swarm_job_image", self.swarm_job_image)
        non_empty_text("network_name", self.network_name)
        non_empty_text("docker_url", self.docker_url)
        non_empty_text("name_template", self.name_template)
        check_bounds(self, self.LIMITS)
        object.__setattr__(self, "volumes", MappingProxyType(dict(self.volumes)))
        self.user_volumes  # noqa: B018  (validates the labels now, not at the first request)

    @property
    def naming(self) -> DockerNaming:
        """The DockerSpawner settings that container and volume names depend on."""
        return DockerNaming(prefix=self.prefix, name_template=self.name_template, image=self.image)

    @property
    def user_volumes(self) -> tuple[UserVolume, ...]:
        return user_volumes(self.volumes)

    @property
    def allowed_image_list(self) -> tuple[str, ...]:
        """The images a group policy may name, in the deployer's order without repeats: the
        lab image alone unless the deployer lists others."""
        named = self.allowed_images.replace(",", " ").split()
        return tuple(dict.fromkeys(named)) or (self.image,)


@dataclass(frozen=True, slots=True, kw_only=True)
class BroadcastPolicy:
    """Delivery bounds: servers contacted at once, and seconds allowed per server."""

    LIMITS: ClassVar[Mapping[str, Bounds]] = MappingProxyType(
        {"concurrency": (1, 200), "timeout_seconds": (1, 120)}
    )

    concurrency: int = 10
    timeout_seconds: int = 5

    def __post_init__(self) -> None:
        check_bounds(self, self.LIMITS)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditSettings:
    """The audit feed: how many days an entry is kept before the periodic prune deletes it."""

    LIMITS: ClassVar[Mapping[str, Bounds]] = MappingProxyType({"retention_days": RETENTION_BOUNDS})

    retention_days: int = 365

    def __post_init__(self) -> None:
        check_bounds(self, self.LIMITS)


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuSettings:
    """GPU mode, the image and time the container probe may use in auto mode, and what a
    server gets where no group policy decides, when auto mode gives GPUs out one by one.

    `per_server` GPUs (default 1) are `sharing` (default shared: spread by load, so a host with
    fewer GPUs than running servers still starts every server, and no server that started
    before GPUs were given out one by one is refused now; exclusive GPUs are what a group
    policy, or this setting, asks for). `use_seconds`: how often the GPUs' memory in use and
    utilisation are read for the activity page.
    """

    LIMITS: ClassVar[Mapping[str, Bounds]] = MappingProxyType(
        {"probe_timeout_seconds": (1, 600), "per_server": (0, 64), "use_seconds": (5, 3600)}
    )

    mode: GpuMode = GpuMode.AUTO
    probe_image: str = "nvidia/cuda:13.0.2-base-ubuntu24.04"
    probe_timeout_seconds: int = 20
    per_server: int = 1
    sharing: GpuSharing = GpuSharing.SHARED
    use_seconds: int = 30

    def __post_init__(self) -> None:
        if not isinstance(self.mode, GpuMode):
            raise TypeError("mode must be a GpuMode; parse it with GpuMode.parse")
        if not isinstance(self.sharing, GpuSharing):
            raise InvalidValue("sharing", f"must be exclusive or shared, got {self.sharing!r}")
        check_bounds(self, self.LIMITS)


@dataclass(frozen=True, slots=True, kw_only=True)
class StatsSettings:
    """Background refresh periods, so no web request waits on Docker."""

    LIMITS: ClassVar[Mapping[str, Bounds]] = MappingProxyType(
        {"container_stats_seconds": (2, 3600), "volume_sizes_seconds": (10, 86_400)}
    )

    container_stats_seconds: int = 10
    volume_sizes_seconds: int = 3600

    def __post_init__(self) -> None:
        check_bounds(self, self.LIMITS)


@dataclass(frozen=True, slots=True, kw_only=True)
class HubProcessSettings:
    """How the hub process itself is watched and scheduled (docs/decisions/0004): knobs of the
    process that serves every page, not of any feature."""

    LIMITS: ClassVar[Mapping[str, Bounds]] = MappingProxyType({"loop_stall_report_ms": (0, 60_000)})

    #: Log where the hub's event loop is blocked once it is this late; 0: never.
    loop_stall_report_ms: int = 1000
    #: Run the hub's event-loop thread under the kernel's real-time round-robin policy, lowest
    #: priority, so it never waits behind ordinary tasks for a CPU.
    loop_thread_realtime: bool = False

    def __post_init__(self) -> None:
        check_bounds(self, self.LIMITS)
        if not isinstance(self.loop_thread_realtime, bool):  # "0" would be truthy: real time
            raise InvalidValue(
                "loop_thread_realtime", f"must be true or false, got {self.loop_thread_realtime!r}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class BrandingSettings:
    """Logo, favicon and JupyterLab icons as URIs: file:///path, http(s)://... or empty."""

    logo_uri: str = ""
    favicon_uri: str = ""
    lab_main_icon_uri: str = ""
    lab_splash_icon_uri: str = ""

    def __post_init__(self) -> None:
        try:
            self.plan  # noqa: B018  (a bad URI stops the hub at start)
        except InvalidValue as error:  # the slot "lab-main-icon" is the field lab_main_icon_uri
            raise InvalidValue(f"{error.field.replace('-', '_')}_uri", error.message) from None

    @property
    def plan(self) -> BrandingPlan:
        return plan_branding(
            logo_uri=self.logo_uri,
            favicon_uri=self.favicon_uri,
            lab_main_icon_uri=self.lab_main_icon_uri,
            lab_splash_icon_uri=self.lab_splash_icon_uri,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformSettings:
    """Everything configurable, in one value handed to the composition function."""

    hub: HubSettings = field(default_factory=HubSettings)
    spawner: SpawnerSettings = field(default_factory=SpawnerSettings)
    lab_limits: LabLimitSettings = field(default_factory=LabLimitSettings)
    quotas: QuotaSettings = field(default_factory=QuotaSettings)
    activity: ActivityPolicy = field(default_factory=ActivityPolicy)
    sessions: SessionPolicy = field(default_factory=SessionPolicy)
    #: Whether the culler spares servers that are computing, and how busy counts.
    busy: BusyPolicy = field(default_factory=BusyPolicy)
    passphrases: PassphrasePolicy = field(default_factory=PassphrasePolicy)
    vault: VaultPolicy = field(default_factory=VaultPolicy)
    logins: LoginPolicy = field(default_factory=LoginPolicy)
    docker_access: DockerAccessGroups = field(default_factory=DockerAccessGroups)
    gpu: GpuSettings = field(default_factory=GpuSettings)
    broadcast: BroadcastPolicy = field(default_factory=BroadcastPolicy)
    audit: AuditSettings = field(default_factory=AuditSettings)
    stats: StatsSettings = field(default_factory=StatsSettings)
    hub_process: HubProcessSettings = field(default_factory=HubProcessSettings)
    branding: BrandingSettings = field(default_factory=BrandingSettings)
    orphan_volumes: OrphanVolumePolicy = OrphanVolumePolicy.KEEP

    def __post_init__(self) -> None:
        if self.spawner.kind is SpawnerKind.LOCAL and not self.hub.loopback_only:
            raise InvalidValue(
                "spawner.kind",
                "local servers run as the hub's own user, so only a hub that nobody else "
                "can reach may have them: the proxy and the hub must both listen on loopback "
                "only; use docker",
            )
        if self.spawner.kind is SpawnerKind.SWARM and is_sqlite(self.hub.effective_stellars_db_url):
            raise InvalidValue(
                "hub.stellars_db_url",
                "swarm mode needs a database every node reaches (the sampler runs on each "
                "node): set a postgresql:// URL, SQLite is a file on the hub's machine",
            )
        least = self.logins.password_min_length
        if self.hub.admin_password and len(self.hub.admin_password) < least:
            raise InvalidValue(
                "hub.admin_password",
                f"must be at least {least} characters long, as every password people choose "
                "(logins.password_min_length)",
            )

    @property
    def admin_username(self) -> str:
        return self.hub.admin_username
