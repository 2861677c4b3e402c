# stellars-hub composition root: `jupyterhub -f deploy/jupyterhub_config.py`.
#
# The only place that reads environment variables and builds adapters. Five sections:
# (1) environment, (2) data literals, (3) logic calls: validated settings, adapters and the one
# composition function, (4) JupyterHub settings, (5) services, roles and callbacks. A bad value
# stops the hub at start with one line naming the variable; nothing falls back silently.
# Every variable, its default and its range: stellars.configuration (and the /hub/settings page).
import os  # the environment, read in section 1 only
import sys  # the interpreter that runs the managed services and local servers
from pathlib import Path  # files of the data directory

from stellars.adapters.auth import NativeCredentialStore, native_templates  # passwords table
from stellars.adapters.docker import (  # the Docker engine, connected lazily, off the loop
    ContainerNvidiaSmiProbe,
    DockerContainerControl,
    DockerContainerStats,
    DockerEngine,
    DockerVolumeStore,
    connect,
)
from stellars.adapters.files import StaticDirectoryAssets  # branding files for the hub
from stellars.adapters.jupyterhub import (  # what runs inside the hub process
    BRANDING_DIR_SETTING,
    HUB_HANDLE_SETTING,
    LAB_FAVICON_SETTING,
    PLATFORM_SETTING,
    TEMPLATES_DIR,
    HubHandle,
    HubLabServers,
    HubProxyRoutes,
    InProcessHubDirectory,
    LabFavicon,
    LabNotificationTransport,
    PreSpawnHook,
    SpawnBase,
    branding_base,
    custom_scopes,
    hub_db_kwargs,
    platform_roles,
)
from stellars.adapters.passwords import XkcdPasswordGenerator  # passphrases for new users
from stellars.adapters.sql import (  # the platform's tables
    SqlActivityStore,
    SqlDatabase,
    SqlEventLog,
    SqlSessionStore,
)
from stellars.adapters.system import SystemClock  # the wall clock, in UTC
from stellars.adapters.vault import ProcessMemoryVault  # one-shot passphrases, memory only
from stellars.configuration import (  # the catalogue of variables
    SettingsError,
    settings_from_environment,
    variable_for,
)
from stellars.domain.branding import AssetKind, AssetSlot  # logo and favicon in the pages
from stellars.domain.errors import InvalidValue  # a setting the adapters reveal as unusable
from stellars.domain.settings import SpawnerKind  # docker or local servers
from stellars.entrypoints import activity_sampler, idle_culler  # the managed services
from stellars.entrypoints.hub import choose_spawner, local_lab_available  # start-up checks
from stellars.entrypoints.service_options import service_environment  # their database URL
from stellars.platform import build  # the one composition function

c = get_config()  # noqa: F821  (JupyterHub's config object, provided when the file is loaded)


def stop(message: str) -> SystemExit:
    """Stop the hub with one readable line instead of a traceback."""
    return SystemExit(f"stellars-hub: configuration error: {message}")


def say(message: str) -> None:
    """One line in the hub's log at start (JupyterHub's logging starts after this file)."""
    print(f"[stellars-hub] {message}", file=sys.stderr, flush=True)


def read_text(path: str) -> str:
    """A secret file's contents (JUPYTERHUB_ADMIN_PASSWORD_FILE)."""
    return Path(path).read_text()


# ---------------------------------------------------------------------------------------------
# 1. Environment
# ---------------------------------------------------------------------------------------------
ENVIRONMENT = dict(os.environ)  # every variable of stellars.configuration.VARIABLES
WORKING_DIR = os.getcwd()  # the default data directory

# ---------------------------------------------------------------------------------------------
# 2. Data literals
# ---------------------------------------------------------------------------------------------
# DockerSpawner's volumes (name template -> mount point in the lab image's user home).
# Entries with {username} are per user: the platform lists, sizes and resets them by label.
DOCKER_SPAWNER_VOLUMES = {
    "jupyterlab-{username}_home": "/home/jovyan",  # label "home"
    "jupyterlab-{username}_workspace": "/home/jovyan/work",  # label "workspace"
    "jupyterlab-{username}_cache": "/home/jovyan/.cache",  # label "cache"
    "jupyterhub_shared": "/mnt/shared",  # one volume shared by every user
}
SAMPLER_SERVICE = "activity-sampler"  # managed service name of the activity sampler
SAMPLER_SCOPES = ["list:users", "read:users", "read:users:activity", "read:servers"]
CULLER_SERVICE = "idle-culler"  # managed service name of jupyterhub-idle-culler
# What the culler needs to list servers and stop them, nothing more (no user deletion).
CULLER_SCOPES = [
    "list:users",
    "read:users",
    "read:users:activity",
    "read:servers",
    "delete:servers",
]

# ---------------------------------------------------------------------------------------------
# 3. Logic calls: validated settings, adapters, the platform
# ---------------------------------------------------------------------------------------------
try:  # every variable parsed and checked once; a bad one names itself
    SETTINGS = settings_from_environment(
        ENVIRONMENT, cwd=WORKING_DIR, volumes=DOCKER_SPAWNER_VOLUMES, read_file=read_text
    )
except SettingsError as error:
    raise stop(f"{error.field}: {error.message}") from None
HUB = SETTINGS.hub  # where the hub listens and keeps its state
SPAWNER = SETTINGS.spawner  # image, network and DockerSpawner names
DATA_DIR = Path(HUB.data_dir).resolve()  # SQLite files, cookie secret, pid files
DATA_DIR.mkdir(parents=True, exist_ok=True)
for TLS_FIELD, TLS_PATH in (("hub.ssl_cert", HUB.ssl_cert), ("hub.ssl_key", HUB.ssl_key)):
    if TLS_PATH and not os.access(TLS_PATH, os.R_OK):  # else the proxy fails later, unclearly
        raise stop(f"{variable_for(TLS_FIELD)}: cannot read {TLS_PATH}")
BRANDING_DIR = DATA_DIR / "static"  # copies of file:// branding, served at BRANDING_URL
BRANDING_URL = branding_base(HUB.base_path)  # where browsers load those copies
CHOICE = choose_spawner(SPAWNER)  # Docker when it answers (auto), else local processes
if CHOICE.kind is SpawnerKind.LOCAL:
    say(
        f"USER SERVERS RUN AS LOCAL PROCESSES: {CHOICE.reason}. Start a Docker engine and "
        "restart the hub to give every user a container."
    )
    if not local_lab_available():
        say("jupyter_server is not installed here, so servers cannot start: pip install jupyterlab")
elif CHOICE.image_present is False:
    say(
        f"the lab image {SPAWNER.image} is not on the Docker engine: `make run` builds the "
        "project's lab image, or set JUPYTERHUB_NOTEBOOK_IMAGE to one the engine has or can pull"
    )

HUB_HANDLE = HubHandle()  # the JupyterHub application, bound when the hub registers handlers
CLOCK = SystemClock()
DATABASE = SqlDatabase.from_url(HUB.effective_stellars_db_url)  # shared with the sampler
DOCKER = DockerEngine(lambda: connect(SPAWNER.docker_url, timeout_seconds=30))  # lazy connect
try:
    PLATFORM = build(  # every domain service, from SETTINGS and one adapter per port
        SETTINGS,
        clock=CLOCK,
        directory=InProcessHubDirectory(HUB_HANDLE),
        activity_store=SqlActivityStore(DATABASE, half_life=SETTINGS.activity.half_life),
        session_store=SqlSessionStore(DATABASE),
        volume_store=DockerVolumeStore(DOCKER),
        containers=DockerContainerControl(DOCKER),
        container_stats=DockerContainerStats(DOCKER),
        gpu_probe=ContainerNvidiaSmiProbe(
            DOCKER, SETTINGS.gpu.probe_image, timeout_seconds=SETTINGS.gpu.probe_timeout_seconds
        ),
        transport=LabNotificationTransport(HUB_HANDLE),  # per-server, single-use tokens
        passwords=XkcdPasswordGenerator(),
        accounts=NativeCredentialStore(lambda: HUB_HANDLE.app.db),
        vault=ProcessMemoryVault(clock=CLOCK, policy=SETTINGS.vault),
        assets=StaticDirectoryAssets(BRANDING_DIR),
        proxy=HubProxyRoutes(lambda: HUB_HANDLE.app.proxy),
        lab_servers=HubLabServers(HUB_HANDLE),  # where a restarted lab listens; whether it serves
        event_log=SqlEventLog(DATABASE),  # what the sampler and the culler did, for the metrics
        facts={
            "User servers": f"{CHOICE.kind.value} ({CHOICE.reason})",
            "Lab image": SPAWNER.image
            + ("" if CHOICE.image_present is not False else " (not on the engine)"),
        },
    )
except InvalidValue as error:
    raise stop(f"{variable_for(error.field)}: {error.message}") from None
try:  # file:// branding copied now: a missing file stops the hub, naming its variable
    PLATFORM.branding.install()
except InvalidValue as error:
    raise stop(f"{variable_for(error.field)}: {error.message}") from None
LAB_FAVICON = LabFavicon(  # the configured favicon in JupyterLab's tabs, one route per server
    HUB_HANDLE,
    proxy=PLATFORM.proxy,
    branding=PLATFORM.branding,
    static_dir=BRANDING_DIR,
    clock=CLOCK,
)

# ---------------------------------------------------------------------------------------------
# 4. JupyterHub settings
# ---------------------------------------------------------------------------------------------
c.JupyterHub.base_url = HUB.base_path  # every URL lives under this prefix
c.JupyterHub.ip = HUB.public_ip  # the proxy's public address (loopback unless set)
c.JupyterHub.port = HUB.public_port  # the proxy's public port
c.JupyterHub.hub_bind_url = HUB.hub_bind_url  # where the hub process listens
if HUB.hub_connect_url:  # user servers on another network reach the hub here
    c.JupyterHub.hub_connect_url = HUB.hub_connect_url
if HUB.ssl_cert:  # HTTPS at the proxy; without it, a TLS reverse proxy goes in front
    c.JupyterHub.ssl_cert = HUB.ssl_cert
    c.JupyterHub.ssl_key = HUB.ssl_key
c.JupyterHub.db_url = HUB.effective_hub_db_url  # JupyterHub's own database
c.JupyterHub.db_kwargs = hub_db_kwargs(HUB.effective_hub_db_url)  # SQLite: no fsync per commit
c.JupyterHub.cookie_secret_file = str(DATA_DIR / "jupyterhub_cookie_secret")  # kept on restart
c.JupyterHub.pid_file = str(DATA_DIR / "jupyterhub.pid")  # so a second hub does not start here
c.ConfigurableHTTPProxy.command = [HUB.proxy_command]  # configurable-http-proxy from npm
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{HUB.effective_proxy_api_port}"  # loopback
c.ConfigurableHTTPProxy.pid_file = str(DATA_DIR / "jupyterhub-proxy.pid")  # found after restarts
c.JupyterHub.default_url = f"{HUB.base_path}hub/home"  # land on the control panel
c.JupyterHub.cleanup_servers = False  # user servers survive a hub restart

c.JupyterHub.authenticator_class = "stellars.entrypoints.hub.StellarsAuthenticator"
c.JupyterHub.template_paths = [TEMPLATES_DIR, native_templates()]  # ours extend the hub's
c.NativeAuthenticator.enable_signup = HUB.signup_enabled  # users sign up; an admin authorizes
c.NativeAuthenticator.open_signup = False  # sign-ups wait for an admin; the admin needs none
c.Authenticator.admin_users = {HUB.admin_username}  # signs up, or has the deployer's password
if not HUB.loopback_only and not HUB.admin_password:  # never first-come admin on an open hub
    c.StellarsNativeAuthenticator.reserved_usernames = {HUB.admin_username}
    say(
        f"the hub listens on {HUB.public_ip}: signing up as {HUB.admin_username!r} is refused; "
        "set JUPYTERHUB_ADMIN_PASSWORD_FILE (or JUPYTERHUB_ADMIN_PASSWORD) for the admin"
    )
c.Authenticator.allow_all = True  # every authorized NativeAuthenticator user may log in
c.JupyterHub.tornado_settings = {  # the platform and the hub handle reach the handlers here
    PLATFORM_SETTING: PLATFORM,
    HUB_HANDLE_SETTING: HUB_HANDLE,
    BRANDING_DIR_SETTING: str(BRANDING_DIR),  # served at BRANDING_URL
    LAB_FAVICON_SETTING: LAB_FAVICON,  # started with the hub
}
if PLATFORM.branding.kind(AssetSlot.LOGO) is AssetKind.COPY:  # the hub's own /hub/logo serves it
    c.JupyterHub.logo_file = PLATFORM.branding.source_path(AssetSlot.LOGO)
c.JupyterHub.template_vars.update(  # page.html: the logo and favicon of every hub page
    {
        "stellars_logo_url": PLATFORM.branding.href(AssetSlot.LOGO, BRANDING_URL),
        "stellars_favicon_url": PLATFORM.branding.href(AssetSlot.FAVICON, BRANDING_URL),
    }
)
c.JupyterHub.custom_scopes = custom_scopes()  # scopes for what JupyterHub has none for

c.Spawner.start_timeout = SPAWNER.start_timeout_seconds  # the image starts and answers within
c.Spawner.http_timeout = SPAWNER.start_timeout_seconds  # "ready" means the lab answers HTTP
c.Spawner.pre_spawn_hook = PreSpawnHook(  # each spawn's whole Docker settings, from state
    base=SpawnBase(volumes=DOCKER_SPAWNER_VOLUMES),
    groups=SETTINGS.docker_access,
    gpu=PLATFORM.gpu,
    lab_environment=PLATFORM.branding.lab_environment(BRANDING_URL),  # lab icons by URL
    volumes=PLATFORM.volumes,  # provisioned for their owner; never another account's
    on_volumes_created=PLATFORM.volume_sizes.request_refresh,  # the volume lists see them
    favicon=LAB_FAVICON,  # the favicon route of each server
)
if CHOICE.kind is SpawnerKind.DOCKER:
    # One container per server; DockerSpawner whose poll survives the engine being away.
    c.JupyterHub.spawner_class = (
        "stellars.adapters.jupyterhub.docker_spawner.EngineTolerantDockerSpawner"
    )
    c.DockerSpawner.client_kwargs = {"base_url": SPAWNER.docker_url}  # the engine we checked
    c.DockerSpawner.image = SPAWNER.image  # the lab image users get
    c.DockerSpawner.pull_policy = "ifnotpresent"  # a registry image is pulled once
    c.DockerSpawner.prefix = SPAWNER.prefix  # the names the platform computes: one source
    c.DockerSpawner.name_template = SPAWNER.name_template
    c.DockerSpawner.volumes = DOCKER_SPAWNER_VOLUMES  # per-user volumes and the shared one
    c.DockerSpawner.network_name = SPAWNER.network_name  # the Docker network of user servers
    c.DockerSpawner.use_internal_ip = SPAWNER.network_name != "bridge"  # bridge: publish port
    c.DockerSpawner.host_ip = "127.0.0.1"  # a published port stays on loopback
    c.DockerSpawner.remove = True  # containers go on stop; volumes keep the data
else:
    c.JupyterHub.spawner_class = "simple"  # processes on this machine, as the hub's user
    c.SimpleLocalProcessSpawner.home_dir_template = str(DATA_DIR / "homes" / "{username}")
    c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]  # this Python's lab
    if os.geteuid() == 0:  # Jupyter refuses root unless told; the banner above says why we are
        c.Spawner.args = ["--ServerApp.allow_root=True"]

# ---------------------------------------------------------------------------------------------
# 5. Services, roles and callbacks
# ---------------------------------------------------------------------------------------------
# Each service writes its own command line from its settings. The database URL, which may hold
# a password, goes in its environment: JupyterHub logs a service's command and shows it in
# GET /hub/api/services, and anyone on the machine reads it in ps.
c.JupyterHub.services = [
    {  # samples every user's server activity into the stellars database
        "name": SAMPLER_SERVICE,
        "command": activity_sampler.command(SETTINGS.activity, python=sys.executable),
        "environment": service_environment(HUB.effective_stellars_db_url),
    },
]
if SETTINGS.sessions.enabled:  # jupyterhub-idle-culler, deciding with the platform's rule
    c.JupyterHub.services.append(
        {
            "name": CULLER_SERVICE,
            "command": idle_culler.command(SETTINGS.sessions, python=sys.executable),
            "environment": service_environment(HUB.effective_stellars_db_url),
        }
    )
c.JupyterHub.load_roles = [
    *platform_roles(),  # admins get every platform scope; users theirs, for themselves
    {  # the sampler reads users and their servers' activity, nothing else
        "name": f"{SAMPLER_SERVICE}-role",
        "scopes": SAMPLER_SCOPES,
        "services": [SAMPLER_SERVICE],
    },
    {  # the culler lists servers and stops the ones the session rule lets go, nothing else
        "name": f"{CULLER_SERVICE}-role",
        "scopes": CULLER_SCOPES,
        "services": [CULLER_SERVICE] if SETTINGS.sessions.enabled else [],
    },
]
