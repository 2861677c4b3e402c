"""The composition root in swarm mode: the SwarmSpawner subclass configured like DockerSpawner,
the pin setting passed on, the nodes on the settings page, SQLite and a non-manager refused."""

from __future__ import annotations

import pytest

import stellars.entrypoints.hub as hub_entry
from stellars.adapters.docker import (
    DockerContainerStats,
    DockerVolumeStore,
    NodeReportStats,
    NodeReportVolumes,
)
from stellars.domain.settings import SpawnerKind
from stellars.domain.swarm import SwarmNode
from stellars.entrypoints.hub import SpawnerChoice, describe_nodes
from tests.unit.test_deploy_config import load, platform_of

POSTGRES = "postgresql+psycopg://st:pw@db/stellars"
NODES = (
    SwarmNode(hostname="n1", state="ready", availability="active", labs=2, manager=True),
    SwarmNode(hostname="n2", state="ready", availability="drain", labs=0),
)


def swarm_choice(settings):
    return SpawnerChoice(SpawnerKind.SWARM, "STELLARS_SPAWNER=swarm: 2 nodes, 1 taking labs",
                         True, None, NODES)  # fmt: skip


def test_swarm_mode_configures_the_platform_swarm_spawner(monkeypatch, tmp_path):
    monkeypatch.setattr(hub_entry, "choose_spawner", swarm_choice)
    c = load(monkeypatch, tmp_path, STELLARS_SPAWNER="swarm", STELLARS_DB_URL=POSTGRES,
             DOCKER_HOST="tcp://manager:2375", JUPYTERHUB_NETWORK_NAME="stellars-overlay",
             STELLARS_SWARM_PIN_VOLUMES="0")  # fmt: skip
    assert c.JupyterHub.spawner_class == (
        "stellars.adapters.jupyterhub.plugin.swarm_spawner.PlatformSwarmSpawner"
    )
    assert c.SwarmSpawner.client_kwargs == {"base_url": "tcp://manager:2375"}
    assert c.SwarmSpawner.network_name == "stellars-overlay"
    assert c.SwarmSpawner.name_template == "jupyterlab-{username}"
    assert dict(c.SwarmSpawner.volumes) == dict(platform_of(c).settings.spawner.volumes)
    assert c.PlatformSwarmSpawner.pin_volumes is False
    assert "DockerSpawner" not in c or "image" not in c.DockerSpawner
    config = c.Spawner.pre_spawn_hook.__globals__
    hook = config["SPAWN_HOOK"]
    platform = platform_of(c)
    # Volumes and stats from the nodes' reports, removal by jobs of the hub's image on the nodes
    assert hook.volumes is platform.volumes and hook.quotas is platform.quotas
    assert isinstance(config["VOLUME_STORE"], NodeReportVolumes)
    assert isinstance(config["CONTAINER_STATS"], NodeReportStats)
    assert config["NODE_REPORTS"].database is config["DATABASE"]
    assert config["VOLUME_STORE"]._jobs.image == "stellars-hub:latest"
    assert config["VOLUME_STORE"]._reports is config["NODE_REPORTS"]
    assert platform.dashboard._node_reports is config["NODE_REPORTS"]
    facts = dict(platform_of(c).facts)
    assert facts["User servers"] == "swarm (STELLARS_SPAWNER=swarm: 2 nodes, 1 taking labs)"
    assert facts["Swarm nodes"] == (
        "n1 (manager, ready, active, 2 labs), n2 (worker, ready, drain, 0 labs)"
    )


def test_swarm_with_sqlite_stops_the_hub_naming_the_database_variable(monkeypatch, tmp_path):
    monkeypatch.setattr(hub_entry, "choose_spawner", swarm_choice)
    with pytest.raises(SystemExit) as stopped:
        load(monkeypatch, tmp_path, STELLARS_SPAWNER="swarm")
    assert str(stopped.value).startswith(
        "stellars-hub: configuration error: STELLARS_DB_URL: swarm mode needs a database every "
        "node reaches"
    )


def test_swarm_without_a_manager_stops_the_hub(monkeypatch, tmp_path):
    with pytest.raises(SystemExit) as stopped:
        load(monkeypatch, tmp_path, STELLARS_SPAWNER="swarm", STELLARS_DB_URL=POSTGRES,
             DOCKER_HOST="unix:///nonexistent/docker.sock")  # fmt: skip
    assert "STELLARS_SPAWNER: swarm: no Docker engine answers at unix:///nonexistent" in str(
        stopped.value
    )


def test_describe_nodes():
    assert describe_nodes(()) == "none"
    assert describe_nodes(NODES[1:]) == "n2 (worker, ready, drain, 0 labs)"


def test_the_job_image_and_single_host_mode(monkeypatch, tmp_path):
    monkeypatch.setattr(hub_entry, "choose_spawner", swarm_choice)
    c = load(monkeypatch, tmp_path, STELLARS_SPAWNER="swarm", STELLARS_DB_URL=POSTGRES,
             DOCKER_HOST="tcp://manager:2375", STELLARS_SWARM_JOB_IMAGE="reg/hub:7")  # fmt: skip
    assert c.Spawner.pre_spawn_hook.__globals__["VOLUME_STORE"]._jobs.image == "reg/hub:7"


def test_single_host_mode_keeps_one_engines_volumes_and_stats(monkeypatch, tmp_path):
    single = load(monkeypatch, tmp_path)
    config = single.Spawner.pre_spawn_hook.__globals__
    assert config["NODE_REPORTS"] is None
    assert isinstance(config["VOLUME_STORE"], DockerVolumeStore)
    assert isinstance(config["CONTAINER_STATS"], DockerContainerStats)
    assert platform_of(single).dashboard._node_reports is None
