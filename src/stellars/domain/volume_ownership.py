"""Whose a per-user Docker volume is, so that no user is ever handed the volumes of another
user who had the same name before (a deleted or renamed account).

DockerSpawner names a user's volumes after the user name alone (`jupyterlab-{username}_home`),
so the name cannot tell two holders of one name apart. The rule:

- The platform creates a user's volumes itself, just before the first spawn, and marks each
  with the user's owner key: the hub's row id and creation time, which stay the same when the
  user is renamed and differ for a new user who takes the name later.
- A volume with an owner key belongs to the user whose key it carries, and to nobody else.
- A volume without one (created by DockerSpawner before the platform managed volumes)
  belongs to the user of that name unless the engine created it before the account existed.
- A volume named for a user who does not exist, or that belongs to someone else, is
  orphaned: listed for the admins, never mounted into anyone's server.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from .hub import HubUser
from .timeutil import assume_utc
from .volumes import DockerNaming, UserVolume, VolumeInfo, escape_name

_ESCAPED_USERNAME = r"([a-z0-9-]+)"
_PLACEHOLDER = "\x00"  # stands for the user name while a template becomes a pattern
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def owner_key(user_id: int | None, created: datetime | None) -> str | None:
    """The mark of one account on its volumes; None when the hub does not say who it is."""
    if user_id is None:
        return None
    if created is None:
        return f"user-{user_id}"
    return f"user-{user_id}-{assume_utc(created):%Y%m%dT%H%M%S%fZ}"


def unescape_name(escaped: str) -> str | None:
    """The user name that `escape_name` turned into `escaped`, or None if none did."""
    data = bytearray()
    index = 0
    while index < len(escaped):
        char = escaped[index]
        if char == "-":
            digits = escaped[index + 1 : index + 3]
            if len(digits) != 2 or not set(digits) <= _HEX_DIGITS:
                return None
            data.append(int(digits, 16))
            index += 3
        else:
            data.extend(char.encode("utf-8"))
            index += 1
    try:
        name = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return name if name and escape_name(name) == escaped else None


@dataclass(frozen=True, slots=True)
class VolumeMatcher:
    """Recognises the engine names that one volume template gives, and whose they are."""

    volume: UserVolume
    pattern: re.Pattern[str]

    def escaped_username(self, name: str) -> str | None:
        match = self.pattern.fullmatch(name)
        if match is None:
            return None
        found = set(match.groups())
        return found.pop() if len(found) == 1 else None


def volume_matchers(volumes: Sequence[UserVolume], naming: DockerNaming) -> list[VolumeMatcher]:
    """One matcher per configured user volume (default servers, as `names_for` names them)."""
    matchers = []
    for volume in volumes:
        text = volume.template.format(
            username=_PLACEHOLDER,
            safe_username=_PLACEHOLDER,
            raw_username=_PLACEHOLDER,
            imagename=naming.image.replace("/", "-").replace(":", "-"),
            servername="",
            raw_servername="",
            prefix=naming.prefix,
        )
        pattern = _ESCAPED_USERNAME.join(re.escape(part) for part in text.split(_PLACEHOLDER))
        matchers.append(VolumeMatcher(volume, re.compile(pattern)))
    return matchers


def claimed_by(info: VolumeInfo, owner: str | None, created: datetime | None) -> bool:
    """Whether a volume bearing a user's name belongs to that user (see the module rule).

    The engine states creation times to the second, so the account's is cut to the second
    before comparing.
    """
    if info.owner is not None:
        return owner is not None and info.owner == owner
    if info.created_at is None or created is None:
        return True
    return assume_utc(info.created_at) >= assume_utc(created).replace(microsecond=0)


def foreign_volumes(
    infos: Iterable[VolumeInfo], *, owner: str | None, created: datetime | None
) -> list[VolumeInfo]:
    """The volumes among `infos` (all named for one user) that belong to somebody else."""
    return [info for info in infos if not claimed_by(info, owner, created)]


@dataclass(frozen=True, slots=True)
class OrphanedVolume:
    """A volume named for a user that no current account owns."""

    name: str
    label: str
    former_username: str | None
    reason: str
    size_bytes: int | None = None
    created_at: datetime | None = None


def find_orphans(
    listing: Iterable[VolumeInfo],
    users: Iterable[HubUser],
    volumes: Sequence[UserVolume],
    naming: DockerNaming,
) -> list[OrphanedVolume]:
    """The orphaned volumes of an engine listing, sorted by name."""
    by_escaped = {escape_name(user.name): user for user in users}
    matchers = volume_matchers(volumes, naming)
    found = []
    for info in listing:
        for matcher in matchers:
            escaped = matcher.escaped_username(info.name)
            if escaped is None:
                continue
            former = unescape_name(escaped)
            shown = former if former is not None else escaped
            user = by_escaped.get(escaped)
            if user is None:
                reason = f"no user is named {shown!r}"
            elif not claimed_by(info, owner_key(user.id, user.created), user.created):
                reason = f"left by an earlier user named {shown!r}"
            else:
                break
            found.append(
                OrphanedVolume(
                    name=info.name,
                    label=matcher.volume.label,
                    former_username=former,
                    reason=reason,
                    size_bytes=info.size_bytes,
                    created_at=info.created_at,
                )
            )
            break
    return sorted(found, key=lambda orphan: orphan.name)
