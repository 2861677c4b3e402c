"""deploy/stack.yml, the Docker Swarm stack, checked against compose.yml, the hub image and the
catalogue of settings: what `docker stack deploy` would run, without a swarm.

The file is read with PyYAML and its structure checked: the services a stack needs and only
keys Swarm honours, the hub alone on a manager, the node sampler on every node, PostgreSQL on one
labelled node with its volume, every secret external and mounted where it is read, the overlay
network attachable under the name the labs join, and the hub's environment parsed by the
platform's own catalogue. Where the Docker CLI has `docker stack config` (Docker 25 and later;
not Debian's 20.10), the CLI's own reading of the file must agree.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from stellars.configuration import BY_NAME, settings_from_environment
from stellars.entrypoints import node_sampler
from tests.backends.fixtures import require

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "deploy" / "stack.yml"
COMPOSE = ROOT / "compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

#: Keys `docker stack deploy` ignores or refuses in a service; a stack must not rely on them.
NOT_FOR_SWARM = {"build", "depends_on", "container_name", "restart", "group_add", "links"}
#: Set by the stack for swarm mode and added to the catalogue by the swarm branch (issue 22,
#: part 1). Until that merge they are checked for their values here; then they join the
#: environment the catalogue parses (drop them from this mapping).
SWARM_BRANCH = {"STELLARS_SPAWNER": "swarm", "STELLARS_SWARM_PIN_VOLUMES": "1"}
#: The node sampler's module, as `python -m` runs it.
NODE_SAMPLER_MODULE = "stellars.entrypoints.node_sampler"
_DEFAULTED = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::?-(?P<default>[^}]*)|:?\?[^}]*)?\}")
_EXPORT = re.compile(
    r'export (?P<name>[A-Z0-9_]+)="\$\$\(cat /run/secrets/(?P<secret>[a-z0-9-]+)\)"'
)


def interpolated(text: str) -> str:
    """`text` as compose interpolates it with nothing set: `${NAME:-default}` is the default."""
    return _DEFAULTED.sub(lambda match: match["default"] or "", text)


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return load(STACK)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load(COMPOSE)


def secret_targets(service: dict[str, Any]) -> dict[str, str]:
    """secret name -> where the service reads it (short and long syntax)."""
    targets = {}
    for entry in service.get("secrets", []):
        if isinstance(entry, str):
            targets[entry] = f"/run/secrets/{entry}"
        else:
            targets[entry["source"]] = f"/run/secrets/{entry.get('target', entry['source'])}"
    return targets


def exported(service: dict[str, Any]) -> dict[str, str]:
    """variable -> secret, for what the service's entrypoint exports from a secret file."""
    script = " ".join(str(part) for part in service.get("entrypoint", []))
    return {match["name"]: match["secret"] for match in _EXPORT.finditer(script)}


def test_the_stack_has_the_hub_the_sampler_and_the_database_and_no_build(stack):
    assert stack["version"] == "3.8"
    assert set(stack["services"]) == {"hub", "node-sampler", "db"}
    for name, service in stack["services"].items():
        assert not NOT_FOR_SWARM & set(service), f"{name} uses keys Swarm ignores"
        assert "image" in service


def test_the_images_are_those_compose_builds(stack, compose):
    hub_image = interpolated(compose["services"]["hub"]["image"])
    lab_image = interpolated(compose["services"]["lab-image"]["image"])
    assert interpolated(stack["services"]["hub"]["image"]) == hub_image
    assert interpolated(stack["services"]["node-sampler"]["image"]) == hub_image
    hub_environment = stack["services"]["hub"]["environment"]
    assert interpolated(hub_environment["JUPYTERHUB_NOTEBOOK_IMAGE"]) == lab_image
    # the volume jobs run the hub's own image, which every node has for its sampler
    assert interpolated(hub_environment["STELLARS_SWARM_JOB_IMAGE"]) == hub_image


def test_one_hub_on_a_manager_never_two_at_once(stack):
    deploy = stack["services"]["hub"]["deploy"]
    assert deploy["replicas"] == 1
    assert "node.role == manager" in deploy["placement"]["constraints"]
    assert deploy["update_config"]["order"] == "stop-first"
    assert deploy["restart_policy"]["condition"] == "any"


def test_the_hub_keeps_what_compose_gives_it(stack, compose):
    hub, composed = stack["services"]["hub"], compose["services"]["hub"]
    environment = {k: interpolated(str(v)) for k, v in hub["environment"].items()}
    for name, value in composed["environment"].items():
        if name == "JUPYTERHUB_ADMIN_PASSWORD_FILE":  # the secret's name differs, checked below
            continue
        assert environment[name] == interpolated(str(value)), name
    # compose publishes 8000 on loopback; the stack on the hub's node, the client's address kept
    [published] = hub["ports"]
    assert composed["ports"] == ["${STELLARS_PUBLISH:-127.0.0.1:8000}:8000"]
    assert (published["target"], published["mode"]) == (8000, "host")
    assert "/var/run/docker.sock:/var/run/docker.sock" in hub["volumes"]
    assert "hub-data:/srv/jupyterhub" in hub["volumes"]
    assert "hub-data" in stack["volumes"]


def test_the_hub_keeps_the_images_command_and_cleanup(stack):
    hub = stack["services"]["hub"]
    dockerfile = DOCKERFILE.read_text()
    assert f"CMD {json.dumps(hub['command'])}" in dockerfile
    image_entrypoint = json.loads(dockerfile.split("\nENTRYPOINT ")[1].split("\n")[0])
    tini_and_shell, script, name = (
        hub["entrypoint"][:4],
        hub["entrypoint"][4],
        hub["entrypoint"][5:],
    )
    assert tini_and_shell == image_entrypoint[:4]
    assert name == image_entrypoint[5:]
    # the image's own step first (stale pid files go), the secrets, then the command
    assert image_entrypoint[4].startswith(script.split(" && ")[0].replace("$$", "$"))
    assert script.endswith('exec "$$@"')


def test_the_labs_network_is_an_attachable_overlay_under_the_name_the_hub_gives_them(
    stack, compose
):
    network = stack["networks"]["hub-network"]
    assert network == {
        "name": compose["networks"]["hub-network"]["name"],
        "driver": "overlay",
        "attachable": True,
    }
    hub = stack["services"]["hub"]
    assert hub["environment"]["JUPYTERHUB_NETWORK_NAME"] == network["name"]
    for service in stack["services"].values():
        assert service["networks"] == ["hub-network"]
    # the labs reach the hub by its service name, at the port the image's hub listens on
    assert hub["environment"]["JUPYTERHUB_HUB_CONNECT_URL"] == "http://hub:8081"
    assert "JUPYTERHUB_HUB_BIND_URL=http://0.0.0.0:8081" in DOCKERFILE.read_text()


def test_every_secret_is_external_mounted_where_it_is_read_and_used(stack):
    declared = stack["secrets"]
    assert all(spec == {"external": True} for spec in declared.values())
    used: set[str] = set()
    for name, service in stack["services"].items():
        targets = secret_targets(service)
        used |= set(targets)
        for variable, secret in exported(service).items():
            assert secret in targets, f"{name} exports {variable} from {secret}, not mounted"
        for variable, value in service.get("environment", {}).items():
            if variable.endswith("_FILE"):
                assert value in targets.values(), f"{name}: {variable} names no mounted secret"
    assert used == set(declared)


def test_the_database_urls_and_the_cookie_secret_come_from_secrets(stack):
    assert exported(stack["services"]["hub"]) == {
        "JUPYTERHUB_DB_URL": "stellars-hub-db-url",
        "STELLARS_DB_URL": "stellars-db-url",
        "JPY_COOKIE_SECRET": "stellars-cookie-secret",
    }
    assert exported(stack["services"]["node-sampler"]) == {"STELLARS_DB_URL": "stellars-db-url"}
    hub = stack["services"]["hub"]
    assert hub["environment"]["JUPYTERHUB_ADMIN_PASSWORD_FILE"] == (
        "/run/secrets/stellars-admin-password"
    )
    # No hub token anywhere: the hub runs its activity sampler itself, the node samplers never
    # talk to the hub.
    assert set(secret_targets(hub)) == {
        "stellars-admin-password",
        "stellars-hub-db-url",
        "stellars-db-url",
        "stellars-cookie-secret",
    }
    assert set(secret_targets(stack["services"]["node-sampler"])) == {"stellars-db-url"}
    for service in stack["services"].values():
        text = yaml.safe_dump(service.get("environment", {}))
        assert "postgresql" not in text and "PASSWORD:" not in text


def test_the_hubs_environment_is_one_the_platform_accepts(stack, tmp_path):
    environment = {
        k: interpolated(str(v)) for k, v in stack["services"]["hub"]["environment"].items()
    }
    for name, value in SWARM_BRANCH.items():
        assert environment.pop(name) == value
    unknown = set(environment) - set(BY_NAME)
    assert not unknown, f"not in the catalogue of settings: {sorted(unknown)}"
    environment["JUPYTERHUB_DB_URL"] = "postgresql+psycopg://hub:pw@db:5432/jupyterhub"
    environment["STELLARS_DB_URL"] = "postgresql+psycopg://hub:pw@db:5432/stellars"
    read = {}

    def read_file(path: str) -> str:
        read[path] = True
        return "a-deployers-password\n"

    settings = settings_from_environment(environment, cwd=str(tmp_path), read_file=read_file)
    assert read == {"/run/secrets/stellars-admin-password": True}
    assert settings.hub.admin_password == "a-deployers-password"
    assert settings.hub.hub_connect_url == "http://hub:8081"
    assert settings.spawner.network_name == "stellars-hub-network"
    assert settings.hub.effective_stellars_db_url.startswith("postgresql")


def test_a_node_sampler_runs_on_every_node_with_what_its_parser_needs(stack):
    sampler = stack["services"]["node-sampler"]
    assert sampler["deploy"]["mode"] == "global"
    assert "replicas" not in sampler["deploy"]
    # an update starts the new sampler before stopping the old: no slot lost
    assert sampler["deploy"]["update_config"]["order"] == "start-first"
    assert sampler["deploy"]["restart_policy"]["condition"] == "any"
    python, flag, module, *argv = sampler["command"]
    assert (python, flag, module) == ("python", "-m", NODE_SAMPLER_MODULE)
    # what the sampler's main() reads: the database URL the entrypoint exports from its secret,
    # the node's socket (DOCKER_HOST unset), and nothing from the hub
    assert "environment" not in sampler
    secrets = {"STELLARS_DB_URL": "postgresql+psycopg://hub:pw@db:5432/stellars"}
    assert set(exported(sampler)) == set(secrets)
    settings = node_sampler.parse_settings(argv, secrets)
    assert settings.db_url == secrets["STELLARS_DB_URL"]
    assert settings.engine_url == "unix:///var/run/docker.sock"
    assert settings.interval.total_seconds() == 10  # the hub's default stats interval
    assert settings.node is None  # the engine's host name: the swarm node's hostname
    assert "/var/run/docker.sock:/var/run/docker.sock" in sampler["volumes"]
    # the hub image's health check asks for the hub's page: a sampler would be restarted by it
    assert sampler["healthcheck"] == {"disable": True}
    assert "HEALTHCHECK" in DOCKERFILE.read_text()
    entrypoint = sampler["entrypoint"]
    assert entrypoint[:4] == ["/usr/bin/tini", "--", "/bin/sh", "-c"]
    assert entrypoint[4].endswith('exec "$$@"')


def test_postgresql_keeps_its_data_on_one_labelled_node_and_makes_the_platforms_database(stack):
    db = stack["services"]["db"]
    assert db["environment"] == {
        "POSTGRES_USER": "hub",
        "POSTGRES_DB": "jupyterhub",
        "POSTGRES_PASSWORD_FILE": "/run/secrets/stellars-postgres-password",
    }
    assert db["volumes"] == ["db-data:/var/lib/postgresql/data"]
    assert "db-data" in stack["volumes"]
    assert db["deploy"]["replicas"] == 1
    assert db["deploy"]["placement"]["constraints"] == ["node.labels.stellars.db == true"]
    [init] = db["configs"]
    assert init["target"].startswith("/docker-entrypoint-initdb.d/")
    script = (STACK.parent / stack["configs"][init["source"]]["file"]).read_text()
    assert "CREATE DATABASE stellars;" in script
    # the databases the URLs in the stack's instructions name
    header = STACK.read_text().split("version:")[0]
    assert "@db:5432/jupyterhub" in header and "@db:5432/stellars" in header


def test_every_secret_the_instructions_create_is_the_one_the_stack_uses(stack):
    header = STACK.read_text().split("version:")[0]
    created = set(re.findall(r"docker secret create (\S+)", header))
    assert created == set(stack["secrets"])


@pytest.mark.real
def test_the_docker_cli_reads_the_stack_as_this_test_does(stack, tmp_path):
    docker = shutil.which("docker")
    if docker is None:
        require("docker-cli", "no docker command on PATH")
    probe = subprocess.run(
        [docker, "stack", "config", "--help"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        require("docker-cli", "this Docker CLI has no `docker stack config` (Docker 25 or later)")
    answer = subprocess.run(
        [docker, "stack", "config", "-c", str(STACK)],
        capture_output=True,
        text=True,
        check=False,
        # nothing from this environment interpolated; the CLI's own files in a scratch home
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)},
        cwd=ROOT,
    )
    assert answer.returncode == 0, answer.stderr
    final = yaml.safe_load(answer.stdout)
    assert set(final["services"]) == set(stack["services"])
    hub = final["services"]["hub"]
    assert hub["image"] == "stellars-hub:latest"
    assert hub["deploy"]["placement"]["constraints"] == ["node.role == manager"]
    assert final["services"]["node-sampler"]["deploy"]["mode"] == "global"
    assert final["networks"]["hub-network"]["attachable"] is True
    # `$$` is a literal `$` once the CLI has interpolated the file
    assert 'export STELLARS_DB_URL="$(cat /run/secrets/stellars-db-url)"' in hub["entrypoint"][4]
