"""StellarsNativeAuthenticator in this process, over JupyterHub's ORM (SQLite in memory):

- every bcrypt call of a login, a sign-up and a password change runs on the authenticator's
  hashing threads, never on the event loop's (NativeAuthenticator's own ran on the loop);
- what the checks decide stays NativeAuthenticator's: the authorization flag, two-factor tokens,
  the lockout bookkeeping (exact even for checks that arrive together), sign-up's rules;
- the address of a request is read from its connection, not from tornado's `remote_ip`.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import bcrypt
import onetimepass
import pytest
from jupyterhub import orm
from nativeauthenticator import NativeAuthenticator
from nativeauthenticator.orm import UserInfo
from tornado.httputil import HTTPHeaders

from stellars.adapters.auth import native
from stellars.adapters.auth.native import (
    BCRYPT_MAX_BYTES,
    StellarsNativeAuthenticator,
    request_address,
)
from stellars.domain.logins import LoginPolicy, parse_networks

pytestmark = pytest.mark.hub

OTP_SECRET = base64.b32encode(b"0123456789").decode()


@pytest.fixture
def db():
    session = orm.new_session_factory("sqlite://")()
    yield session
    session.close()


def authenticator(db: Any, **config: Any) -> StellarsNativeAuthenticator:
    return StellarsNativeAuthenticator(db=db, admin_users={"admin"}, **config)


def add(db: Any, name: str, password: str, *, authorized: bool = True, **fields: Any) -> None:
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4))
    db.add(UserInfo(username=name, password=hashed, is_authorized=authorized, **fields))
    db.commit()


@pytest.fixture
def cheap_hashes(monkeypatch):
    """Sign-ups and changes hashed at bcrypt's least cost, so the tests take milliseconds."""
    monkeypatch.setattr(
        native,
        "hash_password",
        lambda password: bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)),
    )


@pytest.fixture
def bcrypt_threads(monkeypatch) -> list[str]:
    """The name of the thread of every bcrypt call."""
    threads: list[str] = []
    real_hashpw, real_checkpw = bcrypt.hashpw, bcrypt.checkpw

    def hashpw(*args: Any) -> bytes:
        threads.append(threading.current_thread().name)
        return real_hashpw(*args)

    def checkpw(*args: Any) -> bool:
        threads.append(threading.current_thread().name)
        return real_checkpw(*args)

    monkeypatch.setattr(bcrypt, "hashpw", hashpw)
    monkeypatch.setattr(bcrypt, "checkpw", checkpw)
    return threads


def login(name: str, password: str, **more: str) -> dict[str, str]:
    return {"username": name, "password": password, **more}


async def test_every_bcrypt_call_runs_on_the_hashing_threads(db, cheap_hashes, bcrypt_threads):
    auth = authenticator(db)
    add(db, "ann", "anns-password-1")
    add(db, "bob", "bobs-password-1", authorized=False)
    loop_thread = threading.current_thread().name
    bcrypt_threads.clear()  # the rows above were hashed here
    assert await auth.authenticate(None, login("ann", "anns-password-1")) == "ann"
    assert await auth.authenticate(None, login("ann", "wrong-password")) is None
    assert await auth.waits_for_authorization("bob", "bobs-password-1")
    assert await auth.password_matches("ann", "anns-password-1")
    assert await auth.create_user_off_loop("cleo", "cleos-password-1") is not None
    assert await auth.change_password_off_loop("ann", "anns-password-2")
    assert len(bcrypt_threads) == 6
    assert all(name.startswith("stellars-login-bcrypt") for name in bcrypt_threads)
    assert loop_thread not in bcrypt_threads
    # What the replaced NativeAuthenticator method did: bcrypt on the calling (loop) thread.
    bcrypt_threads.clear()
    await NativeAuthenticator.authenticate(auth, None, login("ann", "anns-password-2"))
    assert bcrypt_threads == [loop_thread]


async def test_the_loop_keeps_turning_while_a_password_is_checked(db):
    auth = authenticator(db)
    db.add(
        UserInfo(
            username="ann",
            password=bcrypt.hashpw(b"anns-password-1", bcrypt.gensalt(12)),
            is_authorized=True,
        )
    )
    db.commit()
    turns = 0
    checking = asyncio.ensure_future(auth.authenticate(None, login("ann", "anns-password-1")))
    while not checking.done():
        turns += 1
        await asyncio.sleep(0)
    assert checking.result() == "ann"
    assert turns > 10  # a quarter of a second of bcrypt, and the loop ran on


async def test_only_an_authorized_account_with_its_password_logs_in(db):
    auth = authenticator(db)
    add(db, "ann", "anns-password-1")
    add(db, "bob", "bobs-password-1", authorized=False)
    assert await auth.authenticate(None, login("ann", "anns-password-1")) == "ann"
    assert await auth.authenticate(None, login("ANN", "anns-password-1")) == "ann"  # normalised
    assert await auth.authenticate(None, login("ann", "anns-password-2")) is None
    assert await auth.authenticate(None, login("bob", "bobs-password-1")) is None
    assert await auth.authenticate(None, login("nobody", "anything")) is None
    assert await auth.waits_for_authorization("bob", "bobs-password-1")
    assert not await auth.waits_for_authorization("bob", "wrong")
    assert not await auth.waits_for_authorization("ann", "anns-password-1")  # authorized
    assert not await auth.waits_for_authorization("nobody", "anything")
    assert not await auth.password_matches("nobody", "anything")
    assert not await auth.password_matches("ann", "a" * (BCRYPT_MAX_BYTES + 1))  # no 500


async def test_two_factors_need_the_token_too(db):
    auth = authenticator(db)
    add(db, "ann", "anns-password-1", has_2fa=True, otp_secret=OTP_SECRET)
    token = str(onetimepass.get_totp(OTP_SECRET)).zfill(6)
    assert await auth.authenticate(None, login("ann", "anns-password-1", **{"2fa": token})) == "ann"
    assert (
        await auth.authenticate(None, login("ann", "anns-password-1", **{"2fa": "000000"})) is None
    )
    assert await auth.authenticate(None, login("ann", "anns-password-1")) is None


async def test_a_locked_name_is_not_checked_until_the_lockout_is_over(db, bcrypt_threads):
    auth = authenticator(db, allowed_failed_logins=3, seconds_before_next_try=600)
    add(db, "ann", "anns-password-1")
    bcrypt_threads.clear()
    for _ in range(3):
        assert await auth.authenticate(None, login("ann", "wrong")) is None
    assert await auth.authenticate(None, login("ann", "anns-password-1")) is None  # locked
    assert len(bcrypt_threads) == 3  # the locked attempt was not checked
    auth.login_attempts["ann"]["time"] -= timedelta(seconds=601)
    assert await auth.authenticate(None, login("ann", "anns-password-1")) == "ann"
    assert "ann" not in auth.login_attempts  # a success clears the count


async def test_checks_that_arrive_together_keep_the_lockout_exact(db, bcrypt_threads):
    auth = authenticator(db, allowed_failed_logins=3, seconds_before_next_try=600)
    add(db, "ann", "anns-password-1")
    bcrypt_threads.clear()
    answers = await asyncio.gather(
        *(auth.authenticate(None, login("ann", f"guess-{i}")) for i in range(10))
    )
    assert answers == [None] * 10
    assert len(bcrypt_threads) == 3  # one check per name at a time: the fourth found it locked
    assert auth.login_attempts["ann"]["count"] == 3


def test_a_lockout_ends_after_its_seconds_whatever_the_day(db):
    auth = authenticator(db, allowed_failed_logins=1, seconds_before_next_try=60)
    auth.login_attempts["ann"] = {"count": 1, "time": datetime.now() - timedelta(seconds=30)}
    assert auth.is_blocked("ann")
    # NativeAuthenticator read timedelta.seconds, which wraps: a day and 30 s looked like 30 s.
    auth.login_attempts["ann"]["time"] = datetime.now() - timedelta(days=1, seconds=30)
    assert not auth.is_blocked("ann")
    assert auth.can_try_to_login_again("nobody")


def test_the_password_rules_default_to_the_platforms(db):
    auth = StellarsNativeAuthenticator(db=db)
    policy = LoginPolicy()
    assert auth.minimum_password_length == policy.password_min_length
    assert auth.check_common_password is policy.password_common_check
    assert auth.allowed_failed_logins == policy.lockout_failures
    assert auth.seconds_before_next_try == policy.lockout_seconds
    assert auth.attempts_per_minute == policy.attempts_per_minute == auth.limiter.per_minute
    assert not auth.is_password_strong("s3ven!!")
    assert not auth.is_password_strong("password123")
    assert not auth.is_password_strong("é" * 37)  # 74 bytes: more than bcrypt reads
    assert auth.is_password_strong("é" * 36)
    assert auth.is_password_strong("long-and-rare-1")


async def test_sign_up_keeps_native_authenticators_rules(db, cheap_hashes):
    auth = authenticator(db, reserved_usernames={"root"})
    assert await auth.create_user_off_loop("weak", "short") is None
    assert await auth.create_user_off_loop("common", "password123") is None
    assert await auth.create_user_off_loop("bad name", "long-and-rare-1") is None
    assert await auth.create_user_off_loop("root", "long-and-rare-1") is None  # reserved
    dora = await auth.create_user_off_loop("Dora", "long-and-rare-1", email="dora@example.org")
    assert dora is not None and dora.username == "dora" and not dora.is_authorized
    assert dora.email == "dora@example.org"
    assert await auth.create_user_off_loop("dora", "long-and-rare-2") is None  # taken
    admin = await auth.create_user_off_loop("admin", "the-admins-own-1")
    assert admin is not None and admin.is_authorized  # admins are authorized at once
    assert await auth.create_user_off_loop("eve", "long-and-rare-1", email="not-mail") is None
    assert await auth.authenticate(None, login("admin", "the-admins-own-1")) == "admin"
    auth.enable_signup = False
    assert await auth.create_user_off_loop("fred", "long-and-rare-1") is None
    assert sorted(info.username for info in db.query(UserInfo)) == ["admin", "dora"]


async def test_a_name_taken_while_its_password_was_hashed_is_not_signed_up_twice(
    db, cheap_hashes, monkeypatch
):
    auth = authenticator(db)
    real_hash = auth.hashing.hash

    async def hash_while_someone_signs_up(password: str) -> bytes:
        add(db, "dora", "someone-elses-1", authorized=False)
        return await real_hash(password)

    monkeypatch.setattr(auth.hashing, "hash", hash_while_someone_signs_up)
    assert await auth.create_user_off_loop("dora", "long-and-rare-1") is None
    assert db.query(UserInfo).filter(UserInfo.username == "dora").count() == 1


def test_the_start_up_import_still_signs_up_on_the_calling_thread(db, cheap_hashes):
    auth = authenticator(db)
    assert auth.create_user("gina", "long-and-rare-1") is not None
    assert auth.create_user("gina", "long-and-rare-1") is None
    assert auth.create_user("hal", "short") is None


async def test_a_password_change_is_hashed_off_the_loop_with_the_rules(
    db, cheap_hashes, monkeypatch
):
    auth = authenticator(db)
    add(db, "ann", "anns-password-1")
    assert not await auth.change_password_off_loop("ann", "short")
    assert not await auth.change_password_off_loop("nobody", "long-and-rare-1")
    assert await auth.change_password_off_loop("ann", "anns-password-2")
    assert await auth.password_matches("ann", "anns-password-2")
    real_hash = auth.hashing.hash

    async def hash_while_deleted(password: str) -> bytes:
        db.delete(UserInfo.find(db, "ann"))
        db.commit()
        return await real_hash(password)

    monkeypatch.setattr(auth.hashing, "hash", hash_while_deleted)
    assert not await auth.change_password_off_loop("ann", "anns-password-3")


def request_from(peer: Any, local: Any, *forwarded: str) -> Any:
    headers = HTTPHeaders()
    for value in forwarded:
        headers.add("X-Forwarded-For", value)
    headers.add("X-Real-IP", "192.0.2.99")  # passed on by the proxy untouched: never read
    socket = SimpleNamespace(getsockname=lambda: local)
    return SimpleNamespace(
        connection=SimpleNamespace(
            context=SimpleNamespace(address=peer), stream=SimpleNamespace(socket=socket)
        ),
        headers=headers,
        remote_ip="192.0.2.99",
    )


def test_the_address_comes_from_the_connection_and_the_proxys_entry():
    trusted = parse_networks("t", "10.0.0.0/8")
    assert (
        request_address(request_from(("127.0.0.1", 5), ("127.0.0.1", 8081), "a, 203.0.113.7"), ())
        == "203.0.113.7"
    )
    assert (
        request_address(request_from(("172.18.0.2", 5), ("172.18.0.2", 8081), "203.0.113.7"), ())
        == "203.0.113.7"
    )
    assert (
        request_address(request_from(("172.18.0.5", 5), ("172.18.0.2", 8081), "203.0.113.7"), ())
        == "172.18.0.5"
    )
    assert (
        request_address(
            request_from(("127.0.0.1", 5), ("127.0.0.1", 8081), "203.0.113.7", "10.0.0.5"), trusted
        )
        == "203.0.113.7"
    )
    # A Unix socket: no IP peer, on this machine.
    assert request_address(request_from("", "/run/hub.sock", "203.0.113.7"), ()) == "203.0.113.7"


def test_an_address_without_a_socket_is_still_an_address():
    request = request_from(("203.0.113.7", 5), None)
    request.connection.stream = None
    assert request_address(request, ()) == "203.0.113.7"

    def gone() -> Any:
        raise OSError("closed")

    request = request_from(("172.18.0.2", 5), None, "203.0.113.8")
    request.connection.stream.socket.getsockname = gone
    assert request_address(request, ()) == "172.18.0.2"  # not known to be this machine
