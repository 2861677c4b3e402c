from __future__ import annotations

from collections.abc import Collection

from stellars.domain.credentials import VaultEntry, VaultPolicy
from stellars.ports.clock import Clock


class ProcessMemoryVault:
    """The production CredentialVault: plain text lives only in the hub's memory, is handed out
    once, and expires after the policy's TTL (a hub restart forgets every entry, on purpose)."""

    def __init__(self, *, clock: Clock, policy: VaultPolicy) -> None:
        self._clock = clock
        self.policy = policy
        self._entries: dict[str, VaultEntry] = {}

    def _expire(self) -> None:
        now = self._clock.now()
        for name in [n for n, e in self._entries.items() if not e.is_fresh(now, self.policy)]:
            del self._entries[name]

    def deposit(self, username: str, secret: str) -> None:
        self._expire()
        self._entries[username] = VaultEntry(secret, self._clock.now())

    def collect(self, usernames: Collection[str]) -> dict[str, str]:
        self._expire()
        return {name: self._entries.pop(name).secret for name in usernames if name in self._entries}

    def discard(self, username: str) -> None:
        self._entries.pop(username, None)

    def rename(self, old: str, new: str) -> None:
        entry = self._entries.pop(old, None)
        if entry is not None:
            self._entries[new] = entry

    def __len__(self) -> int:
        self._expire()
        return len(self._entries)
