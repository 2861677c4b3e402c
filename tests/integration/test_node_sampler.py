"""The node sampler against the host's engine (tiny containers and volumes) with SQLite: one
report with the labs (swarm task containers by their service's name) and the platform's
volumes with sizes, the run until SIGTERM with one report per slot, and the command line."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import docker.errors
import pytest

from stellars.adapters.docker import DockerEngine
from stellars.adapters.sql import SqlDatabase, create_store_engine
from stellars.adapters.sql.node_reports import SqlNodeReportStore
from stellars.entrypoints.node_sampler import (
    LAB_LABEL,
    SERVICE_NAME_LABEL,
    VOLUME_LABEL,
    DockerNodeListing,
)
from tests.strategies import EPOCH

MODULE = [sys.executable, "-m", "stellars.entrypoints.node_sampler"]
SINCE = EPOCH - timedelta(days=3650)


def unique(label: str) -> str:
    return f"stellars-test-{uuid.uuid4().hex[:8]}-{label}"


def reports(url: str):
    async def read():
        database = SqlDatabase(create_store_engine(url))
        try:
            store = SqlNodeReportStore(database)
            return await store.latest(), {
                report.node: await store.slots(report.node, SINCE)
                for report in await store.latest()
            }
        finally:
            database.close()

    return asyncio.run(read())


@pytest.fixture
def node(docker_client, docker_labels, tiny_image):
    """Two labs (a swarm task's container, named after its service by its label, and a plain
    one), a container that is no lab, two platform volumes (one with a file) and one that is
    not the platform's."""
    names = {key: unique(key) for key in ("task", "plain", "other", "vol1", "vol2", "volx")}
    service = unique("service")
    client = docker_client
    client.volumes.create(names["vol1"], labels={**docker_labels, VOLUME_LABEL: "alice"})
    client.volumes.create(names["vol2"], labels={**docker_labels, VOLUME_LABEL: "bob"})
    client.volumes.create(names["volx"], labels=docker_labels)
    run = {"detach": True, "labels": docker_labels}
    client.containers.run(
        tiny_image,
        ["sh", "-c", "head -c 100000 /dev/zero > /v/file && sleep 3600"],
        name=names["task"],
        labels={**docker_labels, LAB_LABEL: "alice", SERVICE_NAME_LABEL: service},
        volumes={names["vol1"]: {"bind": "/v", "mode": "rw"}},
        detach=True,
    )
    client.containers.run(
        tiny_image, name=names["plain"], **{**run, "labels": {**docker_labels, LAB_LABEL: "b"}}
    )
    client.containers.run(tiny_image, name=names["other"], **run)
    names["service"] = service
    yield names
    # Tolerant: a sibling test session may sweep labelled objects too.
    for key in ("task", "plain", "other"):
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_container(names[key], force=True)
    for key in ("vol1", "vol2", "volx"):
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_volume(names[key], force=True)


def env(url: str) -> dict[str, str]:
    found = {"PATH": "/usr/bin:/bin", "STELLARS_DB_URL": url}
    if os.environ.get("DOCKER_HOST"):
        found["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    return found


@pytest.mark.real
def test_once_reports_the_nodes_labs_and_platform_volumes(node, tmp_path):
    url = f"sqlite:///{tmp_path / 'reports.sqlite'}"
    done = subprocess.run(
        [*MODULE, "--once", "--node", "node-x"], capture_output=True, text=True, timeout=120,
        env=env(url),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "node node-x slot" in done.stderr and "stored in" in done.stderr
    latest, slots = reports(url)
    assert [report.node for report in latest] == ["node-x"]
    report = latest[0]
    labs = {lab.name: lab for lab in report.labs}
    # The task's container by its service's name, the plain one by its own; not the other.
    assert node["service"] in labs and node["plain"] in labs
    assert node["task"] not in labs and node["other"] not in labs
    for name in (node["service"], node["plain"]):
        assert labs[name].usage.memory_bytes > 0
        assert labs[name].usage.memory_limit_bytes > 0
        assert labs[name].reading is not None and labs[name].reading.cpu_total_ns > 0
    volumes = {volume.name: volume for volume in report.volumes}
    assert node["vol1"] in volumes and node["vol2"] in volumes and node["volx"] not in volumes
    assert volumes[node["vol1"]].size_bytes is not None
    assert volumes[node["vol1"]].size_bytes >= 100_000
    assert volumes[node["vol2"]].created_at is not None
    assert slots == {"node-x": [report.slot]}
    assert report.slot <= report.taken_at < report.slot + timedelta(seconds=10)


@pytest.mark.real
def test_it_reports_once_per_slot_until_sigterm(node, tmp_path, docker_client):
    url = f"sqlite:///{tmp_path / 'reports.sqlite'}"
    process = subprocess.Popen(
        [*MODULE, "--interval-seconds", "2"], stderr=subprocess.PIPE, text=True, env=env(url)
    )
    try:
        time.sleep(11)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "Node sampler started: every 2 s" in stderr
    assert "stopped (" in stderr and ", 0 failed)" in stderr
    latest, slots = reports(url)
    [report] = latest
    assert report.node == docker_client.info()["Name"]  # the engine's host name by default
    taken = slots[report.node]
    assert len(taken) >= 4
    # Every slot once, none skipped, after the first report: the first tick also creates the
    # database's schema and reads each lab's CPU twice, and may outlast a 2 s slot here.
    steps = {later - earlier for earlier, later in itertools.pairwise(taken[1:])}
    assert steps == {timedelta(seconds=2)}, stderr


@pytest.mark.real
async def test_the_listing_names_the_node_and_its_labs(node, docker_client):
    engine = DockerEngine(docker_client, max_workers=2, timeout_seconds=30)
    try:
        listing = DockerNodeListing(engine)
        assert await listing.node_name() == docker_client.info()["Name"]
        labs = await listing.labs()
        assert labs[node["task"]] == node["service"]
        assert labs[node["plain"]] == node["plain"]
        assert node["other"] not in labs
        names = [volume.name for volume in await listing.volumes()]
        assert node["vol1"] in names and node["vol2"] in names and node["volx"] not in names
        assert names == sorted(names)
        assert all(volume.size_bytes is None for volume in await listing.volumes())
    finally:
        engine.close()


@pytest.mark.parametrize(
    "command", [MODULE, [str(Path(sys.executable).parent / "stellars-node-sampler")]]
)
def test_it_starts_as_a_module_and_as_the_console_script(command):
    done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--interval-seconds" in done.stdout and "STELLARS_DB_URL" in done.stdout


def test_once_without_an_engine_logs_the_failure_and_exits_1(tmp_path):
    url = f"sqlite:///{tmp_path / 'reports.sqlite'}"
    done = subprocess.run(
        [*MODULE, "--once"], capture_output=True, text=True, timeout=120,
        env={**env(url), "DOCKER_HOST": f"unix://{tmp_path}/no.sock"},
    )  # fmt: skip
    assert done.returncode == 1
    assert "Tick failed, retrying at the next tick:" in done.stderr
