"""CredentialStore on NativeAuthenticator's own table (`users_info` in the hub database).

Passwords are stored the way NativeAuthenticator stores them at sign-up (bcrypt, with its salt
and cost), and the account is authorized, so the user logs in through the stock login page
(bcrypt reads the cost from the stored hash, so any cost logs in). Rows are read and written
through the hub's ORM session, on the event loop, as JupyterHub does (the session is not
thread-safe); only the bcrypt hash of a generated passphrase runs on a worker thread
(`create_account`).

Cost: passwords people choose, and the admin's, get bcrypt's default cost 12 (about a quarter
of a second each). Generated passphrases carry far more entropy than people's passwords, so
they get the least cost that still makes guessing one from its hash take an attacker's GPU at
least ATTACK_BAR_SECONDS on average (`generated_passphrase_cost`; the arithmetic is in
docs/security.md, "Generated passphrases and bcrypt's cost"): cost 8 for the 44 bits every
passphrase policy must reach, bcrypt's least cost 4 for the default policy's 50 bits. An admin
creating a class of 100 users then waits a few seconds, not half a minute.

`rename_account` and `delete_account` only stage their change in the hub's session: JupyterHub
commits it together with the rename or deletion that caused it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import bcrypt
from nativeauthenticator.orm import UserInfo

from stellars.domain.credentials import MIN_ENTROPY_BITS, NewAccount
from stellars.domain.errors import InvalidValue

#: bcrypt's default cost (2^12 rounds of its key setup, ~0.25 s): for passwords people choose.
DEFAULT_COST = 12
#: The least cost bcrypt accepts.
MIN_COST = 4
#: The bar for a generated passphrase: how long, on average, one attacker's GPU must work to
#: find it from its hash (10 years).
ATTACK_BAR_SECONDS = 10 * 365.25 * 86_400
#: What that GPU guesses per second against bcrypt at cost 5: hashcat 6.2.6 on an RTX 4090
#: does about 184,000, rounded up here. Each step of cost halves it.
GUESSES_PER_SECOND_AT_COST_5 = 200_000


def generated_passphrase_cost(entropy_bits: float) -> int:
    """The least bcrypt cost, within 4..12, at which guessing a passphrase of `entropy_bits`
    takes on average at least ATTACK_BAR_SECONDS: an attacker tries half of the 2^bits
    passphrases, at GUESSES_PER_SECOND_AT_COST_5 * 2^(5 - cost) a second, so

        2^(bits - 1) / (rate * 2^(5 - cost)) >= bar  <=>  cost >= log2(bar * rate) + 6 - bits
    """
    if (
        isinstance(entropy_bits, bool)
        or not isinstance(entropy_bits, (int, float))
        or not math.isfinite(entropy_bits)
    ):
        raise InvalidValue("entropy_bits", f"must be a finite number, got {entropy_bits!r}")
    # Too little entropy for the bar even at cost 12 gives 12, never more: such a policy is
    # refused anyway (PassphrasePolicy.check_strength), with a message that names its field.
    needed = math.log2(ATTACK_BAR_SECONDS * GUESSES_PER_SECOND_AT_COST_5) + 6 - entropy_bits
    return min(DEFAULT_COST, max(MIN_COST, math.ceil(needed)))


def hash_password(password: str, cost: int = DEFAULT_COST) -> bytes:
    """bcrypt with a fresh salt at `cost` (blocking: ~0.25 s at the default 12, half that for
    each step less)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost))


class NativeCredentialStore:
    """The CredentialStore port; `db` returns the hub's ORM session (available once the hub
    runs).

    `generated_entropy_bits`: the entropy of the passphrases `create_account` receives (the
    passphrase policy's `entropy_bits` over the generator's word list), which sets their bcrypt
    cost. The default, the least entropy any accepted policy has, is right for every policy;
    the real figure lets a stronger policy hash cheaper.
    """

    def __init__(
        self, db: Callable[[], Any], *, generated_entropy_bits: float = MIN_ENTROPY_BITS
    ) -> None:
        self._db = db
        #: The bcrypt cost of generated passphrases (people's passwords get DEFAULT_COST).
        self.generated_cost = generated_passphrase_cost(generated_entropy_bits)
        # One hashing thread: an admin creating hundreds of users queues their bcrypt work
        # here instead of filling every core and starving the hub's event loop of CPU.
        self._hashing = ThreadPoolExecutor(1, thread_name_prefix="stellars-bcrypt")
        # One account at a time, from hash to commit: cheap hashes would otherwise finish in
        # bunches while the loop commits one row, and the loop would then commit the whole
        # bunch in one turn (measured: 370 ms for 100 accounts at cost 4).
        self._one_account_at_a_time = asyncio.Lock()

    def has_account(self, username: str) -> bool:
        return UserInfo.find(self._db(), username) is not None

    def pending_sign_up(self, username: str) -> bool:
        info = UserInfo.find(self._db(), username)
        return info is not None and not info.is_authorized

    def set_password(self, username: str, password: str) -> None:
        """Create or update the account with this password, hashed and authorized.

        Hashes on the calling thread: for the admin's password at hub start, before the hub
        serves anyone; generated passphrases go through `create_account`.
        """
        db = self._db()
        hashed = hash_password(password)
        info = UserInfo.find(db, username)
        if info is None:
            db.add(UserInfo(username=username, password=hashed, is_authorized=True))
        else:
            info.password = hashed
            info.is_authorized = True
        db.commit()

    async def create_account(self, username: str, password: str) -> NewAccount:
        """Create an authorized account unless an authorized one exists; the hash runs off the
        loop. A sign-up waiting for an admin is replaced: its row goes, with the password,
        e-mail address and two-factor secret of whoever signed up.

        Only for generated passphrases (`CredentialService.issue`): they are hashed at
        `generated_cost`, which their entropy allows and a password people choose does not.
        """
        if self.has_account(username) and not self.pending_sign_up(username):
            return NewAccount.EXISTS
        async with self._one_account_at_a_time:
            hashed = await asyncio.get_running_loop().run_in_executor(
                self._hashing, hash_password, password, self.generated_cost
            )
            db = self._db()
            # Again: the name may have signed up, or been authorized, while we were hashing.
            rows = db.query(UserInfo).filter(UserInfo.username == username).all()
            if any(row.is_authorized for row in rows):
                return NewAccount.EXISTS
            for row in rows:
                db.delete(row)
            db.add(UserInfo(username=username, password=hashed, is_authorized=True))
            db.commit()
        return NewAccount.REPLACED_SIGN_UP if rows else NewAccount.CREATED

    def rename_account(self, old: str, new: str) -> None:
        """Stage the move of `old`'s row to `new` in the hub's session (no commit)."""
        db = self._db()
        with db.no_autoflush:  # called while the session prepares a flush
            info = UserInfo.find(db, old)
            if info is None:
                return
            for stale in db.query(UserInfo).filter(UserInfo.username == new):
                db.delete(stale)  # a sign-up under the new name that never became a user
            info.username = new

    def delete_account(self, username: str) -> None:
        """Stage the removal of the row in the hub's session (no commit)."""
        db = self._db()
        with db.no_autoflush:
            for info in db.query(UserInfo).filter(UserInfo.username == username):
                db.delete(info)

    def authorized(self) -> frozenset[str]:
        rows = self._db().query(UserInfo.username).filter(UserInfo.is_authorized.is_(True))
        return frozenset(name for (name,) in rows)

    def password_matches(self, username: str, password: str) -> bool:
        """Whether `password` is the stored one (used to skip rehashing an unchanged one)."""
        info = UserInfo.find(self._db(), username)
        return info is not None and bcrypt.checkpw(password.encode(), info.password)
