"""`make run`: the platform on its embedded defaults, on this machine, ready for a first login.

1. With a Docker engine: use the configured lab image when the engine has it or can pull it;
   otherwise build the project's lab image offline (lab/requirements.txt, mmdebstrap; about three
   minutes the first time, cached afterwards) and use that. The hub listens on the gateway of
   the servers' Docker network, so containers reach it over Docker's own bridge.
2. Without one (or without what the offline build needs): user servers run as local processes,
   with JupyterLab installed into this virtual environment, and a banner says why.
3. Then `jupyterhub -f deploy/jupyterhub_config.py` runs in .run/ (SQLite files, cookie secret),
   with the proxy on 127.0.0.1:8000 only.

Each decision is printed once, as one line starting with [make run].
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import subprocess
import sys
import time
from pathlib import Path

import docker
import docker.errors
import requests

from stellars.configuration import SettingsError, settings_from_environment
from stellars.domain.settings import SpawnerKind, SpawnerSettings
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


def say(message: str) -> None:
    print(f"[make run] {message}", flush=True)


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
            "notifications extension, jupyterhub-singleuser of this hub): about three minutes "
            "the first time, cached afterwards"
        )
    try:
        built = ensure_image(client, recipe)
    except (BackendMissing, RuntimeError) as exc:
        say(f"cannot build the lab image: {exc}")
        return None
    outcome = f"built in {built.seconds:.0f} s" if built.built else "cached"
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


def main() -> int:
    env = dict(os.environ)
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    try:
        settings = settings_from_environment(env, cwd=str(RUN_DIR))
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
        env.setdefault("JUPYTERHUB_HUB_BIND_URL", f"http://{bind}:{HUB_PORT}")
        say(f"user servers: Docker containers of {image}; the hub listens on {bind}:{HUB_PORT}")
    else:
        env["STELLARS_SPAWNER"] = "local"
        say(
            "USER SERVERS RUN AS LOCAL PROCESSES on this machine: start a Docker engine "
            "(bash tooling/install-system.sh) and rerun `make run` for containers"
        )
        ensure_local_lab()
    env.setdefault("STELLARS_CHP", str(CHP))
    env.setdefault("JUPYTERHUB_DATA_DIR", str(RUN_DIR))
    public = f"http://{settings.hub.public_ip}:{settings.hub.public_port}"
    first_login = (
        f"log in as {settings.hub.admin_username} with the password you set"
        if settings.hub.admin_password
        else f"sign up as {settings.hub.admin_username!r} to create the admin account"
    )
    say(f"open {public}/ and {first_login}; Ctrl-C stops the hub")
    started = time.monotonic()
    command = [
        str(Path(sys.executable).parent / "jupyterhub"),
        "-f",
        str(REPO_ROOT / "deploy" / "jupyterhub_config.py"),
    ]
    try:
        return subprocess.run(command, cwd=RUN_DIR, env=env, check=False).returncode
    except KeyboardInterrupt:
        return 0
    finally:
        say(f"the hub ran for {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
