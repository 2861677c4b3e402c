"""User volumes as PersistentVolumeClaims: the claim the platform creates for a volume, and the
platform's volume list read back from the namespace's claims and the kubelets' measurements.

- A claim is created with the owner key (`stellars.domain.volume_ownership`) in the annotation
  `stellars-hub.org/owner`, the label `app.kubernetes.io/managed-by: stellars-hub`, one access
  mode (`ReadWriteOnce`: one node mounts it, as a Docker volume lives on one engine), the
  storage class and the requested size (the user's storage quota's share, docs/kubernetes.md).
- The kubelets measure only mounted claims, so the last measured size of each claim is kept in
  its annotation `stellars-hub.org/used-bytes`; a claim's size is the current measurement when
  there is one, else that annotation, else unknown (None), as a Docker volume not measured yet.
- A claim being deleted (`metadata.deletionTimestamp`: `Terminating` while a pod still mounts
  it) is no volume any more: a reset waits for it to be gone, and it is never listed.

Names are the platform's: `volume_of_claim` of each claim's name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from stellars.domain.errors import InvalidValue
from stellars.domain.volumes import VolumeInfo

from .naming import claim_name, volume_of_claim

OWNER_ANNOTATION = "stellars-hub.org/owner"
USED_BYTES_ANNOTATION = "stellars-hub.org/used-bytes"
MANAGED_BY = {"app.kubernetes.io/managed-by": "stellars-hub"}
_API_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?Z$")
_WHOLE = re.compile(r"^\d{1,19}$")


def api_time(text: object) -> datetime | None:
    """A time as the API server writes it ("2026-12-06T13:20:04Z"), in UTC; None otherwise."""
    if not isinstance(text, str):
        return None
    match = _API_TIME.match(text)
    if match is None:
        return None
    try:
        return datetime.fromisoformat(match[1]).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def claim_manifest(
    volume: str,
    *,
    owner: str | None,
    capacity_bytes: int,
    storage_class: str | None = None,
) -> dict[str, Any]:
    """The PersistentVolumeClaim that holds the platform's volume `volume`, marked for `owner`
    (None: unmarked). Raises InvalidValue("volumes") for a name without a claim name,
    InvalidValue("capacity_bytes") for a size under one byte."""
    if isinstance(capacity_bytes, bool) or not isinstance(capacity_bytes, int):
        raise InvalidValue("capacity_bytes", f"must be a whole number, got {capacity_bytes!r}")
    if capacity_bytes < 1:
        raise InvalidValue("capacity_bytes", f"must be at least 1 byte, got {capacity_bytes}")
    metadata: dict[str, Any] = {"name": claim_name(volume), "labels": dict(MANAGED_BY)}
    if owner:
        metadata["annotations"] = {OWNER_ANNOTATION: owner}
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": str(capacity_bytes)}},
    }
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata,
        "spec": spec,
    }


def _last_measured(annotations: Mapping[str, Any]) -> int | None:
    text = annotations.get(USED_BYTES_ANNOTATION)
    return int(text) if isinstance(text, str) and _WHOLE.match(text) else None


def volume_info(claim: Mapping[str, Any], measured: Mapping[str, int]) -> VolumeInfo | None:
    """One claim of a claim list as the platform's volume; None for one without a name or
    being deleted. `measured`: claim name -> used bytes, as the kubelets report them now."""
    metadata = claim.get("metadata")
    if not isinstance(metadata, Mapping):
        return None
    name = metadata.get("name")
    if not isinstance(name, str) or not name or metadata.get("deletionTimestamp"):
        return None
    annotations = metadata.get("annotations")
    annotations = annotations if isinstance(annotations, Mapping) else {}
    owner = annotations.get(OWNER_ANNOTATION)
    size = measured.get(name)
    return VolumeInfo(
        volume_of_claim(name),
        size if size is not None else _last_measured(annotations),
        created_at=api_time(metadata.get("creationTimestamp")),
        owner=owner if isinstance(owner, str) and owner else None,
    )


def volumes_from_claims(claims: object, measured: Mapping[str, int]) -> list[VolumeInfo]:
    """The platform's volumes in a claim list (`GET /api/v1/namespaces/{ns}/
    persistentvolumeclaims`), sorted by name (see `volume_info`)."""
    items = claims.get("items") if isinstance(claims, Mapping) else None
    found: Sequence[object] = items if isinstance(items, list) else ()
    infos = [volume_info(claim, measured) for claim in found if isinstance(claim, Mapping)]
    return sorted((info for info in infos if info is not None), key=lambda info: info.name)


def size_annotations(measured: Mapping[str, int], now: datetime) -> dict[str, dict[str, Any]]:
    """claim name -> the merge patch that records its measured size (and when) on the claim,
    so that a stopped user's volumes keep their last size."""
    stamp = now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        claim: {
            "metadata": {
                "annotations": {
                    USED_BYTES_ANNOTATION: str(used),
                    f"{USED_BYTES_ANNOTATION}-at": stamp,
                }
            }
        }
        for claim, used in measured.items()
    }
