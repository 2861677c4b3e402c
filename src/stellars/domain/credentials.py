"""Generated credentials for users an admin creates: the passphrase policy and the rules of
the one-shot vault that holds the plain text until an admin collects it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import InvalidValue
from .validation import int_in_range


@dataclass(frozen=True, slots=True, kw_only=True)
class PassphrasePolicy:
    """`words` dictionary words of `min_word_length`..`max_word_length` letters, joined."""

    words: int = 4
    delimiter: str = "-"
    min_word_length: int = 4
    max_word_length: int = 8

    def __post_init__(self) -> None:
        int_in_range("words", self.words, 3, 12)
        int_in_range("min_word_length", self.min_word_length, 3, 9)
        int_in_range("max_word_length", self.max_word_length, self.min_word_length, 12)
        if not isinstance(self.delimiter, str) or len(self.delimiter) > 3:
            raise InvalidValue("delimiter", "must be a string of at most 3 characters")
        if any(char.isspace() or char.isalpha() for char in self.delimiter):
            raise InvalidValue("delimiter", "must not contain letters or whitespace")

    def conforms(self, passphrase: str) -> bool:
        """Whether a passphrase has the shape this policy asks for."""
        parts = passphrase.split(self.delimiter) if self.delimiter else None
        if parts is None:
            return passphrase.isalpha() and len(passphrase) >= self.words * self.min_word_length
        return len(parts) == self.words and all(
            part.isalpha() and self.min_word_length <= len(part) <= self.max_word_length
            for part in parts
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class VaultPolicy:
    """How long a generated passphrase waits for an admin before it is forgotten."""

    ttl_seconds: int = 600

    def __post_init__(self) -> None:
        int_in_range("ttl_seconds", self.ttl_seconds, 10, 86_400)

    @property
    def ttl(self) -> timedelta:
        return timedelta(seconds=self.ttl_seconds)


@dataclass(frozen=True, slots=True)
class VaultEntry:
    secret: str
    deposited_at: datetime

    def is_fresh(self, now: datetime, policy: VaultPolicy) -> bool:
        """Collectable while younger than the TTL."""
        return now - self.deposited_at < policy.ttl
