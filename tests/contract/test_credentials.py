"""Contracts of the PasswordGenerator, CredentialStore and CredentialVault ports."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stellars.adapters.memory import (
    InMemoryCredentialStore,
    InMemoryCredentialVault,
    ManualClock,
    SequencePasswordGenerator,
)
from stellars.adapters.passwords import XkcdPasswordGenerator
from stellars.domain.credentials import PassphrasePolicy, VaultPolicy
from tests.strategies import EPOCH


@pytest.fixture(params=["sequence", "xkcdpass"])
def generator(request):
    return {"sequence": SequencePasswordGenerator, "xkcdpass": XkcdPasswordGenerator}[
        request.param
    ]()


@pytest.mark.parametrize(
    "policy",
    [
        PassphrasePolicy(),
        PassphrasePolicy(words=6, delimiter="."),
        PassphrasePolicy(words=3, delimiter="", min_word_length=5, max_word_length=5),
    ],
)
def test_generated_passphrases_conform_to_the_policy(generator, policy):
    for _ in range(20):
        assert policy.conforms(generator.generate(policy))


def test_passphrases_differ_from_one_call_to_the_next(generator):
    policy = PassphrasePolicy()
    assert len({generator.generate(policy) for _ in range(5)}) > 1


@pytest.fixture(params=["memory"])
def accounts(request):
    if request.param == "memory":
        return InMemoryCredentialStore()
    raise AssertionError(request.param)


def test_an_account_exists_once_a_password_is_set(accounts):
    assert not accounts.has_account("alice")
    accounts.set_password("alice", "amber-brook-cedar-delta")
    assert accounts.has_account("alice")


@pytest.fixture(params=["memory"])
def vault_and_clock(request):
    clock = ManualClock(EPOCH)
    if request.param == "memory":
        return InMemoryCredentialVault(clock=clock, policy=VaultPolicy(ttl_seconds=60)), clock
    raise AssertionError(request.param)


def test_a_secret_can_be_collected_once(vault_and_clock):
    vault, _ = vault_and_clock
    vault.deposit("alice", "s3cret")
    assert vault.collect(["alice", "bob"]) == {"alice": "s3cret"}
    assert vault.collect(["alice"]) == {}


def test_secrets_expire_after_the_ttl(vault_and_clock):
    vault, clock = vault_and_clock
    vault.deposit("alice", "s3cret")
    clock.advance(timedelta(seconds=60))
    assert vault.collect(["alice"]) == {}


def test_discard_and_rename(vault_and_clock):
    vault, _ = vault_and_clock
    vault.deposit("alice", "a")
    vault.deposit("bob", "b")
    vault.discard("alice")
    vault.rename("bob", "robert")
    assert vault.collect(["alice", "bob", "robert"]) == {"robert": "b"}
