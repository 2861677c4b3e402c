"""Generated credentials for users an admin creates: the passphrase policy, the rules of the
one-shot vault that holds the plain text until an admin collects it, and what happens to a
sign-up under the name of a user an admin creates.

Anyone may sign up under any name, and the sign-up waits for an admin. An admin who creates a
user of that name means a person of their own choosing: the waiting sign-up is discarded and the
user gets a generated passphrase, as every user an admin creates does. Otherwise authorizing the
name later would let in whoever signed up first. The admin is told, with the passphrase.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from types import MappingProxyType
from typing import ClassVar

from .errors import InvalidValue
from .validation import Bounds, check_bounds, whole_number

#: The least guessing work a generated passphrase may offer: the 44 bits of xkcd's four common
#: words, about 1.8e13 guesses. Four three-letter words (about 25 bits) fall far short.
MIN_ENTROPY_BITS = 44.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PassphrasePolicy:
    """`words` dictionary words of `min_word_length`..`max_word_length` letters, joined."""

    LIMITS: ClassVar[Mapping[str, Bounds]] = MappingProxyType(
        {"words": (3, 12), "min_word_length": (3, 9), "max_word_length": (3, 12)}
    )

    words: int = 4
    delimiter: str = "-"
    min_word_length: int = 4
    max_word_length: int = 8

    def __post_init__(self) -> None:
        check_bounds(self, self.LIMITS)
        if self.max_word_length < self.min_word_length:
            raise InvalidValue(
                "max_word_length",
                f"must be at least min_word_length ({self.min_word_length}), "
                f"got {self.max_word_length}",
            )
        if not isinstance(self.delimiter, str) or len(self.delimiter) > 3:
            raise InvalidValue("delimiter", "must be a string of at most 3 characters")
        if any(char.isspace() or char.isalpha() for char in self.delimiter):
            raise InvalidValue("delimiter", "must not contain letters or whitespace")

    def entropy_bits(self, vocabulary: int) -> float:
        """Bits of guessing work when each word is drawn uniformly from `vocabulary` words."""
        whole_number("vocabulary", vocabulary, 0)
        return self.words * math.log2(vocabulary) if vocabulary > 1 else 0.0

    def check_strength(self, vocabulary: int) -> None:
        """Refuse settings whose passphrases would be too easy to guess, naming the field."""
        bits = self.entropy_bits(vocabulary)
        if bits < MIN_ENTROPY_BITS:
            raise InvalidValue(
                "words",
                f"{self.words} words of {self.min_word_length}-{self.max_word_length} letters "
                f"from a list of {vocabulary} give {bits:.1f} bits; at least "
                f"{MIN_ENTROPY_BITS:g} are needed (use more words or allow longer ones)",
            )

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

    LIMITS: ClassVar[Mapping[str, Bounds]] = MappingProxyType({"ttl_seconds": (10, 86_400)})

    ttl_seconds: int = 600

    def __post_init__(self) -> None:
        check_bounds(self, self.LIMITS)

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


class NewAccount(str, Enum):
    """What creating an account for a user an admin created did."""

    CREATED = "created"
    REPLACED_SIGN_UP = "replaced a sign-up waiting for an admin"
    EXISTS = "the user has an account of their own"


@dataclass(frozen=True, slots=True)
class HandedOut:
    """A generated passphrase handed to an admin once, and what the admin must know about it."""

    username: str
    password: str = field(repr=False)
    #: The user's name had a sign-up waiting for an admin, which this passphrase replaced.
    replaced_sign_up: bool = False

    @property
    def notice(self) -> str | None:
        """What the admin reads beside the passphrase (None: nothing to add)."""
        if not self.replaced_sign_up:
            return None
        return (
            f"Someone had signed up as {self.username} and was waiting for authorization. That "
            "sign-up was discarded, since anyone may sign up under any name: its password no "
            f"longer works. Give {self.username} this passphrase."
        )
