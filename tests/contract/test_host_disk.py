"""Contract of the HostDisk port: the free space of the engine's data directory.

A measurement never raises: a readable filesystem yields its path, its total and its free bytes
(free never more than total), and every failure (nothing to measure with, garbage, a hang, a
command that fails) yields no space, with a reason. Fixtures yield a factory that builds the
implementation for a named scenario: the fake is given its answer; the directory adapter
measures a real directory (its failures from a `statvfs` that misbehaves); the engine adapter
measures the real engine's data directory in a container of the tiny image, its failures from
an image that is missing or whose `stat` misbehaves.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stellars.adapters.docker import EngineDataDisk
from stellars.adapters.memory import StaticHostDisk
from stellars.adapters.system import DirectoryDisk
from stellars.domain.disk import DiskMeasurement, DiskSpace
from stellars.ports.host_disk import HostDisk
from tests.backends.disk_images import fake_stat_image

FAILURES = ["missing", "garbage", "timeout", "failing"]
ROOT = "/var/lib/docker"

DiskFactory = Callable[[str], HostDisk]


def memory_factory(scenario: str) -> HostDisk:
    if scenario == "measured":
        return StaticHostDisk(DiskMeasurement(ROOT, DiskSpace(400 * 2**30, 38 * 2**30)))
    return StaticHostDisk(DiskMeasurement.unknown(f"simulated: {scenario}", ROOT))


def _hang(path: str) -> os.statvfs_result:
    time.sleep(2)
    return os.statvfs(path)


def _fail(path: str) -> os.statvfs_result:
    raise PermissionError(13, "Permission denied", path)


def _no_size(path: str) -> os.statvfs_result:
    # What a pseudo filesystem answers: no blocks at all.
    return os.statvfs_result((4096, 4096, 0, 0, 0, 0, 0, 0, 0, 255))


def directory_factory(directory: Path) -> DiskFactory:
    def make(scenario: str) -> HostDisk:
        if scenario == "measured":
            return DirectoryDisk(str(directory))
        if scenario == "missing":
            return DirectoryDisk(str(directory / "absent"))
        statvfs = {"garbage": _no_size, "timeout": _hang, "failing": _fail}[scenario]
        return DirectoryDisk(str(directory), statvfs=statvfs, timeout_seconds=0.2)

    return make


# The engine adapter's misbehaving `stat`s, first on the PATH of an image made from the tiny one.
FAKE_STAT = {
    "garbage": "#!/bin/sh\necho '<html><body>502 Bad Gateway</body></html>'\n",
    "timeout": "#!/bin/sh\nsleep 60\n",
    "failing": '#!/bin/sh\necho "stat: can\'t read file system information" >&2\nexit 1\n',
}
CONTAINER_TIMEOUT_SECONDS = {"timeout": 2.0}


@pytest.fixture(params=["memory", "directory", pytest.param("engine", marks=pytest.mark.real)])
def make_disk(request) -> Iterator[DiskFactory]:
    if request.param == "memory":
        yield memory_factory
        return
    if request.param == "directory":
        yield directory_factory(request.getfixturevalue("tmp_path"))
        return
    engine = request.getfixturevalue("docker_engine")
    client = request.getfixturevalue("docker_client")
    tiny_image = request.getfixturevalue("tiny_image")
    labels = request.getfixturevalue("docker_labels")

    def make(scenario: str) -> HostDisk:
        if scenario == "measured":
            image = tiny_image
        elif scenario == "missing":
            image = "stellars-test-absent:never-built"
        else:
            image = fake_stat_image(client, tiny_image, FAKE_STAT[scenario])
        return EngineDataDisk(
            engine,
            image,
            timeout_seconds=CONTAINER_TIMEOUT_SECONDS.get(scenario, 30.0),
            labels=labels,
        )

    yield make


async def test_a_filesystem_is_measured_with_its_path_total_and_free_bytes(make_disk):
    measurement = await make_disk("measured").measure()
    assert measurement.reason == ""
    assert measurement.path.startswith("/")
    space = measurement.space
    assert space is not None
    assert 0 <= space.free_bytes <= space.total_bytes
    assert space.total_bytes > 2**20  # a real filesystem, not a pseudo one


async def test_measuring_again_measures_the_same_filesystem(make_disk):
    disk = make_disk("measured")
    first, second = await disk.measure(), await disk.measure()
    assert first.space is not None and second.space is not None
    assert (second.path, second.space.total_bytes) == (first.path, first.space.total_bytes)


@pytest.mark.parametrize("scenario", FAILURES)
async def test_every_failure_is_no_space_with_a_reason(make_disk, scenario):
    measurement = await make_disk(scenario).measure()
    assert measurement.space is None
    assert measurement.reason.strip()
    assert "\n" not in measurement.reason
