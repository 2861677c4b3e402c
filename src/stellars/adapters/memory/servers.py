from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from stellars.domain.errors import NotFound


class ScriptedLabServers:
    """Servers by (user, server name) that answer after a scripted number of failed checks.

    `silent_checks[key]` says how many `answers` calls fail before the server serves; a key
    absent from `known` is a server the hub does not know. `moved` lists the servers whose
    address changes at the next `reconnect`; `held` the servers inside `restarting` now.
    """

    def __init__(self) -> None:
        self.known: set[tuple[str, str]] = set()
        self.silent_checks: dict[tuple[str, str], deque[bool]] = {}
        self.moved: set[tuple[str, str]] = set()
        self.reconnects: list[tuple[str, str]] = []
        self.checks = 0
        self.held: set[tuple[str, str]] = set()

    def add(self, username: str, server_name: str = "", *, silent_checks: int = 0) -> None:
        key = (username, server_name)
        self.known.add(key)
        self.silent_checks[key] = deque([False] * silent_checks)

    def _key(self, username: str, server_name: str) -> tuple[str, str]:
        key = (username, server_name)
        if key not in self.known:
            raise NotFound(f"No server {server_name!r} of {username!r}")
        return key

    @asynccontextmanager
    async def restarting(self, username: str, server_name: str = "") -> AsyncIterator[None]:
        key = (username, server_name)
        self.held.add(key)
        try:
            yield
        finally:
            self.held.discard(key)

    async def reconnect(self, username: str, server_name: str = "") -> bool:
        key = self._key(username, server_name)
        self.reconnects.append(key)
        if key in self.moved:
            self.moved.discard(key)
            return True
        return False

    async def answers(self, username: str, server_name: str = "") -> bool:
        key = self._key(username, server_name)
        self.checks += 1
        pending = self.silent_checks.setdefault(key, deque())
        return pending.popleft() if pending else True
