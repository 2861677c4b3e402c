from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol

from stellars.domain.containers import ContainerUsage


class ContainerControl(Protocol):
    """Lifecycle actions on user containers, by name."""

    async def restart(self, name: str, *, timeout_seconds: int = 10) -> None:
        """Restart in place (same container, volumes and settings).
        Raises ContainerNotFound, BackendUnavailable."""
        ...

    async def is_running(self, name: str) -> bool:
        """Whether a container of that name exists and runs. Raises BackendUnavailable."""
        ...


class ContainerStats(Protocol):
    """Resource usage of running containers."""

    async def usage(self, names: Collection[str]) -> Mapping[str, ContainerUsage]:
        """Usage of each running container among `names`; absent ones are left out.
        Raises BackendUnavailable."""
        ...
