# stellars-hub composition root: `jupyterhub -f deploy/jupyterhub_config.py`.
#
# The only place that reads environment variables and builds adapters. Five sections:
# (1) environment, (2) data literals, (3) logic calls: validated settings, adapters and the one
# composition function, (4) JupyterHub settings, (5) services, roles and callbacks. A bad value
# stops the hub at start with one line naming the variable; nothing falls back silently.
# Every variable, its default and its range: stellars.configuration (and the /hub/settings page).
import os
import sys
from pathlib import Path

from stellars.adapters.auth import NativeCredentialStore, native_templates
from stellars.adapters.docker import (
    ContainerNvidiaSmiProbe,
    DockerContainerControl,
    DockerContainerStats,
    DockerEngine,
    DockerVolumeStore,
    EngineDataDisk,
    NodeReportStats,
    NodeReportVolumes,
    SwarmServiceControl,
    SwarmVolumeJobs,
    connect,
)
from stellars.adapters.files import StaticDirectoryAssets
from stellars.adapters.jupyterhub import (
    PLUGIN_SETTING,
    TEMPLATES_DIR,
    HubHandle,
    HubLabServers,
    HubPlugin,
    HubPolicyStore,
    HubProxyRoutes,
    ImageOptions,
    InProcessHubDirectory,
    LabNotificationTransport,
    LocalProcessGpus,
    PostStopHook,
    PreSpawnHook,
    SpawnBase,
    branding_base,
    custom_scopes,
    hub_db_kwargs,
    platform_roles,
    with_platform,
)
from stellars.adapters.nvidia import HostNvidiaSmiProbe
from stellars.adapters.passwords import XkcdPasswordGenerator
from stellars.adapters.sql import (
    SqlActivityStore,
    SqlAuditLog,
    SqlBusyStore,
    SqlDatabase,
    SqlEventLog,
    SqlNodeReportStore,
    SqlServerStopStore,
    SqlSessionStore,
)
from stellars.adapters.system import DirectoryDisk, SystemClock
from stellars.adapters.vault import ProcessMemoryVault
from stellars.configuration import SettingsError, settings_from_environment, variable_for
from stellars.domain.branding import AssetSlot
from stellars.domain.errors import InvalidValue
from stellars.domain.limits import LabLimitSettings
from stellars.domain.settings import SpawnerKind
from stellars.entrypoints import activity_sampler, idle_culler
from stellars.entrypoints.hub import (
    authenticator_class,
    choose_spawner,
    describe_nodes,
    local_lab_available,
)
from stellars.entrypoints.service_options import service_environment
from stellars.platform import build

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
# 1. Environment: every variable of stellars.configuration, and the default data directory
# ---------------------------------------------------------------------------------------------
ENVIRONMENT = dict(os.environ)
WORKING_DIR = os.getcwd()

# ---------------------------------------------------------------------------------------------
# 2. Data literals
# ---------------------------------------------------------------------------------------------
# DockerSpawner's volumes (name template -> mount point in the lab image's user home). Entries
# with {username} are per user, labelled by what follows it (home, workspace, cache): the
# platform lists, sizes and resets them. SHARED_VOLUME is one volume every user shares, mounted
# read-only unless STELLARS_SHARED_VOLUME says read-write (all labs run as one uid) or off.
SHARED_VOLUME = "jupyterhub_shared"
DOCKER_SPAWNER_VOLUMES = {
    "jupyterlab-{username}_home": "/home/jovyan",
    "jupyterlab-{username}_workspace": "/home/jovyan/work",
    "jupyterlab-{username}_cache": "/home/jovyan/.cache",
    SHARED_VOLUME: "/mnt/shared",
}
# Container stats are read one request per running container, each mostly waiting about a
# second on the engine (dockerd 20.10): 100 labs in one round take about 1.5 s, 8 at a time 13 s
# (bench/docker_scale.py). They get an engine client of their own with this many threads and
# connections, so the spawns and resets never queue behind a stats pass.
CONTAINER_STATS_PARALLEL = 100
# The managed services and the scopes they need, nothing more (the culler may stop servers,
# never delete users).
SAMPLER_SERVICE = "activity-sampler"
SAMPLER_SCOPES = ["list:users", "read:users", "read:users:activity", "read:servers"]
CULLER_SERVICE = "idle-culler"
CULLER_SCOPES = [
    "list:users",
    "read:users",
    "read:users:activity",
    "read:servers",
    "delete:servers",
    "list:groups",  # each user's idle timeout comes from their groups' policies
    "read:groups",
]

# ---------------------------------------------------------------------------------------------
# 3. Logic calls: validated settings, adapters, the platform
# ---------------------------------------------------------------------------------------------
# Every variable is parsed and checked once; a bad one names itself. TLS files must be readable
# now (the proxy would fail later, unclearly). The spawner is chosen with the engine's answer.
try:
    SETTINGS = settings_from_environment(
        ENVIRONMENT, cwd=WORKING_DIR, volumes=DOCKER_SPAWNER_VOLUMES, read_file=read_text
    )
except SettingsError as error:
    raise stop(f"{error.field}: {error.message}") from None
HUB = SETTINGS.hub
SPAWNER = SETTINGS.spawner
DATA_DIR = Path(HUB.data_dir).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)
for TLS_FIELD, TLS_PATH in (("hub.ssl_cert", HUB.ssl_cert), ("hub.ssl_key", HUB.ssl_key)):
    if TLS_PATH and not os.access(TLS_PATH, os.R_OK):
        raise stop(f"{variable_for(TLS_FIELD)}: cannot read {TLS_PATH}")
try:  # how users log in: NativeAuthenticator, or the deployer's choice of JupyterHub's
    AUTHENTICATOR = authenticator_class(HUB.authenticator)
except InvalidValue as error:
    raise stop(f"{variable_for('hub.authenticator')}: {error.message}") from None
BRANDING_DIR = DATA_DIR / "static"  # copies of file:// branding, served at BRANDING_URL
BRANDING_URL = branding_base(HUB.base_path)
try:  # Docker, or local processes only when asked for (never as a fallback)
    CHOICE = choose_spawner(SPAWNER)
except InvalidValue as error:
    raise stop(f"{variable_for('spawner.kind')}: {error.message}") from None
if CHOICE.kind is SpawnerKind.LOCAL:
    if os.geteuid() == 0 and not SPAWNER.local_as_root:
        raise stop(
            f"{variable_for('spawner.kind')}: local servers would run as root on this machine; "
            "run the hub as an ordinary user, or use docker"
        )
    say(
        f"USER SERVERS RUN AS LOCAL PROCESSES, as this hub's user: {CHOICE.reason}. Start a "
        "Docker engine and use STELLARS_SPAWNER=auto to give every user a container."
    )
    if not local_lab_available():
        say("jupyter_server is not installed here, so servers cannot start: pip install jupyterlab")
elif CHOICE.image_present is False:
    say(
        f"the lab image {SPAWNER.image} is not on the Docker engine: `make run` builds the "
        "project's lab image, or set JUPYTERHUB_NOTEBOOK_IMAGE to one the engine has or can pull"
    )
# The memory, CPU and process limits of every lab: the deployer's (STELLARS_LAB_*), else derived
# from the engine's host as the engine reported it just now; said here and on the settings page.
# Local processes run without them (and users' resources say "no limit").
SWARM = CHOICE.kind is SpawnerKind.SWARM
if CHOICE.kind in (SpawnerKind.DOCKER, SpawnerKind.SWARM):
    LAB_LIMITS = SETTINGS.lab_limits.resolve(CHOICE.host)
    LIMIT_FACTS = dict(LAB_LIMITS.lines())
    for LIMIT, TEXT in LIMIT_FACTS.items():
        say(f"{LIMIT}: {TEXT}")
else:
    LAB_LIMITS = LabLimitSettings(memory_limit=0, cpu_limit=0, pids_limit=0).resolve(None)
    LIMIT_FACTS = {"Lab limits": "none: local processes run without limits"}

# The in-hub adapters reach the running hub through one handle, bound when the hub starts; the
# Docker engine is connected lazily and used off the loop; the platform's tables are shared with
# the sampler and the culler.
HUB_HANDLE = HubHandle()
CLOCK = SystemClock()
# Generated passphrases are hashed at the bcrypt cost their entropy allows (docs/security.md).
PASSPHRASES = XkcdPasswordGenerator()
PASSPHRASE_BITS = SETTINGS.passphrases.entropy_bits(
    PASSPHRASES.vocabulary_size(SETTINGS.passphrases)
)
DATABASE = SqlDatabase.from_url(HUB.effective_stellars_db_url)
DOCKER = DockerEngine(lambda: connect(SPAWNER.docker_url, timeout_seconds=30))
STATS_DOCKER = DockerEngine(
    lambda: connect(SPAWNER.docker_url, timeout_seconds=30, max_pool_size=CONTAINER_STATS_PARALLEL),
    max_workers=CONTAINER_STATS_PARALLEL,
)
# GPUs as the servers see them: containers through the engine's NVIDIA runtime (nvidia-smi in a
# CUDA container), local processes the host's own (nvidia-smi on this machine). What a server
# was started with is read back from its container, or from a local server's environment.
LOCAL_SERVERS = CHOICE.kind is SpawnerKind.LOCAL
GPU_PROBE = (
    HostNvidiaSmiProbe(timeout_seconds=SETTINGS.gpu.probe_timeout_seconds)
    if LOCAL_SERVERS
    else ContainerNvidiaSmiProbe(
        DOCKER, SETTINGS.gpu.probe_image, timeout_seconds=SETTINGS.gpu.probe_timeout_seconds
    )
)
# The free disk the admin pages show: the engine's data directory, measured from the engine's
# side in a short-lived container of the lab image (the hub may run in a container, or far from
# the engine); with local servers, the filesystem of their homes on this machine.
HOST_DISK = DirectoryDisk(str(DATA_DIR)) if LOCAL_SERVERS else EngineDataDisk(DOCKER, SPAWNER.image)
# Volumes and stats: one engine's, or in swarm mode the nodes' own, from the reports each node's
# sampler writes to the shared database (no engine but a node's sees its labs and volumes); a
# reset removes the volumes on their node by a one-off Swarm job of the hub's image.
if SWARM:
    NODE_REPORTS = SqlNodeReportStore(DATABASE)
    VOLUME_STORE = NodeReportVolumes(
        NODE_REPORTS, SwarmVolumeJobs(DOCKER, image=SPAWNER.swarm_job_image)
    )
    CONTAINER_STATS = NodeReportStats(NODE_REPORTS)
else:
    NODE_REPORTS = None
    VOLUME_STORE = DockerVolumeStore(DOCKER)
    CONTAINER_STATS = DockerContainerStats(STATS_DOCKER, max_parallel=CONTAINER_STATS_PARALLEL)
try:
    PLATFORM = build(
        SETTINGS,
        clock=CLOCK,
        directory=InProcessHubDirectory(HUB_HANDLE),
        activity_store=SqlActivityStore(DATABASE, half_life=SETTINGS.activity.half_life),
        session_store=SqlSessionStore(DATABASE),
        volume_store=VOLUME_STORE,
        # Swarm mode: labs are services, restarted by a forced update through the manager.
        containers=SwarmServiceControl(DOCKER) if SWARM else DockerContainerControl(DOCKER),
        container_stats=CONTAINER_STATS,
        gpu_probe=GPU_PROBE,
        transport=LabNotificationTransport(HUB_HANDLE),
        passwords=PASSPHRASES,
        # Passwords are the platform's to keep only with NativeAuthenticator.
        accounts=(
            NativeCredentialStore(lambda: HUB_HANDLE.app.db, generated_entropy_bits=PASSPHRASE_BITS)
            if HUB.keeps_passwords
            else None
        ),
        vault=ProcessMemoryVault(clock=CLOCK, policy=SETTINGS.vault),
        assets=StaticDirectoryAssets(BRANDING_DIR),
        proxy=HubProxyRoutes(lambda: HUB_HANDLE.app.proxy),
        lab_servers=HubLabServers(HUB_HANDLE),
        event_log=SqlEventLog(DATABASE),
        policy_store=HubPolicyStore(HUB_HANDLE),  # group policies, in the groups' properties
        server_stops=SqlServerStopStore(DATABASE),
        audit_log=SqlAuditLog(DATABASE),
        lab_limits=LAB_LIMITS,
        host_disk=HOST_DISK,
        gpu_read_back=LocalProcessGpus(HUB_HANDLE, SPAWNER.naming) if LOCAL_SERVERS else None,
        # Busy servers' load readings (STELLARS_CULL_SPARE_BUSY): container counters, so none
        # for servers that run as local processes.
        busy_store=None if LOCAL_SERVERS else SqlBusyStore(DATABASE),
        node_reports=NODE_REPORTS,  # swarm mode: the dashboard's nodes and report ages
        facts={
            "Logins": (
                "NativeAuthenticator: sign-up, the admin's password, generated passphrases"
                if HUB.keeps_passwords
                else f"{AUTHENTICATOR.__name__}: passwords stay with the identity provider, "
                "so no passphrases are generated"
            ),
            "User servers": f"{CHOICE.kind.value} ({CHOICE.reason})",
            "Lab image": SPAWNER.image
            + ("" if CHOICE.image_present is not False else " (not on the engine)"),
            **LIMIT_FACTS,
            # Swarm mode: the nodes as the manager reported them at the hub's start.
            **({"Swarm nodes": describe_nodes(CHOICE.nodes)} if SWARM else {}),
        },
    )
except InvalidValue as error:
    raise stop(f"{variable_for(error.field)}: {error.message}") from None
try:  # file:// branding is copied now: a missing file stops the hub, naming its variable
    PLATFORM.branding.install()
except InvalidValue as error:
    raise stop(f"{variable_for(error.field)}: {error.message}") from None
SPAWN_HOOK = PreSpawnHook(
    base=SpawnBase(
        volumes=DOCKER_SPAWNER_VOLUMES,
        shared_volume=SHARED_VOLUME,
        shared_mode=SPAWNER.shared_volume,
    ),
    groups=SETTINGS.docker_access,
    gpu=PLATFORM.gpu,
    limits=LAB_LIMITS.limits,
    lab_environment=PLATFORM.branding.lab_environment(BRANDING_URL),
    # Swarm mode: the volumes are checked against the nodes' reports (the node's engine
    # creates them at the lab's first start), and sized as the nodes measured them.
    volumes=PLATFORM.volumes,
    favicon_routes=PLATFORM.favicon_routes,
    policies=PLATFORM.policies,  # what the user's group policies give, at each spawn
    quotas=PLATFORM.quotas,  # over quota, a start is refused (reset offered)
)
IMAGE_OPTIONS = ImageOptions(PLATFORM.policies)


STOP_HOOK = PostStopHook(gpu=PLATFORM.gpu)


async def pre_spawn_hook(spawner):
    """Each spawn's whole Docker settings, from the current state (a plain function: traitlets
    deep-copies config values, and copies a function as itself)."""
    await SPAWN_HOOK(spawner)


async def image_options_form(spawner):
    """The spawn form: a choice of image for a user whose group policies allow several."""
    return await IMAGE_OPTIONS(spawner)


def post_stop_hook(spawner):
    """After every stop of a server, however it stopped: its GPUs are free again."""
    STOP_HOOK(spawner)


# ---------------------------------------------------------------------------------------------
# 4. JupyterHub settings
# ---------------------------------------------------------------------------------------------
# Where the proxy and the hub listen, where the hub keeps its state. User servers survive a hub
# restart. The proxy's API stays on loopback.
c.JupyterHub.base_url = HUB.base_path
c.JupyterHub.ip = HUB.public_ip
c.JupyterHub.port = HUB.public_port
c.JupyterHub.hub_bind_url = HUB.hub_bind_url
if HUB.hub_connect_url:
    c.JupyterHub.hub_connect_url = HUB.hub_connect_url
if HUB.ssl_cert:  # HTTPS at the proxy; without it, a TLS reverse proxy goes in front
    c.JupyterHub.ssl_cert = HUB.ssl_cert
    c.JupyterHub.ssl_key = HUB.ssl_key
c.JupyterHub.db_url = HUB.effective_hub_db_url
c.JupyterHub.db_kwargs = hub_db_kwargs(HUB.effective_hub_db_url)
c.JupyterHub.cookie_secret_file = str(DATA_DIR / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(DATA_DIR / "jupyterhub.pid")
c.ConfigurableHTTPProxy.command = [HUB.proxy_command]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{HUB.effective_proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = str(DATA_DIR / "jupyterhub-proxy.pid")
c.JupyterHub.default_url = f"{HUB.base_path}hub/home"
c.JupyterHub.cleanup_servers = False

# The authenticator serves the platform's routes too, whichever it is. NativeAuthenticator (the
# default): users sign up and an admin authorizes them; the admin has the deployer's password,
# and nobody may sign up under the admin's name. Any other authenticator is configured by the
# deployer, in a config file that loads this one (who may log in: allowed_users, allow_all).
c.JupyterHub.authenticator_class = with_platform(AUTHENTICATOR)
c.Authenticator.admin_users = {HUB.admin_username}
if HUB.keeps_passwords:
    c.JupyterHub.template_paths = [TEMPLATES_DIR, native_templates()]
    c.NativeAuthenticator.enable_signup = HUB.signup_enabled
    c.NativeAuthenticator.open_signup = False
    # Passwords people choose: long enough and not common. A name that failed too often waits
    # a little; one address gets a few attempts a minute, the rest are refused unchecked.
    c.NativeAuthenticator.minimum_password_length = SETTINGS.logins.password_min_length
    c.NativeAuthenticator.check_common_password = SETTINGS.logins.password_common_check
    c.NativeAuthenticator.allowed_failed_logins = SETTINGS.logins.lockout_failures
    c.NativeAuthenticator.seconds_before_next_try = SETTINGS.logins.lockout_seconds
    c.StellarsNativeAuthenticator.attempts_per_minute = SETTINGS.logins.attempts_per_minute
    c.StellarsNativeAuthenticator.trusted_proxies = SETTINGS.logins.trusted_proxies
    if not HUB.admin_password:  # never the first visitor, whatever the hub listens on
        c.StellarsNativeAuthenticator.reserved_usernames = {HUB.admin_username}
        say(
            f"no admin password is set, so nobody may sign up as {HUB.admin_username!r}: set "
            "JUPYTERHUB_ADMIN_PASSWORD_FILE (make run makes one) and restart"
        )
    c.Authenticator.allow_all = True  # every account an admin authorized may log in
else:
    c.JupyterHub.template_paths = [TEMPLATES_DIR]

# The platform reaches the hub through one plug-in object; its pages use the configured logo
# and favicon; its routes are guarded by custom scopes.
c.JupyterHub.tornado_settings = {
    PLUGIN_SETTING: HubPlugin(platform=PLATFORM, hub=HUB_HANDLE, branding_dir=str(BRANDING_DIR)),
}
LOGO_FILE = PLATFORM.branding.source_path(AssetSlot.LOGO)
# The hub's own /hub/logo serves a copied raster logo too; never an SVG, which could carry a
# script and /hub/logo serves without a sandbox (the pages use the sandboxed copy instead).
if LOGO_FILE and not LOGO_FILE.lower().endswith((".svg", ".svgz")):
    c.JupyterHub.logo_file = LOGO_FILE
c.JupyterHub.template_vars.update(
    {
        "stellars_logo_url": PLATFORM.branding.href(AssetSlot.LOGO, BRANDING_URL),
        "stellars_favicon_url": PLATFORM.branding.href(AssetSlot.FAVICON, BRANDING_URL),
    }
)
c.JupyterHub.custom_scopes = custom_scopes()

# "Ready" means the lab answers HTTP within the spawn timeout. One container per server, named
# as the platform computes names; containers go on stop, volumes keep the data. DockerSpawner's
# poll survives the engine being away, and records why a container it finds ended (out of
# memory, an exit code) for its user. Without Docker, servers are local processes. Each spawn
# gets its settings whole, GPUs included; each stop frees the server's GPUs.
c.Spawner.start_timeout = SPAWNER.start_timeout_seconds
c.Spawner.http_timeout = SPAWNER.start_timeout_seconds
c.Spawner.pre_spawn_hook = pre_spawn_hook
c.Spawner.post_stop_hook = post_stop_hook
if CHOICE.kind is SpawnerKind.DOCKER:
    c.JupyterHub.spawner_class = (
        "stellars.adapters.jupyterhub.plugin.docker_spawner.EngineTolerantDockerSpawner"
    )
    c.DockerSpawner.client_kwargs = {"base_url": SPAWNER.docker_url}
    c.DockerSpawner.image = SPAWNER.image
    c.DockerSpawner.options_form = image_options_form  # empty (no form) with one image
    c.DockerSpawner.pull_policy = "ifnotpresent"
    c.DockerSpawner.prefix = SPAWNER.prefix
    c.DockerSpawner.name_template = SPAWNER.name_template
    c.DockerSpawner.volumes = DOCKER_SPAWNER_VOLUMES
    c.DockerSpawner.network_name = SPAWNER.network_name
    c.DockerSpawner.use_internal_ip = SPAWNER.network_name != "bridge"  # bridge: publish port
    c.DockerSpawner.host_ip = "127.0.0.1"  # a published port stays on loopback
    c.DockerSpawner.remove = True
elif SWARM:
    # One Swarm service per lab through the manager at DOCKER_HOST, on the attachable overlay
    # network the hub shares with the labs, each on the node that holds its user's volumes
    # (stellars.domain.swarm); the images must be on every node (no pull).
    c.JupyterHub.spawner_class = (
        "stellars.adapters.jupyterhub.plugin.swarm_spawner.PlatformSwarmSpawner"
    )
    c.SwarmSpawner.client_kwargs = {"base_url": SPAWNER.docker_url}
    c.SwarmSpawner.image = SPAWNER.image
    c.SwarmSpawner.options_form = image_options_form
    c.SwarmSpawner.prefix = SPAWNER.prefix
    c.SwarmSpawner.name_template = SPAWNER.name_template
    c.SwarmSpawner.volumes = DOCKER_SPAWNER_VOLUMES
    c.SwarmSpawner.network_name = SPAWNER.network_name
    c.PlatformSwarmSpawner.pin_volumes = SPAWNER.swarm_pin_volumes
else:
    c.JupyterHub.spawner_class = "simple"  # processes on this machine, as the hub's user
    c.SimpleLocalProcessSpawner.home_dir_template = str(DATA_DIR / "homes" / "{username}")
    c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
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
            "command": idle_culler.command(
                SETTINGS.sessions, busy=SETTINGS.busy, python=sys.executable
            ),
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
