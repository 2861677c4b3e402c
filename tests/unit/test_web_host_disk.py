"""The host's free disk as the admin pages' JSON and /hub/metrics give it: the background's last
measurement judged by the domain rule, with its age; gauges only for what was measured."""

from __future__ import annotations

from datetime import timedelta

from stellars.adapters.jupyterhub.web.metrics import host_disk_gauges
from stellars.adapters.jupyterhub.web.wire import host_disk_json
from stellars.domain.disk import DiskMeasurement, DiskSpace
from stellars.domain.services import Snapshot
from tests.strategies import EPOCH

GIB = 2**30
LOW = DiskMeasurement("/var/lib/docker", DiskSpace(400 * GIB, 38 * GIB))


def test_a_measured_disk_carries_its_bytes_share_state_words_and_age():
    snapshot = Snapshot(LOW, refreshed_at=EPOCH)
    assert host_disk_json(snapshot, EPOCH + timedelta(seconds=90.7)) == {
        "path": "/var/lib/docker",
        "state": "low",
        "total_bytes": 400 * GIB,
        "free_bytes": 38 * GIB,
        "free_percent": 9.5,
        "low_percent": 10,
        "text": "38 GiB free of 400 GiB (9.5 %): low, under 10 % free",
        "age_seconds": 90,
        "error": None,
    }


def test_a_disk_with_room_is_ok():
    measured = DiskMeasurement("/srv/docker", DiskSpace(400 * GIB, 140 * GIB))
    answer = host_disk_json(Snapshot(measured, refreshed_at=EPOCH), EPOCH)
    assert (answer["state"], answer["free_percent"], answer["age_seconds"]) == ("ok", 35.0, 0)


def test_before_the_first_measurement_the_disk_is_unknown_with_nulls():
    snapshot = Snapshot(DiskMeasurement.unknown("not measured yet"))
    assert host_disk_json(snapshot, EPOCH) == {
        "path": None,
        "state": "unknown",
        "total_bytes": None,
        "free_bytes": None,
        "free_percent": None,
        "low_percent": 10,
        "text": "unknown: not measured yet",
        "age_seconds": None,
        "error": None,
    }


def test_a_failed_measurement_says_why_and_keeps_the_directory():
    failed = DiskMeasurement.unknown(
        "the image 'lab' that measures the disk is not on the engine", "/var/lib/docker"
    )
    snapshot = Snapshot(failed, refreshed_at=EPOCH, error="boom", failures=1)
    answer = host_disk_json(snapshot, EPOCH + timedelta(minutes=5))
    assert answer["path"] == "/var/lib/docker"
    assert answer["state"] == "unknown"
    assert answer["text"] == (
        "unknown: the image 'lab' that measures the disk is not on the engine"
    )
    assert (answer["age_seconds"], answer["error"]) == (300, "boom")


def samples(measurement: DiskMeasurement) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {
        family.name: [(sample.labels, sample.value) for sample in family.samples]
        for family in host_disk_gauges(measurement)
    }


def test_the_gauges_give_free_and_total_bytes_by_path():
    assert samples(LOW) == {
        "stellars_host_disk_free_bytes": [({"path": "/var/lib/docker"}, 38 * GIB)],
        "stellars_host_disk_total_bytes": [({"path": "/var/lib/docker"}, 400 * GIB)],
    }


def test_an_unknown_disk_has_no_sample_rather_than_a_full_one():
    assert samples(DiskMeasurement.unknown("engine away", "/var/lib/docker")) == {
        "stellars_host_disk_free_bytes": [],
        "stellars_host_disk_total_bytes": [],
    }
