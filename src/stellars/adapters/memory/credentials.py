from __future__ import annotations

import itertools
from collections.abc import Collection

from stellars.domain.credentials import PassphrasePolicy, VaultEntry, VaultPolicy
from stellars.ports.clock import Clock

_WORDS = ("amber", "brook", "cedar", "delta", "ember", "fjord", "grove", "haven", "inlet")


class SequencePasswordGenerator:
    """Deterministic passphrases from a fixed word list (for tests)."""

    def __init__(self) -> None:
        self._words = itertools.cycle(_WORDS)

    def generate(self, policy: PassphrasePolicy) -> str:
        words: list[str] = []
        while len(words) < policy.words:
            word = next(self._words)
            if policy.min_word_length <= len(word) <= policy.max_word_length:
                words.append(word)
        return policy.delimiter.join(words)


class InMemoryCredentialStore:
    """Accounts as username -> password (plain text: a fake has nothing to protect)."""

    def __init__(self) -> None:
        self.passwords: dict[str, str] = {}

    def has_account(self, username: str) -> bool:
        return username in self.passwords

    def set_password(self, username: str, password: str) -> None:
        self.passwords[username] = password


class InMemoryCredentialVault:
    """The production vault: plain text lives only in hub memory, is read once, and expires."""

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
