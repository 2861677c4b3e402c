from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from stellars.domain.credentials import NewAccount, PassphrasePolicy


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

    def pending_sign_up(self, username: str) -> bool:
        """Whether the account is a sign-up still waiting for an admin's authorization."""
        ...

    def set_password(self, username: str, password: str) -> None:
        """Create or update the account with this password, hashed and authorized."""
        ...

    def authorized(self) -> frozenset[str]:
        """Names of the accounts allowed to log in (one read, for the activity table)."""
        ...

    async def create_account(self, username: str, password: str) -> NewAccount:
        """Create an authorized account with this password unless an authorized one exists
        (checked again once the password is hashed, which happens off the event loop). A
        sign-up still waiting for an admin is replaced, whatever it held (password, e-mail,
        two-factor secret): the admin's user wins over whoever signed up under the name."""
        ...

    def rename_account(self, old: str, new: str) -> None:
        """Move the account of `old` to `new` inside the hub's current transaction, which the
        hub commits with the rename. An account already under `new` (a sign-up that never
        became a hub user, since the hub refuses to rename onto a user) is replaced."""
        ...

    def delete_account(self, username: str) -> None:
        """Remove the account inside the hub's current transaction; none is no error."""
        ...


class CredentialVault(Protocol):
    """Plain-text passphrases waiting for an admin: one read each, and a TTL."""

    def deposit(self, username: str, secret: str) -> None: ...

    def collect(self, usernames: Collection[str]) -> dict[str, str]:
        """The fresh secrets among `usernames`; each is removed as it is returned."""
        ...

    def discard(self, username: str) -> None: ...

    def rename(self, old: str, new: str) -> None: ...
