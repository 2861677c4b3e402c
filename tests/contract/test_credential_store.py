"""Contract of the CredentialStore port, on the in-memory fake and on NativeCredentialStore over
a real JupyterHub ORM session (NativeAuthenticator's `users_info` table, SQLite in memory).

`rename_account` and `delete_account` only stage their change in the hub's transaction; the
harness commits it as JupyterHub would. For the real store: the account logs in with the
password through NativeAuthenticator's own check, and the bcrypt hash runs off the event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import bcrypt
import pytest
from jupyterhub import orm
from nativeauthenticator.orm import UserInfo

from stellars.adapters.auth import NativeCredentialStore
from stellars.adapters.auth import credentials as native_credentials
from stellars.adapters.memory import InMemoryCredentialStore
from stellars.adapters.passwords import XkcdPasswordGenerator
from stellars.domain.credentials import NewAccount, PassphrasePolicy
from stellars.ports.credentials import CredentialStore


@dataclass
class Harness:
    store: CredentialStore
    commit: Callable[[], None]
    add_pending: Callable[[str, str], None]  # a sign-up waiting for an admin
    password_of: Callable[[str], Callable[[str], bool]]  # name -> checks a password


def memory() -> Harness:
    fake = InMemoryCredentialStore()

    def add_pending(name: str, password: str) -> None:
        fake.passwords[name] = password
        fake.unauthorized.add(name)

    return Harness(
        fake,
        commit=lambda: None,
        add_pending=add_pending,
        password_of=lambda name: lambda password: fake.passwords.get(name) == password,
    )


def native(db: Any) -> Harness:
    store = NativeCredentialStore(lambda: db)

    def add_pending(name: str, password: str) -> None:
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4))
        db.add(UserInfo(username=name, password=hashed, is_authorized=False))
        db.commit()

    return Harness(
        store,
        commit=db.commit,
        add_pending=add_pending,
        password_of=lambda name: lambda password: store.password_matches(name, password),
    )


@pytest.fixture(params=["memory", "native"])
def harness(request) -> Iterator[Harness]:
    if request.param == "memory":
        yield memory()
        return
    db = orm.new_session_factory("sqlite://")()
    yield native(db)
    db.close()


def test_a_password_set_makes_an_authorized_account(harness):
    assert not harness.store.has_account("ann")
    harness.store.set_password("ann", "first-password")
    assert harness.store.has_account("ann")
    assert harness.password_of("ann")("first-password")
    harness.store.set_password("ann", "second-password")
    assert harness.password_of("ann")("second-password")
    assert harness.store.authorized() == {"ann"}


def test_authorized_leaves_out_sign_ups_that_wait(harness):
    harness.store.set_password("ann", "ann-password")
    harness.add_pending("bob", "bob-password")
    assert harness.store.has_account("bob")
    assert harness.store.authorized() == frozenset({"ann"})


async def test_an_account_is_created_only_when_there_is_none(harness):
    assert await harness.store.create_account("ann", "generated-one") is NewAccount.CREATED
    assert harness.password_of("ann")("generated-one")
    assert await harness.store.create_account("ann", "generated-two") is NewAccount.EXISTS
    assert harness.password_of("ann")("generated-one")
    assert harness.store.authorized() == {"ann"}


def test_a_sign_up_waiting_for_an_admin_is_pending_an_authorized_account_is_not(harness):
    harness.store.set_password("ann", "ann-password")
    harness.add_pending("bob", "bobs-own")
    assert harness.store.pending_sign_up("bob")
    assert not harness.store.pending_sign_up("ann")
    assert not harness.store.pending_sign_up("nobody")
    harness.store.set_password("bob", "set-by-the-deployer")  # authorized now
    assert not harness.store.pending_sign_up("bob")


async def test_an_account_replaces_a_sign_up_waiting_for_an_admin(harness):
    """Security finding L3: whoever signed up under the name of a user an admin creates never
    gets in with their own password."""
    harness.add_pending("bob", "a-strangers-own")
    assert await harness.store.create_account("bob", "generated") is NewAccount.REPLACED_SIGN_UP
    assert harness.password_of("bob")("generated")
    assert not harness.password_of("bob")("a-strangers-own")
    assert not harness.store.pending_sign_up("bob")
    assert harness.store.authorized() == {"bob"}
    assert await harness.store.create_account("bob", "another") is NewAccount.EXISTS


def test_a_rename_moves_the_account_and_its_password(harness):
    harness.store.set_password("ann", "ann-password")
    harness.store.rename_account("ann", "anna")
    harness.commit()
    assert not harness.store.has_account("ann")
    assert harness.password_of("anna")("ann-password")
    assert harness.store.authorized() == {"anna"}


def test_a_rename_onto_a_waiting_sign_up_replaces_it(harness):
    harness.store.set_password("ann", "ann-password")
    harness.add_pending("anna", "strangers-password")
    harness.store.rename_account("ann", "anna")
    harness.commit()
    assert harness.password_of("anna")("ann-password")
    assert not harness.password_of("anna")("strangers-password")
    assert harness.store.authorized() == {"anna"}


def test_renaming_or_deleting_what_does_not_exist_changes_nothing(harness):
    harness.store.set_password("ann", "ann-password")
    harness.store.rename_account("nobody", "somebody")
    harness.store.delete_account("nobody")
    harness.commit()
    assert harness.store.authorized() == {"ann"}
    assert not harness.store.has_account("somebody")


def test_a_deletion_removes_the_account(harness):
    harness.store.set_password("ann", "ann-password")
    harness.add_pending("bob", "bob-password")
    harness.store.delete_account("ann")
    harness.store.delete_account("bob")
    harness.commit()
    assert not harness.store.has_account("ann")
    assert not harness.store.has_account("bob")
    assert harness.store.authorized() == frozenset()


def test_a_staged_change_goes_with_the_hubs_rollback():
    db = orm.new_session_factory("sqlite://")()
    store = NativeCredentialStore(lambda: db)
    store.set_password("ann", "ann-password")
    store.rename_account("ann", "anna")
    db.rollback()
    assert store.has_account("ann") and not store.has_account("anna")
    db.close()


async def test_the_native_store_hashes_off_the_event_loop(monkeypatch):
    db = orm.new_session_factory("sqlite://")()
    store = NativeCredentialStore(lambda: db)
    threads: list[threading.Thread] = []
    costs: list[int] = []
    real_hash = native_credentials.hash_password

    def recording_hash(password: str, cost: int = native_credentials.DEFAULT_COST) -> bytes:
        threads.append(threading.current_thread())
        costs.append(cost)
        return real_hash(password, cost)

    monkeypatch.setattr(native_credentials, "hash_password", recording_hash)
    loop_ticks = 0
    hashing = asyncio.ensure_future(store.create_account("ann", "generated-passphrase"))
    while not hashing.done():  # the loop keeps turning while bcrypt works
        loop_ticks += 1
        await asyncio.sleep(0)
    assert hashing.result() is NewAccount.CREATED
    assert threads and threads[0] is not threading.main_thread()
    assert costs == [store.generated_cost]
    assert loop_ticks > 1
    assert store.password_matches("ann", "generated-passphrase")
    db.close()


async def test_the_replaced_sign_up_leaves_nothing_of_whoever_made_it():
    """The stranger's row goes whole: no e-mail address, no two-factor secret of theirs stays
    on the account of the person the admin created."""
    db = orm.new_session_factory("sqlite://")()
    store = NativeCredentialStore(lambda: db, generated_entropy_bits=60.0)
    hashed = bcrypt.hashpw(b"a-strangers-own", bcrypt.gensalt(4))
    for _ in range(2):  # NativeAuthenticator's table has no unique name: two rows, both go
        db.add(
            UserInfo(
                username="bob",
                password=hashed,
                email="stranger@example.org",
                has_2fa=True,
                is_authorized=False,
            )
        )
    db.commit()
    assert await store.create_account("bob", "generated") is NewAccount.REPLACED_SIGN_UP
    [row] = db.query(UserInfo).filter(UserInfo.username == "bob").all()
    assert (row.email, row.has_2fa, row.is_authorized) == (None, False, True)
    db.close()


@pytest.mark.parametrize(
    ("meanwhile", "outcome"),
    [
        ("signs up", NewAccount.REPLACED_SIGN_UP),
        ("is authorized", NewAccount.EXISTS),
    ],
)
async def test_what_happens_to_the_name_while_hashing_is_looked_at_again(meanwhile, outcome):
    db = orm.new_session_factory("sqlite://")()
    store = NativeCredentialStore(lambda: db, generated_entropy_bits=60.0)
    creating = asyncio.ensure_future(store.create_account("bob", "generated"))
    await asyncio.sleep(0)  # the hash is on its thread; the loop, here, adds a row meanwhile
    db.add(
        UserInfo(
            username="bob",
            password=bcrypt.hashpw(b"bobs-own", bcrypt.gensalt(4)),
            is_authorized=meanwhile == "is authorized",
        )
    )
    db.commit()
    assert await creating is outcome
    assert db.query(UserInfo).filter(UserInfo.username == "bob").count() == 1
    assert store.password_matches("bob", "generated") is (outcome is NewAccount.REPLACED_SIGN_UP)
    db.close()


class TestGeneratedPassphraseCost:
    """Generated passphrases are hashed at the cost their entropy allows (docs/security.md),
    people's passwords at bcrypt's default 12; NativeAuthenticator checks either, since
    bcrypt reads the cost from the hash."""

    @staticmethod
    def stored_hash(db: Any, name: str) -> bytes:
        return UserInfo.find(db, name).password

    @pytest.mark.parametrize(
        ("entropy_bits", "prefix"),
        [
            ({}, b"$2b$08$"),  # the least entropy a policy may have: 44 bits
            ({"generated_entropy_bits": 50.33}, b"$2b$04$"),  # the default policy's
            ({"generated_entropy_bits": 46.0}, b"$2b$06$"),
        ],
    )
    async def test_a_generated_passphrase_is_stored_at_its_stated_cost_and_logs_in(
        self, entropy_bits, prefix
    ):
        db = orm.new_session_factory("sqlite://")()
        store = NativeCredentialStore(lambda: db, **entropy_bits)
        assert f"$2b${store.generated_cost:02d}$".encode() == prefix
        created = await store.create_account("ann", "tundra-gravel-wisp-oxide")
        assert created is NewAccount.CREATED
        stored = self.stored_hash(db, "ann")
        assert stored.startswith(prefix)
        info = UserInfo.find(db, "ann")
        assert info.is_valid_password("tundra-gravel-wisp-oxide")  # NativeAuthenticator's check
        assert not info.is_valid_password("tundra-gravel-wisp-oxidE")
        assert store.password_matches("ann", "tundra-gravel-wisp-oxide")
        db.close()

    def test_a_known_password_keeps_the_default_cost(self):
        db = orm.new_session_factory("sqlite://")()
        store = NativeCredentialStore(lambda: db, generated_entropy_bits=80.0)
        store.set_password("admin", "the-admins-own-password")
        assert self.stored_hash(db, "admin").startswith(b"$2b$12$")
        assert UserInfo.find(db, "admin").is_valid_password("the-admins-own-password")
        db.close()

    def test_the_xkcd_generators_default_policy_hashes_at_the_least_cost(self):
        policy = PassphrasePolicy()
        bits = policy.entropy_bits(XkcdPasswordGenerator().vocabulary_size(policy))
        assert bits > 50
        db = orm.new_session_factory("sqlite://")()
        assert NativeCredentialStore(lambda: db, generated_entropy_bits=bits).generated_cost == 4
        db.close()


async def test_accounts_created_at_once_are_committed_one_loop_turn_apart(monkeypatch):
    """Cheap hashes finish in bunches while the loop commits a row; the store still commits
    one account per turn of the loop, so a class of users never holds the loop for all of
    their commits at once."""
    db = orm.new_session_factory("sqlite://")()
    store = NativeCredentialStore(lambda: db, generated_entropy_bits=60.0)
    monkeypatch.setattr(native_credentials, "hash_password", lambda password, cost: b"$2b$04$x")
    real_commit = db.commit
    events: list[str] = []

    def slow_commit() -> None:
        events.append("commit")
        time.sleep(0.02)  # a commit on a busy machine: the hashing thread runs on meanwhile
        real_commit()

    monkeypatch.setattr(db, "commit", slow_commit)
    done = False

    async def ticker() -> None:
        while not done:
            events.append("turn")
            await asyncio.sleep(0)

    ticking = asyncio.ensure_future(ticker())
    created = await asyncio.gather(*(store.create_account(f"u{i}", "p") for i in range(8)))
    done = True
    await ticking
    assert created == [NewAccount.CREATED] * 8
    commits = [index for index, event in enumerate(events) if event == "commit"]
    assert len(commits) == 8
    assert all(later - earlier > 1 for earlier, later in itertools.pairwise(commits))
    db.close()
