"""NativeAuthenticator as the platform runs it: working on JupyterHub 5 and 6, with reserved
names, bcrypt off the event loop, and sign-up and login limited per address.

bcrypt takes about a quarter of a second per password at its default cost. NativeAuthenticator
1.3 runs it on the hub's event loop, where every page and API call waits behind it: in
`authenticate` (the login's check), in `create_user` (the sign-up's hash), in `change_password`,
and in its pages (the login page checks the password once more to say "not authorized yet",
the change-password page checks the old one). Here every one of them runs on a small pool of
threads of its own (`PasswordHashing`; bcrypt releases the GIL while it works), and the pages
that called them synchronously are replaced by ones that await them (`pages.py`). What the
checks decide is NativeAuthenticator's: the authorization flag, two-factor tokens and its
lockout bookkeeping, and one login of a name is checked at a time, so its failure count
stays exact however many arrive together.

Before any of that, `admit_attempt` asks the per-address limit (`stellars.domain.logins`) of
every sign-up and login: a refused one is answered 429 with no check at all.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import bcrypt
import nativeauthenticator
from nativeauthenticator import NativeAuthenticator
from nativeauthenticator.handlers import (
    ChangePasswordAdminHandler,
    ChangePasswordHandler,
    LoginHandler,
    SignUpHandler,
)
from nativeauthenticator.orm import UserInfo
from traitlets import Integer, Set, Unicode, default

from stellars.domain.logins import (
    Admission,
    AttemptLimiter,
    LoginPolicy,
    Network,
    client_address,
    parse_networks,
)

from .credentials import hash_password
from .pages import (
    LimitedLoginHandler,
    LimitedSignUpHandler,
    OffLoopChangePasswordAdminHandler,
    OffLoopChangePasswordHandler,
)

#: Threads that run bcrypt for logins, sign-ups and password changes: two checks at once keep
#: logins flowing while leaving the other cores to the hub's loop and the labs.
LOGIN_HASHING_THREADS = 2
#: The most bytes of a password bcrypt reads; bcrypt 5 refuses longer ones.
BCRYPT_MAX_BYTES = 72

#: NativeAuthenticator's pages and the ones that replace them.
REPLACED_PAGES: dict[type, type] = {
    LoginHandler: LimitedLoginHandler,
    SignUpHandler: LimitedSignUpHandler,
    ChangePasswordHandler: OffLoopChangePasswordHandler,
    ChangePasswordAdminHandler: OffLoopChangePasswordAdminHandler,
}

_POLICY = LoginPolicy()  # the defaults, for the traits' own
_T = TypeVar("_T")


def native_templates() -> str:
    """NativeAuthenticator's page templates (login, sign-up, authorize, change password)."""
    return str(Path(nativeauthenticator.__file__).parent / "templates")


def _password_matches(password: str, hashed: bytes) -> bool:
    """bcrypt's check; a password bcrypt cannot take (over 72 bytes) or a damaged hash does not
    match (NativeAuthenticator answered both with a 500)."""
    try:
        return bool(bcrypt.checkpw(password.encode(), bytes(hashed)))
    except ValueError:
        return False


class PasswordHashing:
    """bcrypt on a pool of threads of its own, awaited from the event loop."""

    def __init__(self, threads: int = LOGIN_HASHING_THREADS) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="stellars-login-bcrypt")

    async def _run(self, work: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)

    async def hash(self, password: str) -> bytes:
        """A fresh bcrypt hash at the default cost, as NativeAuthenticator makes them."""
        return bytes(await self._run(hash_password, password))

    async def matches(self, password: str, hashed: bytes) -> bool:
        return bool(await self._run(_password_matches, password, hashed))


def request_address(request: Any, trusted: tuple[Network, ...]) -> str:
    """The address a request comes from (`stellars.domain.logins.client_address`): the peer of
    its connection, the hub's own end of it, and the X-Forwarded-For headers.

    Tornado's `request.remote_ip` is not it: with JupyterHub's `xheaders` it believes an
    X-Real-IP header, which the proxy passes on from the client untouched.
    """
    connection = request.connection
    peer = getattr(getattr(connection, "context", None), "address", None)
    local = None
    socket = getattr(getattr(connection, "stream", None), "socket", None)
    if socket is not None:
        try:
            own = socket.getsockname()
        except OSError:
            own = None
        if isinstance(own, tuple) and own:
            local = str(own[0])
    return client_address(
        str(peer[0]) if isinstance(peer, tuple) and peer else "",
        request.headers.get_list("X-Forwarded-For"),
        local=local,
        trusted=trusted,
    )


class StellarsNativeAuthenticator(NativeAuthenticator):
    """NativeAuthenticator whose login works on JupyterHub 5 and 6, which refuses sign-ups under
    reserved names (the admin's, while no admin password is configured), runs bcrypt off the
    event loop and limits sign-ups and logins per address (see the module rule).

    Its password rules and lockout default to the platform's (`LoginPolicy`), not to
    NativeAuthenticator's none; deploy/jupyterhub_config.py sets them from the settings.
    """

    reserved_usernames = Set(
        Unicode(),
        help="""Names nobody may sign up under; the sign-up page answers that the name is taken.

        The composition root reserves the admin's name on a hub that listens beyond loopback
        while no admin password is configured, so the first visitor cannot become admin.
        """,
    ).tag(config=True)

    attempts_per_minute = Integer(
        _POLICY.attempts_per_minute,
        help="""Sign-ups and failed logins one address may make in any minute (0: no limit).

        More are answered 429 without being checked. A login counts while it is checked and
        stops counting once it succeeds.
        """,
    ).tag(config=True)

    trusted_proxies = Unicode(
        _POLICY.trusted_proxies,
        help="""Reverse proxies in front of the hub's proxy (addresses or networks, separated by
        commas), whose X-Forwarded-For entries are believed when telling addresses apart.""",
    ).tag(config=True)

    @default("minimum_password_length")
    def _default_minimum_password_length(self) -> int:
        return _POLICY.password_min_length

    @default("check_common_password")
    def _default_check_common_password(self) -> bool:
        return _POLICY.password_common_check

    @default("allowed_failed_logins")
    def _default_allowed_failed_logins(self) -> int:
        return _POLICY.lockout_failures

    @default("seconds_before_next_try")
    def _default_seconds_before_next_try(self) -> int:
        return _POLICY.lockout_seconds

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hashing = PasswordHashing()
        self.limiter = AttemptLimiter(self.attempts_per_minute)
        self._trusted = parse_networks("trusted_proxies", self.trusted_proxies)
        # One password check per name at a time; a name's lock lives while someone holds it or
        # waits for it.
        self._checks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # --- per-address limit -------------------------------------------------------------------

    def admit_attempt(self, request: Any) -> Admission:
        """Count a sign-up or login from the request's address, if it has room for one."""
        return self.limiter.admit(
            request_address(request, self._trusted), datetime.now(timezone.utc)
        )

    def refund_attempt(self, admission: Admission) -> None:
        """A login that succeeded does not count against its address."""
        self.limiter.refund(admission)

    # --- names -------------------------------------------------------------------------------

    def user_exists(self, username: str) -> bool:
        if self.normalize_username(username) in self.reserved_usernames:
            return True
        return bool(super().user_exists(username))

    def get_handlers(self, app: Any) -> list[tuple[Any, ...]]:
        return [
            (route, REPLACED_PAGES.get(handler, handler))
            for route, handler in super().get_handlers(app)
        ]

    # --- passwords ---------------------------------------------------------------------------

    def is_password_strong(self, password: str) -> bool:
        """NativeAuthenticator's rules (length, common passwords), and no more than bcrypt
        reads: a longer password would be refused at every login."""
        return len(password.encode()) <= BCRYPT_MAX_BYTES and bool(
            super().is_password_strong(password)
        )

    def can_try_to_login_again(self, username: str) -> bool:
        """Whether a locked name's lockout is over. NativeAuthenticator compares the
        `timedelta.seconds` since the last failure, which wraps every day, so a name stayed
        locked in the first minutes of each day after it; this counts the whole time."""
        attempts = self.login_attempts.get(username)
        if not attempts:
            return True
        waited = datetime.now() - attempts["time"]  # naive, as NativeAuthenticator stores it
        return bool(waited.total_seconds() > self.seconds_before_next_try)

    async def _one_check(self, username: str, check: Callable[[], Awaitable[_T]]) -> _T:
        lock = self._checks.get(username)
        if lock is None:
            lock = self._checks[username] = asyncio.Lock()
        async with lock:
            return await check()

    async def authenticate(self, handler: Any, data: dict[str, Any]) -> str | None:
        """NativeAuthenticator's check, with bcrypt off the loop: the account exists, is not
        locked, is authorized, the password matches and, with two factors, so does the token.
        A failure counts towards the lockout; a success clears the count."""
        username = self.normalize_username(data["username"])
        password = data["password"]

        async def check() -> str | None:
            info = self.get_user(username)
            if info is None:
                return None
            if self.allowed_failed_logins and self.is_blocked(username):
                return None
            # Read the row now: it may change while bcrypt works.
            checks = [bool(info.is_authorized)]
            if info.has_2fa:
                checks.append(bool(info.is_valid_token(data.get("2fa"))))
            stored = bytes(info.password)
            checks.append(await self.hashing.matches(password, stored))
            if all(checks):
                self.successful_login(username)
                return username
            self.add_login_attempt(username)
            return None

        return await self._one_check(username, check)

    async def waits_for_authorization(self, username: str, password: str) -> bool:
        """Whether this is a sign-up waiting for an admin, and the password is its own (what
        the login page tells such a user instead of "invalid")."""
        info = self.get_user(username)
        if info is None or info.is_authorized:
            return False
        return await self.hashing.matches(password, bytes(info.password))

    async def password_matches(self, username: str, password: str) -> bool:
        """Whether `password` is the account's (the change-password page's old password)."""
        info = self.get_user(username)
        return info is not None and await self.hashing.matches(password, bytes(info.password))

    def _sign_up_refused(self, username: str, password: str) -> bool:
        """NativeAuthenticator's reasons to refuse a sign-up: the name is taken or invalid,
        the password too weak, or sign-up is closed."""
        return (
            self.user_exists(username)
            or not self.validate_username(username)
            or not self.is_password_strong(password)
            or not self.enable_signup
        )

    def _store_sign_up(
        self, username: str, hashed: bytes, details: dict[str, Any]
    ) -> UserInfo | None:
        """The account row of a sign-up, as NativeAuthenticator stores it: authorized at once
        for admins (and everyone with open sign-up), an approval mail where configured."""
        pre_authorized = self.open_signup or username in self.get_authed_users()
        fields = {**details, "username": username, "password": hashed}
        if pre_authorized:
            fields["is_authorized"] = True
        try:
            info = UserInfo(**fields)
        except AssertionError:  # an e-mail address UserInfo refuses
            return None
        if self.allow_self_approval_for and not pre_authorized:
            self._send_approval(info, username)
        self.db.add(info)
        self.db.commit()
        return info

    def _send_approval(self, info: UserInfo, username: str) -> None:
        """NativeAuthenticator's self-approval: an e-mail address that matches the pattern gets
        a signed link that authorizes the account."""
        if re.match(self.allow_self_approval_for, info.email or ""):
            self.send_approval_email(info.email, self.generate_approval_url(username))
            info.login_email_sent = True

    def create_user(self, username: str, password: str, **details: Any) -> UserInfo | None:
        """A sign-up, hashed on the calling thread: only for NativeAuthenticator's import of
        FirstUse accounts at start; the sign-up page uses `create_user_off_loop`."""
        username = self.normalize_username(username)
        if self._sign_up_refused(username, password):
            return None
        return self._store_sign_up(username, hash_password(password), details)

    async def create_user_off_loop(
        self, username: str, password: str, **details: Any
    ) -> UserInfo | None:
        """A sign-up with the password hashed off the loop; the checks are made again once it
        is hashed, since someone may have taken the name meanwhile."""
        username = self.normalize_username(username)
        if self._sign_up_refused(username, password):
            return None
        hashed = await self.hashing.hash(password)
        if self._sign_up_refused(username, password):
            return None
        return self._store_sign_up(username, hashed, details)

    async def change_password_off_loop(self, username: str, new_password: str) -> bool:
        """NativeAuthenticator's `change_password` with the hash off the loop: the account must
        exist and the new password be strong enough."""
        if self.get_user(username) is None or not self.is_password_strong(new_password):
            return False
        hashed = await self.hashing.hash(new_password)
        info = self.get_user(username)
        if info is None:  # deleted while the password was being hashed
            return False
        info.password = hashed
        self.db.commit()
        return True
