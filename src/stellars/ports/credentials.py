from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from stellars.domain.credentials import PassphrasePolicy


class PasswordGenerator(Protocol):
    def generate(self, policy: PassphrasePolicy) -> str:
        """A fresh passphrase conforming to `policy`."""
        ...

    def vocabulary_size(self, policy: PassphrasePolicy) -> int:
        """How many words `generate` draws each word of a passphrase from, under `policy`."""
        ...


class CredentialStore(Protocol):
    """The authenticator's own password records (NativeAuthenticator's users_info)."""

    def has_account(self, username: str) -> bool: ...

    def set_password(self, username: str, password: str) -> None:
        """Create or update the account with this password, hashed and authorized."""
        ...

    def authorized(self) -> frozenset[str]:
        """Names of the accounts allowed to log in (one read, for the activity table)."""
        ...


class CredentialVault(Protocol):
    """Plain-text passphrases waiting for an admin: one read each, and a TTL."""

    def deposit(self, username: str, secret: str) -> None: ...

    def collect(self, usernames: Collection[str]) -> dict[str, str]:
        """The fresh secrets among `usernames`; each is removed as it is returned."""
        ...

    def discard(self, username: str) -> None: ...

    def rename(self, old: str, new: str) -> None: ...
