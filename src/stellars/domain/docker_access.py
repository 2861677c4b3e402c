"""Group-gated Docker access: members of built-in groups get the host's Docker socket or a
privileged container. Both are host-root equivalent, hence opt-in per group.

Spawner objects live as long as the hub and are reused across spawns, so the spawner adapter
computes the whole grant from the current membership on every spawn: joining or leaving a group
takes effect at the next start. A restart in place keeps the container, and with it the grant
it was created with, so a restart whose grant no longer matches the membership is refused
(`access_changes`): the user stops and starts the server to get the current one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .validation import non_empty_text


@dataclass(frozen=True, slots=True, kw_only=True)
class DockerAccessGroups:
    """Names of the built-in groups and the socket they grant."""

    socket_group: str = "docker-sock"
    privileged_group: str = "docker-privileged"
    socket_path: str = "/var/run/docker.sock"

    def __post_init__(self) -> None:
        non_empty_text("socket_group", self.socket_group)
        non_empty_text("privileged_group", self.privileged_group)
        non_empty_text("socket_path", self.socket_path)

    @property
    def names(self) -> tuple[str, ...]:
        """Groups to ensure exist at hub start."""
        return (self.socket_group, self.privileged_group)


@dataclass(frozen=True, slots=True)
class DockerAccess:
    """What one spawn gets."""

    mount_socket: bool
    privileged: bool


def docker_access_for(groups: Iterable[str], config: DockerAccessGroups) -> DockerAccess:
    """The access a member of `groups` gets."""
    member_of = set(groups)
    return DockerAccess(
        mount_socket=config.socket_group in member_of,
        privileged=config.privileged_group in member_of,
    )


def access_changes(created_with: DockerAccess, current: DockerAccess) -> tuple[str, ...]:
    """How the access a member has now differs from the access a container was created with,
    in words ("the Docker socket was taken away", "privileged mode was granted"); empty when
    they agree."""
    changes = []
    for what, before, now in (
        ("the Docker socket", created_with.mount_socket, current.mount_socket),
        ("privileged mode", created_with.privileged, current.privileged),
    ):
        if before != now:
            changes.append(f"{what} was {'granted' if now else 'taken away'}")
    return tuple(changes)
