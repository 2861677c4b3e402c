from __future__ import annotations

import itertools
from collections.abc import Iterator

from stellars.domain.credentials import NewAccount, PassphrasePolicy

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
# Every consonant-vowel pair: words of k syllables have 2k letters and there are 70**k of them.
_SYLLABLES = tuple(c + v for c in _CONSONANTS for v in _VOWELS)


class SequencePasswordGenerator:
    """Deterministic passphrases of made-up words (ba, be, ... babe, ...), for tests.

    Its vocabulary is real and counted: all words of whole syllables whose length the policy
    allows, so the strength check judges it as it would the real word list.
    """

    def __init__(self) -> None:
        self._counter = itertools.count()

    @staticmethod
    def _syllable_counts(policy: PassphrasePolicy) -> list[int]:
        return [
            k
            for k in range(1, policy.max_word_length // 2 + 1)
            if policy.min_word_length <= 2 * k <= policy.max_word_length
        ]

    def vocabulary_size(self, policy: PassphrasePolicy) -> int:
        return sum(len(_SYLLABLES) ** k for k in self._syllable_counts(policy))

    def _word(self, index: int, syllables: int) -> str:
        parts = []
        for _ in range(syllables):
            index, digit = divmod(index, len(_SYLLABLES))
            parts.append(_SYLLABLES[digit])
        return "".join(parts)

    def _words(self, policy: PassphrasePolicy) -> Iterator[str]:
        counts = self._syllable_counts(policy)
        if not counts:
            raise ValueError("no word of whole syllables fits the policy's word lengths")
        while True:
            n = next(self._counter)
            yield self._word(n, counts[n % len(counts)])

    def generate(self, policy: PassphrasePolicy) -> str:
        words = self._words(policy)
        return policy.delimiter.join(next(words) for _ in range(policy.words))


class InMemoryCredentialStore:
    """Accounts as username -> password (plain text: a fake has nothing to protect)."""

    def __init__(self) -> None:
        self.passwords: dict[str, str] = {}
        self.unauthorized: set[str] = set()  # accounts waiting for an admin

    def has_account(self, username: str) -> bool:
        return username in self.passwords

    def pending_sign_up(self, username: str) -> bool:
        return username in self.passwords and username in self.unauthorized

    def set_password(self, username: str, password: str) -> None:
        self.passwords[username] = password
        self.unauthorized.discard(username)

    def authorized(self) -> frozenset[str]:
        return frozenset(self.passwords.keys() - self.unauthorized)

    async def create_account(self, username: str, password: str) -> NewAccount:
        if self.has_account(username) and not self.pending_sign_up(username):
            return NewAccount.EXISTS
        replaced = self.pending_sign_up(username)
        self.set_password(username, password)
        return NewAccount.REPLACED_SIGN_UP if replaced else NewAccount.CREATED

    def rename_account(self, old: str, new: str) -> None:
        if old not in self.passwords:
            return
        self.passwords[new] = self.passwords.pop(old)
        self.unauthorized.discard(new)
        if old in self.unauthorized:
            self.unauthorized.discard(old)
            self.unauthorized.add(new)

    def delete_account(self, username: str) -> None:
        self.passwords.pop(username, None)
        self.unauthorized.discard(username)
