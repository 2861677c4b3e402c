"""Generated passphrases for admin-created users and the one-shot vault that holds them."""

from __future__ import annotations

from collections.abc import Collection

from stellars.domain.credentials import PassphrasePolicy
from stellars.ports.credentials import CredentialStore, CredentialVault, PasswordGenerator


class CredentialService:
    """Gives admin-created users a generated passphrase that an admin can read once."""

    def __init__(
        self,
        *,
        generator: PasswordGenerator,
        accounts: CredentialStore,
        vault: CredentialVault,
        policy: PassphrasePolicy,
        exempt: Collection[str] = (),
    ) -> None:
        # Refuse settings whose passphrases would be easy to guess, before any is issued.
        policy.check_strength(generator.vocabulary_size(policy))
        self._generator = generator
        self._accounts = accounts
        self._vault = vault
        self.policy = policy
        # Users who must choose their own password (the bootstrap admin signs up instead).
        self._exempt = frozenset(exempt)

    async def issue(self, username: str) -> bool:
        """Create an account with a fresh passphrase unless one exists (a user who signed up
        has one already; the exempt admin never gets one); True if issued."""
        if username in self._exempt or self._accounts.has_account(username):
            return False
        passphrase = self._generator.generate(self.policy)
        if not await self._accounts.create_account(username, passphrase):
            return False  # an account appeared while the passphrase was being hashed
        self._vault.deposit(username, passphrase)
        return True

    def set_known_password(self, username: str, password: str) -> None:
        """Store a password chosen by the deployer (the admin's); nothing goes to the vault."""
        self._accounts.set_password(username, password)

    def collect(self, usernames: Collection[str]) -> dict[str, str]:
        """Hand out the waiting passphrases once; later calls get nothing for them."""
        return self._vault.collect(usernames)

    def forget(self, username: str) -> None:
        """A deleted user: the account and any passphrase waiting in the vault go."""
        self._vault.discard(username)
        self._accounts.delete_account(username)

    def rename(self, old: str, new: str) -> None:
        """A renamed user: the account and any waiting passphrase follow the new name."""
        self._vault.rename(old, new)
        self._accounts.rename_account(old, new)
