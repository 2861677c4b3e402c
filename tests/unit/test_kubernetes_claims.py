"""User volumes as PersistentVolumeClaims: the claim created for a volume, and the platform's
volume list read back from a claim list and the kubelets' measurements (the JSON fixture is in
the shape of the API's PersistentVolumeClaimList, written after its reference)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from stellars.adapters.kubernetes import (
    OWNER_ANNOTATION,
    USED_BYTES_ANNOTATION,
    api_time,
    claim_manifest,
    claim_sizes_from_summary,
    size_annotations,
    volume_info,
    volumes_from_claims,
)
from stellars.domain.errors import InvalidValue
from stellars.domain.volumes import VolumeInfo

FIXTURES = Path(__file__).parent / "fixtures" / "kubernetes"
OWNER = "user-7-20261201T091500123456Z"


def fixture(name: str) -> object:
    return json.loads((FIXTURES / name).read_text())


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def test_a_user_volume_is_a_claim_marked_for_its_owner():
    assert claim_manifest(
        "jupyterlab-alice_home", owner=OWNER, capacity_bytes=10 * 1024**3, storage_class="fast"
    ) == {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": "jupyterlab-alice.home",
            "labels": {"app.kubernetes.io/managed-by": "stellars-hub"},
            "annotations": {OWNER_ANNOTATION: OWNER},
        },
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "10737418240"}},
            "storageClassName": "fast",
        },
    }


def test_an_unmarked_claim_of_the_default_class_has_neither():
    manifest = claim_manifest("team-data", owner=None, capacity_bytes=1)
    assert "annotations" not in manifest["metadata"]
    assert "storageClassName" not in manifest["spec"]  # the cluster's default class
    assert manifest["spec"]["resources"]["requests"]["storage"] == "1"
    assert claim_manifest("v", owner="", capacity_bytes=1)["metadata"].get("annotations") is None
    assert (
        claim_manifest("v", owner=None, capacity_bytes=1, storage_class="")["spec"][
            "storageClassName"
        ]
        == ""
    )  # "": explicitly no class, as Kubernetes reads it


@pytest.mark.parametrize("size", [0, -1, 1.5, True, "1Gi", None])
def test_a_claim_has_a_size_of_at_least_one_byte(size):
    with pytest.raises(InvalidValue) as refused:
        claim_manifest("v", owner=None, capacity_bytes=size)
    assert refused.value.field == "capacity_bytes"


def test_a_volume_name_without_a_claim_name_is_refused():
    with pytest.raises(InvalidValue) as refused:
        claim_manifest("team.data", owner=None, capacity_bytes=1)
    assert refused.value.field == "volumes"


def test_the_volume_list_uses_the_current_measurement_else_the_last_one():
    measured = claim_sizes_from_summary(fixture("kubelet_summary.json"))
    volumes = volumes_from_claims(fixture("claims.json"), measured)
    assert volumes == [
        VolumeInfo(  # mounted now: the kubelet's figure, not the annotation's older one
            "jupyterlab-alice_home", 1024**3, created_at=at("2026-12-01T09:15:02"), owner=OWNER
        ),
        VolumeInfo(
            "jupyterlab-alice_workspace", 8192, created_at=at("2026-12-01T09:15:02"), owner=OWNER
        ),
        VolumeInfo("jupyterlab-bob_home", 2048, created_at=at("2026-11-20T10:00:00")),
        # jupyterlab-carol.home is being deleted; the last claim has no name
    ]


def test_a_claim_not_mounted_keeps_its_last_measured_size():
    volumes = volumes_from_claims(fixture("claims.json"), {})
    sizes = {volume.name: volume.size_bytes for volume in volumes}
    assert sizes == {
        "jupyterlab-alice_home": 734_003_200,
        "jupyterlab-alice_workspace": None,  # never measured
        "jupyterlab-bob_home": None,  # an annotation that is no number
    }


@pytest.mark.parametrize("payload", [None, [], {}, {"items": {}}, {"items": [1, "x", None]}])
def test_a_claim_list_of_the_wrong_shape_is_no_volume(payload):
    assert volumes_from_claims(payload, {}) == []


def test_a_claim_without_metadata_is_no_volume():
    assert volume_info({}, {}) is None
    assert volume_info({"metadata": {"name": ""}}, {}) is None
    assert volume_info({"metadata": "x"}, {}) is None


def test_api_times_are_utc():
    assert api_time("2026-12-06T13:20:04Z") == at("2026-12-06T13:20:04")
    assert api_time("2026-12-06T13:20:04.123456Z") == at("2026-12-06T13:20:04")
    for text in ("2026-12-06T13:20:04", "2026-12-06 13:20:04Z", "2026-13-06T13:20:04Z", "", 5):
        assert api_time(text) is None


def test_measured_sizes_are_recorded_on_their_claims_with_the_time():
    now = datetime(2026, 12, 6, 14, 20, 4, 999, tzinfo=timezone(timedelta(hours=1)))
    assert size_annotations({"jupyterlab-alice.home": 1024}, now) == {
        "jupyterlab-alice.home": {
            "metadata": {
                "annotations": {
                    USED_BYTES_ANNOTATION: "1024",
                    f"{USED_BYTES_ANNOTATION}-at": "2026-12-06T13:20:04Z",
                }
            }
        }
    }
    assert size_annotations({}, now) == {}


def test_a_recorded_size_reads_back_as_the_volumes_size():
    now = datetime(2026, 12, 6, 13, 0, tzinfo=timezone.utc)
    patch = size_annotations({"c": 5}, now)["c"]
    claim = {"metadata": {"name": "c", **patch["metadata"]}}
    info = volume_info(claim, {})
    assert info is not None
    assert info.size_bytes == 5
