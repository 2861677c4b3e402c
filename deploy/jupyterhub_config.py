# stellars-hub composition root: `jupyterhub -f deploy/jupyterhub_config.py`.
#
# The only place that reads environment variables. Five sections: (1) environment, (2) data
# literals, (3) logic calls that turn both into validated settings, (4) JupyterHub settings,
# (5) services and callbacks. A bad value stops the hub at start with a message naming the
# variable; nothing falls back to a default silently.
import os  # environment variables: read in section 1 only
import sys  # the interpreter that runs the managed services
from collections.abc import Callable  # type of a value parser
from pathlib import Path  # data directory and file locations

from stellars.adapters.auth import native_templates  # NativeAuthenticator's pages
from stellars.domain.activity import ActivityPolicy  # activity sampling and scoring knobs
from stellars.domain.errors import InvalidValue  # raised by every policy with the bad field
from stellars.domain.volumes import user_volumes  # which spawner volumes belong to a user

c = get_config()  # noqa: F821  (JupyterHub's config object, provided when the file is loaded)


class ConfigError(SystemExit):
    """Stops the hub with one readable line instead of a traceback."""


def env_text(name: str, default: str) -> str:
    """A string variable; unset or empty gives the default."""
    return os.environ.get(name, "").strip() or default


def env_int(name: str, default: int) -> int:
    """A whole-number variable; anything else stops the hub naming the variable."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: must be a whole number") from None


def env_flag(name: str, default: bool) -> bool:
    """A 0/1 switch (also true/false, yes/no)."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r}: must be 0 or 1")


def build(policy: Callable[..., object], **fields: tuple[str, object]) -> object:
    """Build a policy from (variable, value) pairs; a rule violation names the variable."""
    try:
        return policy(**{field: value for field, (_, value) in fields.items()})
    except InvalidValue as error:
        variable = fields[error.field][0] if error.field in fields else error.field
        raise ConfigError(f"{variable}: {error.message}") from None


# ---------------------------------------------------------------------------------------------
# 1. Environment
# ---------------------------------------------------------------------------------------------
ADMIN = env_text("JUPYTERHUB_ADMIN", "admin")  # the admin account (signs up on first start)
BASE_URL = env_text("JUPYTERHUB_BASE_URL", "/")  # URL prefix of the whole platform
SIGNUP_ENABLED = env_flag("JUPYTERHUB_SIGNUP_ENABLED", True)  # self sign-up, admin approves
DATA_DIR = Path(env_text("JUPYTERHUB_DATA_DIR", os.getcwd())).resolve()  # state lives here
HUB_DB_URL = env_text("JUPYTERHUB_DB_URL", f"sqlite:///{DATA_DIR / 'jupyterhub.sqlite'}")
STELLARS_DB_URL = env_text("STELLARS_DB_URL", f"sqlite:///{DATA_DIR / 'stellars.sqlite'}")
PUBLIC_IP = env_text("JUPYTERHUB_IP", "127.0.0.1")  # where the proxy listens for browsers
PUBLIC_PORT = env_int("JUPYTERHUB_PORT", 8000)
PROXY_API_PORT = env_int("JUPYTERHUB_PROXY_API_PORT", PUBLIC_PORT + 1)  # CHP's REST API
HUB_BIND_URL = env_text("JUPYTERHUB_HUB_BIND_URL", "http://127.0.0.1:8081")  # the hub itself
HUB_CONNECT_URL = env_text("JUPYTERHUB_HUB_CONNECT_URL", "")  # how containers reach the hub
CHP_COMMAND = env_text("STELLARS_CHP", "configurable-http-proxy")  # proxy binary (npm)
NOTEBOOK_IMAGE = env_text("JUPYTERHUB_NOTEBOOK_IMAGE", "stellars/stellars-jupyterlab-ds:latest")
NETWORK_NAME = env_text("JUPYTERHUB_NETWORK_NAME", "bridge")  # Docker network of user servers
ACTIVITY_RETENTION_DAYS = env_int("JUPYTERHUB_ACTIVITYMON_RETENTION_DAYS", 7)
ACTIVITY_HALF_LIFE = env_int("JUPYTERHUB_ACTIVITYMON_HALF_LIFE", 72)  # hours
ACTIVITY_INACTIVE_AFTER = env_int("JUPYTERHUB_ACTIVITYMON_INACTIVE_AFTER", 60)  # minutes
ACTIVITY_SAMPLE_INTERVAL = env_int("JUPYTERHUB_ACTIVITYMON_SAMPLE_INTERVAL", 600)  # seconds
ACTIVITY_TARGET_HOURS = env_int("JUPYTERHUB_ACTIVITYMON_TARGET_HOURS", 8)  # 100% = this/day

# ---------------------------------------------------------------------------------------------
# 2. Data literals
# ---------------------------------------------------------------------------------------------
# Per-user volumes (name template -> mount point); {username} is DockerSpawner's escaped name.
DOCKER_SPAWNER_VOLUMES = {
    "jupyterlab-{username}_home": "/home",
    "jupyterlab-{username}_workspace": "/home/lab/workspace",
    "jupyterlab-{username}_cache": "/home/lab/.cache",
    "jupyterhub_shared": "/mnt/shared",  # one volume shared by every user
}
CONTAINER_NAME_TEMPLATE = "jupyterlab-{username}"  # DockerSpawner's container name per user
SAMPLER_SERVICE = "activity-sampler"  # managed service name of the activity sampler
SAMPLER_SCOPES = ["list:users", "read:users", "read:users:activity", "read:servers"]

# ---------------------------------------------------------------------------------------------
# 3. Logic calls: validated settings
# ---------------------------------------------------------------------------------------------
ACTIVITY = build(  # scoring and sampling policy, shared by the sampler and the dashboard
    ActivityPolicy,
    retention_days=("JUPYTERHUB_ACTIVITYMON_RETENTION_DAYS", ACTIVITY_RETENTION_DAYS),
    half_life_hours=("JUPYTERHUB_ACTIVITYMON_HALF_LIFE", ACTIVITY_HALF_LIFE),
    inactive_after_minutes=("JUPYTERHUB_ACTIVITYMON_INACTIVE_AFTER", ACTIVITY_INACTIVE_AFTER),
    sample_interval_seconds=("JUPYTERHUB_ACTIVITYMON_SAMPLE_INTERVAL", ACTIVITY_SAMPLE_INTERVAL),
    target_hours=("JUPYTERHUB_ACTIVITYMON_TARGET_HOURS", ACTIVITY_TARGET_HOURS),
)
try:  # the user volumes and their labels (home, workspace, cache), checked once
    USER_VOLUMES = user_volumes(DOCKER_SPAWNER_VOLUMES)
except InvalidValue as error:
    raise ConfigError(f"DOCKER_SPAWNER_VOLUMES: {error.message}") from None
DATA_DIR.mkdir(parents=True, exist_ok=True)  # SQLite files and the cookie secret go here

# ---------------------------------------------------------------------------------------------
# 4. JupyterHub settings
# ---------------------------------------------------------------------------------------------
c.JupyterHub.base_url = BASE_URL  # every URL lives under this prefix
c.JupyterHub.ip = PUBLIC_IP  # the proxy's public address
c.JupyterHub.port = PUBLIC_PORT  # the proxy's public port
c.JupyterHub.hub_bind_url = HUB_BIND_URL  # where the hub process listens
if HUB_CONNECT_URL:  # containers on another network reach the hub here
    c.JupyterHub.hub_connect_url = HUB_CONNECT_URL
c.JupyterHub.db_url = HUB_DB_URL  # JupyterHub's own database (users, servers, tokens)
c.JupyterHub.cookie_secret_file = str(DATA_DIR / "jupyterhub_cookie_secret")  # kept across restarts
c.JupyterHub.pid_file = str(DATA_DIR / "jupyterhub.pid")  # so a second hub does not start here
c.ConfigurableHTTPProxy.command = [CHP_COMMAND]  # configurable-http-proxy from npm
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PROXY_API_PORT}"  # its REST API, loopback
c.ConfigurableHTTPProxy.pid_file = str(DATA_DIR / "jupyterhub-proxy.pid")  # found after restarts
c.JupyterHub.default_url = f"{BASE_URL.rstrip('/')}/hub/home"  # land on the control panel
c.JupyterHub.cleanup_servers = False  # user servers survive a hub restart

c.JupyterHub.authenticator_class = "stellars.adapters.auth.StellarsNativeAuthenticator"
c.JupyterHub.template_paths = [native_templates()]  # its login and sign-up pages
c.NativeAuthenticator.enable_signup = SIGNUP_ENABLED  # users sign up; an admin authorizes them
c.NativeAuthenticator.open_signup = False  # sign-ups wait for an admin; the admin needs none
c.Authenticator.admin_users = {ADMIN}  # signs up once, authorized at once
c.Authenticator.allow_all = True  # every authorized NativeAuthenticator user may log in

c.JupyterHub.spawner_class = "dockerspawner.DockerSpawner"  # one container per user server
c.DockerSpawner.image = NOTEBOOK_IMAGE  # the JupyterLab image users get
c.DockerSpawner.name_template = CONTAINER_NAME_TEMPLATE  # container names the platform relies on
c.DockerSpawner.volumes = DOCKER_SPAWNER_VOLUMES  # persistent per-user volumes + shared volume
c.DockerSpawner.network_name = NETWORK_NAME  # the Docker network user servers join
c.DockerSpawner.use_internal_ip = NETWORK_NAME != "bridge"  # on the default bridge, publish ports
c.DockerSpawner.host_ip = "127.0.0.1"  # published ports stay on loopback
c.DockerSpawner.remove = True  # containers go on stop; volumes keep the data

# ---------------------------------------------------------------------------------------------
# 5. Services and callbacks
# ---------------------------------------------------------------------------------------------
c.JupyterHub.services = [
    {  # samples every user's server activity into the stellars database
        "name": SAMPLER_SERVICE,
        "command": [
            sys.executable,
            "-m",
            "stellars.entrypoints.activity_sampler",
            f"--db-url={STELLARS_DB_URL}",
            f"--sample-interval-seconds={ACTIVITY.sample_interval_seconds}",
            f"--retention-days={ACTIVITY.retention_days}",
            f"--half-life-hours={ACTIVITY.half_life_hours}",
            f"--inactive-after-minutes={ACTIVITY.inactive_after_minutes}",
        ],
    },
]
c.JupyterHub.load_roles = [
    {  # the sampler reads users and their servers' activity, nothing else
        "name": f"{SAMPLER_SERVICE}-role",
        "scopes": SAMPLER_SCOPES,
        "services": [SAMPLER_SERVICE],
    },
]
