"""Kubernetes names for what the platform names the Docker way: a lab's pod, a volume's claim.

The platform computes every name once (`stellars.domain.volumes`: DockerSpawner's escaping,
`container_name`, `UserVolume.name_for`), and the Kubernetes adapters derive theirs from it, so
the dashboard, the volume routes and the spawner always agree on which pod or claim is whose.

- **Pods** are named by a DNS label (at most 63 characters of a-z, 0-9 and '-', starting and
  ending with a letter or digit; the pod's host name is cut to 63 characters). A container name
  that already is one is the pod's name as it is (the default `jupyterlab-alice` is); any other
  is cut to 54 characters of its label-safe form and given '-' and 8 hex digits of the SHA-256
  of the whole name, so two different names share a pod only if a hash collides.
- **Claims** (PersistentVolumeClaims) are named by a DNS subdomain: at most 253 characters,
  dot-separated labels. A Docker volume name maps one to one: '_' becomes '.'
  (`jupyterlab-alice_home` is `jupyterlab-alice.home`), and a volume name that holds a '.' of
  its own, or whose mapped form is no subdomain, has no claim (`claim_problem` says why; the
  hub refuses such a user the way it refuses names too long for Docker).
- **Pod volumes** (the `name` an entry of the pod's `volumes` and `volumeMounts` shares) are
  labels too, and unique within the pod: `user-<index>-<label>` for the user volumes, or
  `user-<index>` where the label is not label-safe.
"""

from __future__ import annotations

import hashlib
import re

from stellars.domain.errors import InvalidValue

LABEL_LIMIT = 63
SUBDOMAIN_LIMIT = 253
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
#: How much of an unusable name a derived pod name keeps before its hash.
_KEPT = LABEL_LIMIT - 9
_HASH_DIGITS = 8


def is_label(text: str) -> bool:
    """Whether `text` is a DNS label (RFC 1123) as Kubernetes checks it."""
    return len(text) <= LABEL_LIMIT and _LABEL.match(text) is not None


def is_subdomain(text: str) -> bool:
    """Whether `text` is a DNS subdomain (RFC 1123): labels joined by '.', 253 at most."""
    return 0 < len(text) <= SUBDOMAIN_LIMIT and all(
        _LABEL.match(part) is not None for part in text.split(".")
    )


def pod_name(container: str) -> str:
    """The pod of the lab the platform calls `container` (see the module docstring)."""
    if is_label(container):
        return container
    digest = hashlib.sha256(container.encode("utf-8")).hexdigest()[:_HASH_DIGITS]
    safe = re.sub(r"[^a-z0-9-]+", "-", container.lower())[:_KEPT].strip("-")
    return f"{safe}-{digest}" if safe else f"lab-{digest}"


def claim_problem(volume: str) -> str | None:
    """None when the Docker volume name `volume` has a claim name; else why not."""
    if "." in volume:
        return f"the volume name {volume[:60]!r} holds a '.', which claim names keep for '_'"
    mapped = volume.replace("_", ".")
    if len(mapped) > SUBDOMAIN_LIMIT:
        return f"the claim for {volume[:60]!r} would be {len(mapped)} characters (at most 253)"
    if not is_subdomain(mapped):
        return (
            f"the claim for {volume[:60]!r} would not be a DNS name (a-z, 0-9 and '-' between "
            "the '_' of the volume name, each part starting and ending with a letter or digit)"
        )
    return None


def claim_name(volume: str) -> str:
    """The PersistentVolumeClaim that holds the Docker volume `volume`: '_' written as '.'.
    Raises InvalidValue("volumes") when it has none (`claim_problem`)."""
    problem = claim_problem(volume)
    if problem is not None:
        raise InvalidValue("volumes", problem)
    return volume.replace("_", ".")


def volume_of_claim(claim: str) -> str:
    """The Docker volume name a claim holds (the inverse of `claim_name`)."""
    return claim.replace(".", "_")


def pod_volume_name(index: int, label: str) -> str:
    """The name, within one pod, of its `index`-th user volume labelled `label`."""
    name = f"user-{index}-{label}"
    return name if is_label(name) else f"user-{index}"
