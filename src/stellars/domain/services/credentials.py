"""Generated passphrases for admin-created users and the one-shot vault that holds them.

A user an admin creates under a name with a sign-up still waiting for authorization gets a
passphrase too, and the sign-up is discarded (`stellars.domain.credentials`); the admin learns it
with the passphrase (`HandedOut.notice`).

Only a hub whose users log in with NativeAuthenticator keeps passwords. With any other
authenticator (`accounts` None) the identity provider keeps them: nobody gets a passphrase, and
asking for one, or setting a password, is refused with that reason.
"""

from __future__ import annotations

from collections.abc import Collection

from stellars.domain.credentials import HandedOut, NewAccount, PassphrasePolicy
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
        # Users whose passphrase replaced a waiting sign-up, until the admin collects it.
        self._replaced_sign_ups: set[str] = set()

    @property
    def keeps_passwords(self) -> bool:
        """Whether this hub keeps its users' passwords (NativeAuthenticator)."""
        return self._accounts is not None

    async def issue(self, username: str) -> bool:
        """Create an account with a fresh passphrase unless an authorized one exists (a user
        who signed up and was let in has one already; the exempt admin never gets one; with an
        identity provider nobody does); True if issued. A sign-up still waiting for an admin
        does not count: it is replaced, and the admin told when collecting."""
        accounts = self._accounts
        if accounts is None or username in self._exempt:
            return False
        if accounts.has_account(username) and not accounts.pending_sign_up(username):
            return False
        passphrase = self._generator.generate(self.policy)
        created = await accounts.create_account(username, passphrase)
        if created is NewAccount.EXISTS:
            return False  # authorized while the passphrase was being hashed
        if created is NewAccount.REPLACED_SIGN_UP:
            self._replaced_sign_ups.add(username)
        self._vault.deposit(username, passphrase)
        return True

    def set_known_password(self, username: str, password: str) -> None:
        """Store a password chosen by the deployer (the admin's); nothing goes to the vault.
        Raises Refused when an identity provider keeps the passwords."""
        if self._accounts is None:
            raise Refused(PASSWORDS_ELSEWHERE)
        self._accounts.set_password(username, password)

    def collect(self, usernames: Collection[str]) -> dict[str, HandedOut]:
        """Hand out the waiting passphrases once, each with what the admin must know about it;
        later calls get nothing for them. Raises Refused when an identity provider keeps the
        passwords."""
        if self._accounts is None:
            raise Refused(PASSWORDS_ELSEWHERE)
        found = self._vault.collect(usernames)
        handed = {
            name: HandedOut(name, secret, replaced_sign_up=name in self._replaced_sign_ups)
            for name, secret in found.items()
        }
        self._replaced_sign_ups.difference_update(usernames)  # told once, or expired with it
        return handed

    def authorized(self) -> frozenset[str] | None:
        """The accounts allowed to log in, or None when the identity provider decides."""
        return None if self._accounts is None else self._accounts.authorized()

    def forget(self, username: str) -> None:
        """A deleted user: the account and any passphrase waiting in the vault go."""
        self._vault.discard(username)
        self._replaced_sign_ups.discard(username)
        if self._accounts is not None:
            self._accounts.delete_account(username)

    def rename(self, old: str, new: str) -> None:
        """A renamed user: the account and any waiting passphrase follow the new name."""
        self._vault.rename(old, new)
        if old in self._replaced_sign_ups:
            self._replaced_sign_ups.discard(old)
            self._replaced_sign_ups.add(new)
        if self._accounts is not None:
            self._accounts.rename_account(old, new)
