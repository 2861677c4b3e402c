"""CredentialStore on NativeAuthenticator's own table (`users_info` in the hub database).

Passwords are stored the way NativeAuthenticator stores them at sign-up (bcrypt, with its salt
and cost), and the account is authorized, so the user logs in through the stock login page.
It uses the hub's ORM session, on the event loop, as JupyterHub does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bcrypt
from nativeauthenticator.orm import UserInfo


class NativeCredentialStore:
    """The CredentialStore port; `db` returns the hub's ORM session (available once the hub
    runs)."""

    def __init__(self, db: Callable[[], Any]) -> None:
        self._db = db

    def has_account(self, username: str) -> bool:
        return UserInfo.find(self._db(), username) is not None

    def set_password(self, username: str, password: str) -> None:
        """Create or update the account with this password, hashed and authorized."""
        db = self._db()
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt())
        info = UserInfo.find(db, username)
        if info is None:
            db.add(UserInfo(username=username, password=hashed, is_authorized=True))
        else:
            info.password = hashed
            info.is_authorized = True
        db.commit()

    def authorized(self) -> frozenset[str]:
        rows = self._db().query(UserInfo.username).filter(UserInfo.is_authorized.is_(True))
        return frozenset(name for (name,) in rows)

    def password_matches(self, username: str, password: str) -> bool:
        """Whether `password` is the stored one (used to skip rehashing an unchanged one)."""
        info = UserInfo.find(self._db(), username)
        return info is not None and bcrypt.checkpw(password.encode(), info.password)
