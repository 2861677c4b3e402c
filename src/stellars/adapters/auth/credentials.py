"""CredentialStore on NativeAuthenticator's own table (`users_info` in the hub database).

Passwords are stored the way NativeAuthenticator stores them at sign-up (bcrypt, with its salt
and cost), and the account is authorized, so the user logs in through the stock login page.
Rows are read and written through the hub's ORM session, on the event loop, as JupyterHub does
(the session is not thread-safe); only the bcrypt hash of a generated passphrase, which costs
about a quarter of a second, runs on a worker thread (`create_account`).

`rename_account` and `delete_account` only stage their change in the hub's session: JupyterHub
commits it together with the rename or deletion that caused it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import bcrypt
from nativeauthenticator.orm import UserInfo


def hash_password(password: str) -> bytes:
    """bcrypt with a fresh salt at the library's default cost (blocking: ~0.25 s)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt())


class NativeCredentialStore:
    """The CredentialStore port; `db` returns the hub's ORM session (available once the hub
    runs)."""

    def __init__(self, db: Callable[[], Any]) -> None:
        self._db = db
        # One hashing thread: an admin creating hundreds of users queues their bcrypt work
        # here instead of filling every core and starving the hub's event loop of CPU.
        self._hashing = ThreadPoolExecutor(1, thread_name_prefix="stellars-bcrypt")

    def has_account(self, username: str) -> bool:
        return UserInfo.find(self._db(), username) is not None

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

    async def create_account(self, username: str, password: str) -> bool:
        """Create an authorized account unless one exists; the hash runs off the loop."""
        if self.has_account(username):
            return False
        hashed = await asyncio.get_running_loop().run_in_executor(
            self._hashing, hash_password, password
        )
        db = self._db()
        if UserInfo.find(db, username) is not None:  # signed up while we were hashing
            return False
        db.add(UserInfo(username=username, password=hashed, is_authorized=True))
        db.commit()
        return True

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
