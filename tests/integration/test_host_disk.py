"""The host's free disk through a real hub: deploy/jupyterhub_config.py with Docker servers
measures the engine's data directory in a container of the lab image (here the tiny image,
which is all the measurement needs) and the activity API, the settings API and /hub/metrics
give the numbers `df` gives for that directory on the engine's side, while a hub whose image
is not on the engine says why the disk is unknown.

The free bytes move while the tests run (other containers write): they are compared within
a tolerance, the total exactly.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.backends.hub_helpers import wait_for
from tests.backends.platform import ADMIN_PASSWORD, DEPLOY_CONFIG, HubClient, platform_env

pytestmark = pytest.mark.real

TAG = secrets.token_hex(3)
ADMIN = f"adm{TAG}"
GIB = 2**30


def engine_df(docker_client, image: str, labels: dict[str, str]) -> tuple[str, int, int]:
    """The engine's data directory and `df -P -B1`'s size and available bytes for it, read in
    a container on the engine's side (as a deployer would check it)."""
    root = docker_client.info()["DockerRootDir"]
    output = docker_client.containers.run(
        image,
        ["df", "-P", "-B1", "/measured"],
        volumes={root: {"bind": "/measured", "mode": "ro"}},
        labels=labels,
        remove=True,
    ).decode()
    header, line = output.strip().splitlines()
    assert header.split()[1] == "1-blocks", output
    fields = line.split()
    assert fields[-1] == "/measured", output
    return root, int(fields[-5]), int(fields[-3])


def hub(factory, tmp_path_factory, image: str) -> HubClient:
    tmp = tmp_path_factory.mktemp("disk")
    env = platform_env(
        tmp / "data",
        JUPYTERHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
        JUPYTERHUB_ADMIN=ADMIN,
        STELLARS_SPAWNER="docker",
        JUPYTERHUB_NOTEBOOK_IMAGE=image,
    )
    process = factory(DEPLOY_CONFIG, env, workdir=tmp / "hub")
    admin = HubClient(process.public_url)
    admin.login(ADMIN, ADMIN_PASSWORD)
    return admin


def measured_disk(admin: HubClient) -> dict[str, Any]:
    """The activity API's `host_disk` once the hub's first measurement is in."""
    answers: list[dict[str, Any]] = []

    def measured() -> bool:
        answer = admin.api("GET", "/activity", timeout=30)
        assert answer.status_code == 200, answer.text
        answers.append(answer.json()["host_disk"])
        return answers[-1]["age_seconds"] is not None

    wait_for(measured, 120, "the hub's first measurement of the disk")
    return answers[-1]


@pytest.fixture(scope="module")
def admin(jupyterhub_factory_module, tmp_path_factory, docker_client, tiny_image) -> HubClient:
    return hub(jupyterhub_factory_module, tmp_path_factory, tiny_image)


def test_the_dashboard_shows_the_engines_data_directory_as_df_measures_it(
    admin, docker_client, tiny_image, docker_labels
):
    disk = measured_disk(admin)
    root, total, available = engine_df(docker_client, tiny_image, docker_labels)
    assert disk["path"] == root
    assert disk["total_bytes"] == total
    assert abs(disk["free_bytes"] - available) <= max(2 * GIB, total // 100), (disk, available)
    share = disk["free_bytes"] * 100 / disk["total_bytes"]
    assert disk["free_percent"] == pytest.approx(share, abs=0.1)
    assert disk["state"] == ("low" if share < 10 else "ok")
    assert disk["low_percent"] == 10
    assert " free of " in disk["text"] and f"({disk['free_percent']:.1f} %)" in disk["text"]


def test_the_settings_api_and_the_metrics_carry_the_same_measurement(admin):
    disk = measured_disk(admin)
    settings = admin.api("GET", "/settings", timeout=30)
    assert settings.status_code == 200, settings.text
    assert settings.json()["host_disk"]["total_bytes"] == disk["total_bytes"]
    assert settings.json()["host_disk"]["path"] == disk["path"]
    metrics = admin.session.get(admin.url("/metrics"), timeout=30).text
    label = f'{{path="{disk["path"]}"}}'
    total_line = f"stellars_host_disk_total_bytes{label} "
    assert any(line.startswith(total_line) for line in metrics.splitlines()), metrics[-2000:]
    total = next(line for line in metrics.splitlines() if line.startswith(total_line))
    assert float(total.split()[-1]) == disk["total_bytes"]
    assert f"stellars_host_disk_free_bytes{label} " in metrics


def test_a_hub_whose_image_is_not_on_the_engine_says_why_the_disk_is_unknown(
    jupyterhub_factory_module, tmp_path_factory, docker_client
):
    admin = hub(jupyterhub_factory_module, tmp_path_factory, f"stellars-test-absent:{TAG}")
    disk = measured_disk(admin)
    assert disk["state"] == "unknown"
    assert disk["path"] == docker_client.info()["DockerRootDir"]
    assert (disk["total_bytes"], disk["free_bytes"], disk["free_percent"]) == (None, None, None)
    assert disk["text"] == (
        f"unknown: the image 'stellars-test-absent:{TAG}' that measures the disk is not on "
        "the engine"
    )
    metrics = admin.session.get(admin.url("/metrics"), timeout=30).text
    assert "stellars_host_disk_free_bytes{" not in metrics
