"""`make run`: the platform on its embedded defaults, on this machine, ready for a first login.

1. The admin's password: the deployer's (JUPYTERHUB_ADMIN_PASSWORD or _FILE) when set; else one
   generated on the first start into .run/admin-password (mode 0600), printed that once, and
   handed to the hub through JUPYTERHUB_ADMIN_PASSWORD_FILE on every start. Nobody can sign up
   as the admin, whatever addresses the hub listens on.
2. With a Docker engine: use the configured lab image when the engine has it or can pull it;
   otherwise build the project's lab image offline (lab/, mmdebstrap; about a minute the first
   time, cached afterwards; on a first start make has it built beside the venv's install, and
   this waits for that build) and use that. The hub listens on the gateway of the servers' Docker
   network, so containers reach it over Docker's own bridge.
3. Without one (or without what the offline build needs): user servers run as local processes,
   with JupyterLab installed into this virtual environment, and a banner says why.
4. Then `jupyterhub -f deploy/jupyterhub_config.py` runs in .run/ (SQLite files, cookie secret),
   with the proxy on 127.0.0.1:8000 only.
5. Stopping: Ctrl-C, SIGTERM or SIGHUP (to this process or its whole process group). The hub
   runs in a session of its own, so it gets the stop request once, from here, however the
   signal arrived; it stops its proxy and managed services and leaves the user servers running.
   After STOP_GRACE_SECONDS, or at a second Ctrl-C, the hub, its proxy and its services are
   killed. This process returns only once they are gone, and returns 0 for a requested stop.

Each decision is printed once, as one line starting with [make run].
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import docker
import docker.errors
import requests

from stellars.adapters.passwords import XkcdPasswordGenerator
from stellars.configuration import SettingsError, settings_from_environment
from stellars.domain.credentials import PassphrasePolicy
from stellars.domain.settings import PlatformSettings, SpawnerKind, SpawnerSettings
from tooling.errors import BackendMissing
from tooling.images import (
    LAB_REPOSITORY,
    ensure_image,
    image_exists,
    lab_recipe,
    lab_requirements,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
RUN_DIR = Path(os.environ.get("RUN_DIR", REPO_ROOT / ".run")).resolve()
CHP = REPO_ROOT / ".tooling" / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
HUB_PORT = 8081
PULL_SECONDS = 120

#: The generated admin password, in the run directory (one line, mode 0600).
ADMIN_PASSWORD_FILE = "admin-password"
ADMIN_PASSWORD_VARIABLE = "JUPYTERHUB_ADMIN_PASSWORD"
ADMIN_PASSWORD_FILE_VARIABLE = "JUPYTERHUB_ADMIN_PASSWORD_FILE"
#: Five dictionary words of 4-8 letters: at least 24 characters, about 60 bits.
ADMIN_PASSPHRASE = PassphrasePolicy(words=5, min_word_length=4, max_word_length=8)
#: The shortest stored password reused as it is; a shorter (damaged) file is replaced.
ADMIN_PASSWORD_MIN_LENGTH = 16

#: Signals that stop `make run`: Ctrl-C, `kill`, a closed terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: Seconds the hub gets to stop its proxy and services before they are all killed.
STOP_GRACE_SECONDS = 10.0
#: A second stop request this long after the first kills at once. make passes a SIGTERM it
#: gets on to its child, so one `kill` of the group arrives here twice within milliseconds.
REPEAT_SECONDS = 1.0
#: Processes of the hub that stop with it: its proxy and the managed services of the deploy
#: config. User servers (local processes) are left running, as JupyterHub leaves them.
STOPS_WITH_HUB = ("configurable-http-proxy", "stellars.entrypoints.")


def say(message: str) -> None:
    """One `[make run]` line. Output that cannot be written (the reader of `make run | tee` gone
    at Ctrl-C, a closed terminal) is dropped: a stop must never fail for want of its line."""
    try:  # one write, so that the hub's own log lines never split it
        sys.stdout.write(f"[make run] {message}\n")
        sys.stdout.flush()
    except OSError:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (and no error at exit's flush either)


# --- the admin's password --------------------------------------------------------------------


@dataclass(frozen=True)
class AdminPassword:
    """Where this start's admin password comes from.

    `path` is the generated file handed to the hub (None: the deployer set a password);
    `new_password` is the password when this start generated it, else None (never shown again).
    """

    path: Path | None
    new_password: str | None = None


def deployer_password_set(env: Mapping[str, str]) -> bool:
    """Whether the deployer gave the admin a password (it wins over a generated one)."""
    return any(
        env.get(name, "").strip()
        for name in (ADMIN_PASSWORD_VARIABLE, ADMIN_PASSWORD_FILE_VARIABLE)
    )


def generate_admin_password() -> str:
    return XkcdPasswordGenerator().generate(ADMIN_PASSPHRASE)


def _stored_password(path: Path) -> str | None:
    """The password in `path`, or None when there is no usable one."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return None
    password = lines[0] if lines else ""
    return password if len(password) >= ADMIN_PASSWORD_MIN_LENGTH else None


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600 from the start (never readable by others, not even
    for a moment), replacing any older file in one rename."""
    partial = path.with_name(f".{path.name}.partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)  # exactly 0600, whatever the umask
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def admin_password(
    env: Mapping[str, str], run_dir: Path, generate: Callable[[], str] = generate_admin_password
) -> AdminPassword:
    """The deployer's password, the one stored in `run_dir`, or a new one stored there."""
    if deployer_password_set(env):
        return AdminPassword(path=None)
    path = run_dir / ADMIN_PASSWORD_FILE
    if _stored_password(path) is not None:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)  # a copy or an editor widened it: the admin's password stays private
        return AdminPassword(path=path)
    password = generate()
    _write_private(path, password + "\n")
    return AdminPassword(path=path, new_password=password)


def first_login(settings: PlatformSettings, password: AdminPassword) -> str:
    """What the deployer does first, for the `open ...` line (the password at most once)."""
    admin = settings.hub.admin_username
    if password.path is None:
        return f"log in as {admin!r} with the password you set"
    if password.new_password is not None:
        return (
            f"log in as {admin!r} with the password {password.new_password} "
            f"(generated now and kept in {password.path}, mode 0600; it is not shown again)"
        )
    return f"log in as {admin!r} with the password in {password.path}"


# --- Docker and the lab image ------------------------------------------------------------------


def connect(url: str) -> docker.DockerClient | None:
    try:
        client = docker.DockerClient(base_url=url, version="auto", timeout=PULL_SECONDS)
        client.ping()
        return client
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        say(f"no Docker engine answers at {url} ({exc.__class__.__name__})")
        return None


def pull(client: docker.DockerClient, image: str) -> bool:
    repository, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
    try:
        client.images.pull(repository, tag=tag or "latest")
        return True
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        say(f"cannot pull {image}: {str(exc).splitlines()[0][:160]}")
        return False


def lab_image(client: docker.DockerClient, settings: SpawnerSettings) -> str | None:
    """The image to spawn: the configured one if there, or pulled, or the project's, built."""
    if image_exists(client, settings.image):
        say(f"lab image {settings.image}: on the engine")
        return settings.image
    own = settings.image.split(":")[0] == LAB_REPOSITORY  # ours is built here, never pulled
    if not own and pull(client, settings.image):
        say(f"lab image {settings.image}: pulled")
        return settings.image
    recipe = lab_recipe()
    if not image_exists(client, recipe.tag):
        say(
            f"building the project's lab image {recipe.tag} offline (JupyterLab, the "
            "notifications extension, jupyterhub-singleuser of this hub): about a minute "
            "the first time, cached afterwards"
        )
    try:
        built = ensure_image(client, recipe)
    except (BackendMissing, RuntimeError) as exc:
        say(f"cannot build the lab image: {exc}")
        return None
    if built.built:
        outcome = f"built in {built.seconds:.0f} s"
    elif built.seconds >= 1:  # `make run` started the build early, beside the venv's install
        outcome = f"built in the background, ready after {built.seconds:.0f} s more"
    else:
        outcome = "cached"
    say(f"lab image {built.tag}: {outcome}")
    return built.tag


def gateway(client: docker.DockerClient, network: str) -> str | None:
    """The host's address on the servers' Docker network (docker0 for the default bridge).

    The engine names it in the network's IPAM config, except for the default bridge of older
    engines, which lists only the subnet: its gateway is then the subnet's first address.
    """
    try:
        configs = client.networks.get(network).attrs.get("IPAM", {}).get("Config") or []
    except docker.errors.DockerException:
        return None
    for config in configs:
        if config.get("Gateway"):
            return str(config["Gateway"])
        subnet = ipaddress.ip_network(config.get("Subnet", ""), strict=False)
        if subnet.version == 4 and subnet.num_addresses > 2:
            return str(subnet[1])
    return None


def ensure_local_lab() -> None:
    """JupyterLab in this environment, for servers that run as local processes."""
    if importlib.util.find_spec("jupyterlab") is not None:
        return
    say("installing JupyterLab into this virtual environment for local servers")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *lab_requirements()], check=True)


def listen_address(url: str) -> str:
    """`host:port` of a bind URL (the scheme's port when the URL names none)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or ""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- the hub's processes -----------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessId:
    """A process by pid and start time, so that a reused pid is never mistaken for it."""

    pid: int
    started: int

    @classmethod
    def of(cls, pid: int) -> ProcessId | None:
        stat = _stat(pid)
        return None if stat is None else cls(pid, int(stat[19]))

    def alive(self) -> bool:
        """Running (not a zombie) and still the same process."""
        stat = _stat(self.pid)
        return stat is not None and stat[0] not in "ZX" and int(stat[19]) == self.started

    def command(self) -> str:
        try:
            return Path(f"/proc/{self.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return ""


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces and parentheses itself.
    return text[text.rindex(")") + 2 :].split()


def descendants(pid: int) -> set[ProcessId]:
    """Every live descendant of `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                children.setdefault(int(stat[1]), []).append(int(entry.name))
    found: set[ProcessId] = set()
    queue = list(children.get(pid, []))
    while queue:
        child = queue.pop()
        queue.extend(children.get(child, []))
        identity = ProcessId.of(child)
        if identity is not None:
            found.add(identity)
    return found


def _kill(processes: Iterable[ProcessId], sig: signal.Signals) -> None:
    for process in processes:
        if process.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(process.pid, sig)


class HubSupervisor:
    """The hub in a session of its own, stopped on request with its proxy and services.

    A session of its own means the terminal's Ctrl-C (sent to the foreground process group)
    and a `kill` of `make run`'s group reach only make and this process: the hub gets exactly
    one SIGTERM, from here, and never an ignored SIGINT inherited from a background shell.
    """

    def __init__(self, command: list[str], cwd: Path, env: Mapping[str, str]) -> None:
        self.process = subprocess.Popen(command, cwd=cwd, env=dict(env), start_new_session=True)
        self.hub = ProcessId.of(self.process.pid)
        self.requested_at: float | None = None
        self.followers: set[ProcessId] = set()  # the proxy and services seen so far

    def watch_signals(self) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self.request_stop)

    def _note_followers(self) -> None:
        self.followers |= {
            process
            for process in descendants(self.process.pid)
            if any(marker in process.command() for marker in STOPS_WITH_HUB)
        }

    def request_stop(self, signum: int, _frame: FrameType | None = None) -> None:
        """First request: SIGTERM to the hub. A later one (after REPEAT_SECONDS): kill now."""
        now = time.monotonic()
        name = signal.Signals(signum).name
        if self.requested_at is None:
            self.requested_at = now
            self._note_followers()  # before the hub goes: it is the way to find them
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            say(
                f"{name}: stopping the hub, its proxy and services (user servers keep "
                f"running); at most {STOP_GRACE_SECONDS:.0f} s, Ctrl-C again kills them now"
            )
        elif now - self.requested_at > REPEAT_SECONDS:
            say(f"{name} again: killing the hub, its proxy and services now")
            self._kill_all()

    def _kill_all(self) -> None:
        self._note_followers()
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        _kill(self.followers, signal.SIGKILL)

    def wait(self) -> int:
        """Wait for the hub (and, after a stop request, its proxy and services) to be gone.
        Returns the hub's exit status, or 0 when it stopped because it was asked to."""
        noted = 0.0
        while True:
            try:
                code = self.process.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if self.requested_at is None and now - noted > 1.0:
                self._note_followers()  # before any stop: a hub that dies leaves its list
                noted = now
            if self.requested_at is not None and now - self.requested_at > STOP_GRACE_SECONDS:
                say(f"the hub did not stop within {STOP_GRACE_SECONDS:.0f} s: killing it")
                self._kill_all()
        # The hub waits for its services and asks its proxy to stop: normally nothing is left.
        deadline = (self.requested_at or time.monotonic()) + STOP_GRACE_SECONDS
        survivors = [process for process in self.followers if process.alive()]
        if survivors and self.requested_at is None:
            _kill(survivors, signal.SIGTERM)  # the hub went on its own: its helpers go too
        while survivors and time.monotonic() < deadline:
            time.sleep(0.05)
            survivors = [process for process in survivors if process.alive()]
        if survivors:
            say(f"killing what outlived the hub: {[p.command() for p in survivors]}")
            _kill(survivors, signal.SIGKILL)
        return 0 if self.requested_at is not None else code


class _Interrupted(BaseException):
    """A stop signal while `make run` was still preparing (building the image, ...); a
    BaseException, like KeyboardInterrupt, so that no `except Exception` on the way holds it."""


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise _Interrupted(signal.Signals(signum).name)


# --- main ------------------------------------------------------------------------------------


def read_text(path: str) -> str:
    return Path(path).read_text()


def main() -> int:
    # Until the hub runs, a stop signal ends the preparation; installed handlers also mean that
    # no child inherits a SIGINT that a background shell left ignored.
    for sig in STOP_SIGNALS:
        signal.signal(sig, _interrupt)
    try:
        prepared = prepare(dict(os.environ))
    except _Interrupted as stop:
        say(f"{stop}: stopped before the hub started")
        return 0
    if isinstance(prepared, int):
        return prepared
    env, settings, password = prepared
    public = f"http://{settings.hub.public_ip}:{settings.hub.public_port}"
    say(f"open {public}/ and {first_login(settings, password)}; Ctrl-C stops the hub")
    started = time.monotonic()
    command = [
        str(Path(sys.executable).parent / "jupyterhub"),
        "-f",
        str(REPO_ROOT / "deploy" / "jupyterhub_config.py"),
    ]
    hub = HubSupervisor(command, RUN_DIR, env)
    hub.watch_signals()
    try:
        return hub.wait()
    finally:
        say(f"the hub ran for {time.monotonic() - started:.0f} s")


def prepare(env: dict[str, str]) -> tuple[dict[str, str], PlatformSettings, AdminPassword] | int:
    """The hub's environment, its settings and the admin's password; or an exit status."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    say(f"state in {RUN_DIR}: the hub's databases, its cookie secret, the admin's password")
    password = admin_password(env, RUN_DIR)
    if password.path is not None:
        env[ADMIN_PASSWORD_FILE_VARIABLE] = str(password.path)
    try:
        settings = settings_from_environment(env, cwd=str(RUN_DIR), read_file=read_text)
    except SettingsError as error:
        print(f"[make run] {error.field}: {error.message}", file=sys.stderr)
        return 2
    spawner = settings.spawner
    client = None if spawner.kind is SpawnerKind.LOCAL else connect(spawner.docker_url)
    image = None if client is None else lab_image(client, spawner)
    bind = None if client is None else gateway(client, spawner.network_name)
    if client is not None and image is not None and bind is not None:
        env["JUPYTERHUB_NOTEBOOK_IMAGE"] = image
        env["STELLARS_SPAWNER"] = "docker"
        if not env.get("JUPYTERHUB_HUB_BIND_URL", "").strip():
            env["JUPYTERHUB_HUB_BIND_URL"] = f"http://{bind}:{HUB_PORT}"
        servers = f"Docker containers of {image}"
    else:
        if os.geteuid() == 0 and not settings.spawner.local_as_root:
            # Local servers run as the hub's user: as root, every user would be root here.
            say(
                "no Docker engine answers, and local servers would run as root on this machine: "
                "start a Docker engine (bash tooling/install-system.sh) or run `make run` as an "
                "ordinary user"
            )
            return 2
        env["STELLARS_SPAWNER"] = "local"
        say(
            "USER SERVERS RUN AS LOCAL PROCESSES on this machine: start a Docker engine "
            "(bash tooling/install-system.sh) and rerun `make run` for containers"
        )
        ensure_local_lab()
        servers = "local processes"
    env.setdefault("STELLARS_CHP", str(CHP))
    env.setdefault("JUPYTERHUB_DATA_DIR", str(RUN_DIR))
    try:  # what the hub will read: the same parser, on the environment it gets
        settings = settings_from_environment(env, cwd=str(RUN_DIR), read_file=read_text)
    except SettingsError as error:
        print(f"[make run] {error.field}: {error.message}", file=sys.stderr)
        return 2
    say(f"user servers: {servers}; the hub listens on {listen_address(settings.hub.hub_bind_url)}")
    return env, settings, password


if __name__ == "__main__":
    sys.exit(main())
