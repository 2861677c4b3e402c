"""Generated passphrases for admin-created users and the one-shot vault that holds them.

Only a hub whose users log in with NativeAuthenticator keeps passwords. With any other
authenticator (`accounts` None) the identity provider keeps them: nobody gets a passphrase, and
asking for one, or setting a password, is refused with that reason.
"""

from __future__ import annotations

from collections.abc import Collection

from stellars.domain.credentials import PassphrasePolicy
from stellars.domain.errors import Refused
from stellars.ports.credentials import CredentialStore, CredentialVault, PasswordGenerator

#: Why a hub without NativeAuthenticator hands out no passphrase.
PASSWORDS_ELSEWHERE = (
    "Generated passphrases need NativeAuthenticator (authenticator 'native'): on this hub users "
    "log in through an identity provider, which keeps their passwords."
)


class CredentialService:
    """Gives admin-created users a generated passphrase that an admin can read once."""

    def __init__(
        self,
        *,
        generator: PasswordGenerator,
        accounts: CredentialStore | None,
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

    @property
    def keeps_passwords(self) -> bool:
        """Whether this hub keeps its users' passwords (NativeAuthenticator)."""
        return self._accounts is not None

    async def issue(self, username: str) -> bool:
        """Create an account with a fresh passphrase unless one exists (a user who signed up
        has one already; the exempt admin never gets one; with an identity provider nobody
        does); True if issued."""
        accounts = self._accounts
        if accounts is None or username in self._exempt or accounts.has_account(username):
            return False
        passphrase = self._generator.generate(self.policy)
        if not await accounts.create_account(username, passphrase):
            return False  # an account appeared while the passphrase was being hashed
        self._vault.deposit(username, passphrase)
        return True

    def set_known_password(self, username: str, password: str) -> None:
        """Store a password chosen by the deployer (the admin's); nothing goes to the vault.
        Raises Refused when an identity provider keeps the passwords."""
        if self._accounts is None:
            raise Refused(PASSWORDS_ELSEWHERE)
        self._accounts.set_password(username, password)

    def collect(self, usernames: Collection[str]) -> dict[str, str]:
        """Hand out the waiting passphrases once; later calls get nothing for them. Raises
        Refused when an identity provider keeps the passwords."""
        if self._accounts is None:
            raise Refused(PASSWORDS_ELSEWHERE)
        return self._vault.collect(usernames)

    def authorized(self) -> frozenset[str] | None:
        """The accounts allowed to log in, or None when the identity provider decides."""
        return None if self._accounts is None else self._accounts.authorized()

    def forget(self, username: str) -> None:
        """A deleted user: the account and any passphrase waiting in the vault go."""
        self._vault.discard(username)
        if self._accounts is not None:
            self._accounts.delete_account(username)

    def rename(self, old: str, new: str) -> None:
        """A renamed user: the account and any waiting passphrase follow the new name."""
        self._vault.rename(old, new)
        if self._accounts is not None:
            self._accounts.rename_account(old, new)
