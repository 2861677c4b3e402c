"""Per-user Docker volumes: which entries of DockerSpawner's `volumes` belong to a user, what
they are called on the engine, and whether and how a reset may run.

Names must equal what DockerSpawner itself creates, so escaping follows DockerSpawner 14's
default exactly (safe characters a-z and 0-9, escape character '-', each other byte of the
UTF-8 encoding written as '-' plus two hex digits, then everything lowercased); the tests use
DockerSpawner as the oracle.

Names must also fit Docker's limits, or the server start fails with a 500 and a traceback:
`docker_name_problem` says, for a username, which name would not (the hub refuses such a user
when it is created or signs up). Escaping makes names longer than usernames: each character
outside a-z and 0-9 becomes 3 (ASCII) to 12 (a 4-byte UTF-8 character, such as an emoji)
characters. Under the default naming (prefix and container `jupyterlab-{username}`, volumes
`jupyterlab-{username}_home`, `_workspace` and `_cache`) the longest username of a-z and 0-9
alone is 234 characters (`longest_plain_username`): `jupyterlab-` and `_workspace` take 21 of a
volume name's 255.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from string import Formatter

from .errors import Conflict, InvalidValue
from .validation import echo_items

_SAFE = frozenset(string.ascii_lowercase + string.digits)
_ESCAPE = "-"
_USERNAME_FIELD = "{username}"
_SEPARATORS = "-_."
_LABEL_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

#: The longest volume name the Docker engine creates. Measured on the engine of this project's
#: test machine (Docker Engine 20.10.24, local volume driver, /var/lib/docker on ext4; Docker 28
#: was reported to behave the same): 255 characters are created and 256 refused ("file name too
#: long"), because the local driver makes a directory of that name under
#: /var/lib/docker/volumes and a file name is at most 255 bytes on Linux file systems
#: (NAME_MAX). tests/contract/test_docker_naming.py checks it on the engine the tests use.
VOLUME_NAME_LIMIT = 255
#: The longest container name kept here. The engine sets no limit of its own: measured on the
#: same engine, containers named with 20,000 and with 1,052,534 characters were created and
#: started (also on a user-defined network, where the name is a DNS alias); one character more
#: and the engine's HTTP server refused the request, whose head (request line, where the name
#: travels, and headers) may not exceed 1 MiB plus 4 KiB. The bound is 1 MiB, leaving those
#: 4 KiB, more than a client's request line and headers need.
CONTAINER_NAME_LIMIT = 1_048_576
#: How much of a name an error message shows: the username must not come back whole.
_SHOWN_USERNAME_LENGTH = 40
_NAME_FIELDS = ("username", "safe_username", "raw_username")


def escape_name(text: str) -> str:
    """DockerSpawner 14's default `escape`: escapism with [a-z0-9] safe and '-' as escape."""
    parts: list[str] = []
    for char in text:
        if char in _SAFE:
            parts.append(char)
        else:
            parts.extend(f"{_ESCAPE}{byte:X}" for byte in char.encode("utf-8"))
    return "".join(parts).lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class DockerNaming:
    """The DockerSpawner settings that names depend on."""

    prefix: str = "jupyter"
    name_template: str | None = None
    image: str = "quay.io/jupyterhub/singleuser:latest"

    def template_for(self, server_name: str) -> str:
        """DockerSpawner's default name template when none is configured."""
        if self.name_template:
            return self.name_template
        return "{prefix}-{username}--{servername}" if server_name else "{prefix}-{username}"


def template_namespace(
    username: str, naming: DockerNaming, server_name: str = ""
) -> dict[str, str]:
    """The fields DockerSpawner substitutes into name and volume templates."""
    escaped = escape_name(username)
    return {
        "username": escaped,
        "safe_username": escaped,
        "raw_username": username,
        "imagename": naming.image.replace("/", "-").replace(":", "-"),
        "servername": escape_name(server_name.lower()),
        "raw_servername": server_name,
        "prefix": naming.prefix,
    }


def render(template: str, username: str, naming: DockerNaming, server_name: str = "") -> str:
    """Fill a DockerSpawner template for one user (and server)."""
    return template.format(**template_namespace(username, naming, server_name))


def container_name(username: str, naming: DockerNaming, server_name: str = "") -> str:
    """The container DockerSpawner creates for this user's server."""
    return render(naming.template_for(server_name), username, naming, server_name)


@dataclass(frozen=True, slots=True)
class UserVolume:
    """A per-user volume: its label (home, workspace, ...), name template and mount point."""

    label: str
    template: str
    mount_point: str

    def name_for(self, username: str, naming: DockerNaming, server_name: str = "") -> str:
        return render(self.template, username, naming, server_name)


def _mount_point(template: str, spec: object) -> str:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, Mapping) and isinstance(spec.get("bind"), str):
        return spec["bind"]
    raise InvalidValue("volumes", f"entry {template!r} must map to a path or {{'bind': path}}")


def _label(template: str) -> str:
    head, _, tail = template.partition(_USERNAME_FIELD)
    tail_text = _strip_fields(tail).strip(_SEPARATORS)
    if tail_text:
        return tail_text.lower()
    return _strip_fields(head).strip(_SEPARATORS).lower()


def _strip_fields(text: str) -> str:
    """The literal text of a format string, with every {field} removed."""
    return "".join(literal for literal, *_ in Formatter().parse(text))


def user_volumes(volumes: Mapping[str, object]) -> tuple[UserVolume, ...]:
    """The entries of a DockerSpawner `volumes` dict whose name contains {username}, labelled.

    The label is the text after {username} (`jupyterlab-{username}_home` is `home`), or the text
    before it when nothing follows; labels must be unique and simple.
    """
    found: list[UserVolume] = []
    seen: dict[str, str] = {}
    for template, spec in volumes.items():
        if not isinstance(template, str) or _USERNAME_FIELD not in template:
            continue
        if template.startswith("/"):
            continue  # a bind mount of a host path is not a Docker volume
        label = _label(template)
        if not _LABEL_PATTERN.match(label):
            raise InvalidValue("volumes", f"cannot derive a label from {template!r}")
        if label in seen:
            raise InvalidValue(
                "volumes", f"{template!r} and {seen[label]!r} both have the label {label!r}"
            )
        seen[label] = template
        found.append(UserVolume(label, template, _mount_point(template, spec)))
    return tuple(found)


def docker_name_problem(
    username: str, naming: DockerNaming, volumes: Sequence[UserVolume], server_name: str = ""
) -> str | None:
    """None when every name DockerSpawner derives for this user's server fits Docker's limits
    (each user volume at most VOLUME_NAME_LIMIT characters, the container at most
    CONTAINER_NAME_LIMIT); else why not, as a message that follows the word "username": the
    longest volume name over the limit (the first of equal ones), else the container name,
    shown with the username cut to 40 characters, with its length and the limit."""
    lengths = [len(volume.name_for(username, naming, server_name)) for volume in volumes]
    if lengths and max(lengths) > VOLUME_NAME_LIMIT:
        volume = volumes[lengths.index(max(lengths))]
        shown = _shown(volume.template, username, naming, server_name)
        return _too_long("volume", shown, max(lengths), VOLUME_NAME_LIMIT, username)
    name = container_name(username, naming, server_name)
    if len(name) > CONTAINER_NAME_LIMIT:
        shown = _shown(naming.template_for(server_name), username, naming, server_name)
        return _too_long("container", shown, len(name), CONTAINER_NAME_LIMIT, username)
    return None


def longest_plain_username(
    naming: DockerNaming, volumes: Sequence[UserVolume], server_name: str = ""
) -> int:
    """The most characters a username of a-z and 0-9 alone (which escaping leaves as they are)
    may have for every name to fit (`docker_name_problem`); 0 when even one character is too
    many. Names grow by a fixed number of characters per username character: one per
    {username}, {safe_username} or {raw_username} in the template."""
    templates = [(volume.template, VOLUME_NAME_LIMIT) for volume in volumes]
    templates.append((naming.template_for(server_name), CONTAINER_NAME_LIMIT))
    longest: int | None = None
    for template, limit in templates:
        fixed = len(render(template, "", naming, server_name))
        per_character = len(render(template, "a", naming, server_name)) - fixed
        if per_character:
            fits = max((limit - fixed) // per_character, 0)
            longest = fits if longest is None else min(longest, fits)
    return longest if longest is not None else CONTAINER_NAME_LIMIT


def _shown(template: str, username: str, naming: DockerNaming, server_name: str) -> str:
    """A name as the template renders it, with every username field cut short."""
    namespace = template_namespace(username, naming, server_name)
    for field in _NAME_FIELDS:
        namespace[field] = _abbreviated(namespace[field])
    return template.format(**namespace)


def _abbreviated(text: str) -> str:
    if len(text) <= _SHOWN_USERNAME_LENGTH:
        return text
    return text[: _SHOWN_USERNAME_LENGTH - 3] + "..."


def _too_long(kind: str, shown: str, length: int, limit: int, username: str) -> str:
    message = (
        f"is too long for Docker: the {kind} name {shown} would be {length} characters "
        f"(at most {limit})"
    )
    if escape_name(username) != username:
        message += "; DockerSpawner writes each character outside a-z and 0-9 as 3 to 12"
    return message


@dataclass(frozen=True, slots=True)
class VolumeInfo:
    """A volume on the engine; `size_bytes` is None until the engine has measured it.

    `owner` is the owner key the platform put on a volume it created for a user
    (`stellars.domain.volume_ownership`), None on volumes created by anyone else; `created_at`
    is when the engine created it, when known.
    """

    name: str
    size_bytes: int | None = None
    created_at: datetime | None = None
    owner: str | None = None


class VolumeOutcome(str, Enum):
    """What happened to one volume of a reset."""

    REMOVED = "removed"
    NOT_FOUND = "not found"
    IN_USE = "in use"


def plan_reset(
    requested: Sequence[str],
    known: Sequence[UserVolume],
    *,
    server_active: bool,
) -> tuple[UserVolume, ...]:
    """Validate a reset request: known labels only, at least one, and the server stopped.

    Raises InvalidValue for a bad request, Conflict while the server runs or is pending.
    """
    by_label = {volume.label: volume for volume in known}
    choices = ", ".join(by_label) or "none configured"
    if not requested:
        raise InvalidValue("volumes", f"name at least one volume to reset ({choices})")
    unknown = [label for label in requested if label not in by_label]
    if unknown:
        raise InvalidValue("volumes", f"unknown volume(s): {echo_items(unknown)}; known: {choices}")
    if server_active:
        raise Conflict("Stop the server before resetting its volumes.")
    ordered = dict.fromkeys(requested)  # duplicates collapse, request order kept
    return tuple(by_label[label] for label in ordered)


@dataclass(frozen=True, slots=True)
class VolumeResult:
    label: str
    volume: str
    outcome: VolumeOutcome


@dataclass(frozen=True, slots=True)
class ResetReport:
    """Per-volume outcome of a reset and a sentence that does not overclaim."""

    username: str
    results: tuple[VolumeResult, ...]

    @property
    def removed(self) -> tuple[str, ...]:
        return tuple(r.label for r in self.results if r.outcome is VolumeOutcome.REMOVED)

    @property
    def message(self) -> str:
        removed = len(self.removed)
        parts = [f"Reset {removed} of {len(self.results)} volume(s)"]
        for result in self.results:
            if result.outcome is not VolumeOutcome.REMOVED:
                parts.append(f"{result.label}: {result.outcome.value}")
        return "; ".join(parts) + "."
