"""Group policies as JSON documents: the body the policies API takes and answers, and what the
hub keeps in a group's properties. Both adapters that read stored policies (the one over the
hub's objects and the one over the hub's REST API) and the API read them here, so a policy has
one JSON shape wherever it travels.

A policy document is a JSON object with any of these fields (the group is where the document
lives: the API's path, the group whose properties hold it):

    cpu_limit             number of cores (0.5: half a core)
    memory_limit          bytes (swap off)
    pids_limit            processes
    gpus                  how many GPUs
    gpu_sharing           "exclusive" or "shared"
    images                ["image", ...], the first the group's default
    environment           {"NAME": "value", ...}
    mounts                [{"volume": "team-data", "path": "/mnt/team", "read_only": true}, ...]
    docker_socket         true: the host's Docker socket (root on the host)
    docker_privileged     true: a privileged container (root on the host)
    idle_timeout_seconds  seconds without activity before the culler stops the server
    max_extension_hours   hours a session may be extended
    storage_quota         bytes

A field left out, or null, is no opinion (false for the two grants, [] and {} for the lists).
An unknown field is refused, naming it, so a misspelt limit never passes for "no opinion".
Every value is then checked by `GroupPolicy` itself, which names the field at fault.

What a group's properties hold, under `PROPERTY_KEY`, is an entry: the document, the admins'
place for it (`rank`: lower comes first) and the entry's version,

    {"version": 1, "rank": 3, "policy": {...}}

one key per group, so removing the policy removes exactly what the platform put there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .errors import InvalidValue
from .policies import GpuSharing, GroupPolicy, Mount
from .validation import echo, echo_items

#: The key of a group's properties that holds its policy entry.
PROPERTY_KEY = "stellars"
#: The version of the entries this module writes (and the only one it reads).
ENTRY_VERSION = 1

#: Every field a policy document may hold, in the order documents list them.
DOCUMENT_FIELDS = (
    "cpu_limit",
    "memory_limit",
    "pids_limit",
    "gpus",
    "gpu_sharing",
    "images",
    "environment",
    "mounts",
    "docker_socket",
    "docker_privileged",
    "idle_timeout_seconds",
    "max_extension_hours",
    "storage_quota",
)
_MOUNT_FIELDS = ("volume", "path", "read_only")
_ENTRY_FIELDS = ("version", "rank", "policy")


def policy_document(policy: GroupPolicy) -> dict[str, Any]:
    """`policy` as a JSON document with every field, in DOCUMENT_FIELDS' order (null where the
    policy has no opinion)."""
    return {
        "cpu_limit": policy.cpu_limit,
        "memory_limit": policy.memory_limit,
        "pids_limit": policy.pids_limit,
        "gpus": policy.gpus,
        "gpu_sharing": policy.gpu_sharing.value,
        "images": list(policy.images),
        "environment": dict(policy.environment),
        "mounts": [
            {"volume": mount.volume, "path": mount.path, "read_only": mount.read_only}
            for mount in policy.mounts
        ],
        "docker_socket": policy.docker_socket,
        "docker_privileged": policy.docker_privileged,
        "idle_timeout_seconds": policy.idle_timeout_seconds,
        "max_extension_hours": policy.max_extension_hours,
        "storage_quota": policy.storage_quota,
    }


def _unknown(
    fields: Mapping[str, Any], known: tuple[str, ...], where: str, field: str | None = None
) -> None:
    """Refuse the fields of `fields` not in `known`, naming `field` (default: the first
    unknown one)."""
    unknown = sorted(str(name) for name in fields if name not in known)
    if unknown:
        raise InvalidValue(
            field or unknown[0],
            f"is not a field of {where} (unknown: {echo_items(unknown)}; known: "
            f"{', '.join(known)})",
        )


def _flag(name: str, value: object) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidValue(name, f"must be true or false, got {echo(value)}")
    return value


def _mount(value: object) -> Mount:
    if not isinstance(value, Mapping):
        raise InvalidValue("mounts", f"must be objects with a volume and a path, got {echo(value)}")
    _unknown(value, _MOUNT_FIELDS, "a mount", "mounts")
    volume, path = value.get("volume"), value.get("path")
    if not isinstance(volume, str) or not isinstance(path, str):
        raise InvalidValue("mounts", "each mount needs a volume and a path, as text")
    read_only = value.get("read_only", True)
    if not isinstance(read_only, bool):
        raise InvalidValue("mounts", f"read_only must be true or false, got {echo(read_only)}")
    return Mount(volume, path, read_only=read_only)


def policy_from_document(group: str, document: object) -> GroupPolicy:
    """The policy of `group` that a JSON document describes (module docstring).

    Raises InvalidValue naming the field at fault: an unknown field, a value of the wrong JSON
    type, or a value the policy may not hold.
    """
    if not isinstance(document, Mapping):
        raise InvalidValue("policy", f"must be a JSON object, got {echo(document)}")
    _unknown(document, DOCUMENT_FIELDS, "a policy")
    sharing = document.get("gpu_sharing")
    if sharing is None:
        sharing = GpuSharing.EXCLUSIVE.value
    try:
        gpu_sharing = GpuSharing(sharing)
    except ValueError:
        raise InvalidValue(
            "gpu_sharing", f"must be exclusive or shared, got {echo(sharing)}"
        ) from None
    images = document.get("images") or []
    if not isinstance(images, list):
        raise InvalidValue("images", f"must be a list of image names, got {echo(images)}")
    environment = document.get("environment") or {}
    if not isinstance(environment, Mapping):
        raise InvalidValue(
            "environment", f"must be an object of names and values, got {echo(environment)}"
        )
    mounts = document.get("mounts") or []
    if not isinstance(mounts, list):
        raise InvalidValue("mounts", f"must be a list of mounts, got {echo(mounts)}")
    return GroupPolicy(
        group=group,
        cpu_limit=document.get("cpu_limit"),
        memory_limit=document.get("memory_limit"),
        pids_limit=document.get("pids_limit"),
        gpus=document.get("gpus"),
        gpu_sharing=gpu_sharing,
        images=tuple(images),
        environment=environment,
        mounts=tuple(_mount(mount) for mount in mounts),
        docker_socket=_flag("docker_socket", document.get("docker_socket")),
        docker_privileged=_flag("docker_privileged", document.get("docker_privileged")),
        idle_timeout_seconds=document.get("idle_timeout_seconds"),
        max_extension_hours=document.get("max_extension_hours"),
        storage_quota=document.get("storage_quota"),
    )


def policy_entry(policy: GroupPolicy, rank: int) -> dict[str, Any]:
    """What a group's properties hold under PROPERTY_KEY for `policy` at the admins' `rank`."""
    return {"version": ENTRY_VERSION, "rank": rank, "policy": policy_document(policy)}


def _entry(entry: object) -> tuple[int, Mapping[str, Any]]:
    if not isinstance(entry, Mapping):
        raise InvalidValue(PROPERTY_KEY, f"must be a JSON object, got {echo(entry)}")
    _unknown(entry, _ENTRY_FIELDS, "a stored policy", PROPERTY_KEY)
    version = entry.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version != ENTRY_VERSION:
        raise InvalidValue(
            "version", f"must be {ENTRY_VERSION} (this platform's), got {echo(version)}"
        )
    rank = entry.get("rank")
    if isinstance(rank, bool) or not isinstance(rank, int):
        raise InvalidValue("rank", f"must be a whole number, got {echo(rank)}")
    return rank, entry


def entry_rank(entry: object) -> int:
    """The admins' rank of a stored entry. Raises InvalidValue for an entry this version of the
    platform cannot read (someone edited the group's properties by hand, or a newer version
    wrote it)."""
    return _entry(entry)[0]


def policy_from_entry(group: str, entry: object) -> tuple[int, GroupPolicy]:
    """The rank and the policy of a stored entry of `group`. Raises InvalidValue for an entry
    the platform cannot read, naming the field at fault."""
    rank, fields = _entry(entry)
    return rank, policy_from_document(group, fields.get("policy"))


def next_rank(ranks: Iterable[int]) -> int:
    """The rank of a policy made now: after every stored one."""
    return max(ranks, default=-1) + 1


def ranks_for_order(groups: Iterable[str], order: Sequence[str]) -> dict[str, int]:
    """The rank of each of `groups` (those with a policy) once the admins saved `order`: a
    named group its place in it, every other one the place after it (and so, as
    `policies.order_policies` says, after the named ones, by name)."""
    place = {group: index for index, group in enumerate(order)}
    return {group: place.get(group, len(order)) for group in groups}


def in_rank_order(ranked: Iterable[tuple[int, GroupPolicy]]) -> list[GroupPolicy]:
    """Ranked policies in the admins' order: by rank, then by group name."""
    return [policy for _, policy in sorted(ranked, key=lambda item: (item[0], item[1].group))]
