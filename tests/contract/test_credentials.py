"""Contracts of the PasswordGenerator, CredentialStore and CredentialVault ports."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stellars.adapters.memory import (
    InMemoryCredentialStore,
    ManualClock,
    SequencePasswordGenerator,
)
from stellars.adapters.passwords import XkcdPasswordGenerator
from stellars.adapters.vault import ProcessMemoryVault
from stellars.domain.credentials import PassphrasePolicy, VaultPolicy
from stellars.ports.credentials import PasswordGenerator
from tests.strategies import EPOCH

# Word lengths a policy may allow: min_word_length goes up to 9, max_word_length up to 12.
SINGLE_LENGTHS = range(3, 10)


@pytest.fixture(params=["sequence", "xkcdpass"])
def generator(request) -> PasswordGenerator:
    return {"sequence": SequencePasswordGenerator, "xkcdpass": XkcdPasswordGenerator}[
        request.param
    ]()


@pytest.mark.parametrize(
    "policy",
    [
        PassphrasePolicy(),
        PassphrasePolicy(words=6, delimiter="."),
        PassphrasePolicy(words=3, delimiter="", min_word_length=6, max_word_length=6),
    ],
)
def test_generated_passphrases_conform_to_the_policy(generator, policy):
    for _ in range(20):
        assert policy.conforms(generator.generate(policy))


def test_passphrases_differ_from_one_call_to_the_next(generator):
    policy = PassphrasePolicy()
    assert len({generator.generate(policy) for _ in range(5)}) > 1


def words_of(generator: PasswordGenerator, policy: PassphrasePolicy, passphrases: int) -> list[str]:
    return [
        word
        for _ in range(passphrases)
        for word in generator.generate(policy).split(policy.delimiter)
    ]


def assert_nothing_fits(generator: PasswordGenerator, policy: PassphrasePolicy) -> None:
    """A vocabulary of 0 means no word fits the policy: asking for a passphrase is an error."""
    with pytest.raises(ValueError, match="fit"):
        generator.generate(policy)


@pytest.mark.parametrize(("shortest", "longest"), [(3, 4), (4, 8), (5, 7), (6, 12), (9, 12)])
def test_generated_words_have_allowed_lengths_and_fit_the_vocabulary(generator, shortest, longest):
    policy = PassphrasePolicy(words=12, min_word_length=shortest, max_word_length=longest)
    vocabulary = generator.vocabulary_size(policy)
    if vocabulary == 0:
        assert_nothing_fits(generator, policy)
        return
    words = words_of(generator, policy, 20)
    assert all(shortest <= len(word) <= longest for word in words), words
    assert len(set(words)) <= vocabulary


@pytest.mark.parametrize("length", SINGLE_LENGTHS)
def test_a_word_length_has_a_vocabulary_exactly_when_words_of_it_are_generated(generator, length):
    policy = PassphrasePolicy(words=12, min_word_length=length, max_word_length=length)
    vocabulary = generator.vocabulary_size(policy)
    assert vocabulary >= 0
    if vocabulary == 0:
        assert_nothing_fits(generator, policy)
        return
    words = words_of(generator, policy, 20)
    assert {len(word) for word in words} == {length}
    assert len(set(words)) <= vocabulary


def test_the_vocabulary_of_a_length_range_is_the_sum_of_its_lengths(generator):
    def exactly(length: int) -> int:
        policy = PassphrasePolicy(min_word_length=length, max_word_length=length)
        return generator.vocabulary_size(policy)

    per_length = {length: exactly(length) for length in SINGLE_LENGTHS}
    for shortest in SINGLE_LENGTHS:
        for longest in range(shortest, 13):
            policy = PassphrasePolicy(min_word_length=shortest, max_word_length=longest)
            vocabulary = generator.vocabulary_size(policy)
            counted = range(shortest, min(longest, SINGLE_LENGTHS[-1]) + 1)
            # Lengths past 9 cannot be asked for alone: they may only add words.
            assert vocabulary >= sum(per_length[length] for length in counted)
            if longest <= SINGLE_LENGTHS[-1]:
                assert vocabulary == sum(per_length[length] for length in counted)
    assert generator.vocabulary_size(PassphrasePolicy()) > 0


@pytest.fixture(params=["memory"])
def accounts(request):
    if request.param == "memory":
        return InMemoryCredentialStore()
    raise AssertionError(request.param)


def test_an_account_exists_once_a_password_is_set(accounts):
    assert not accounts.has_account("alice")
    accounts.set_password("alice", "amber-brook-cedar-delta")
    assert accounts.has_account("alice")


@pytest.fixture(params=["process-memory"])
def vault_and_clock(request):
    clock = ManualClock(EPOCH)
    if request.param == "process-memory":
        return ProcessMemoryVault(clock=clock, policy=VaultPolicy(ttl_seconds=60)), clock
    raise AssertionError(request.param)


def test_a_secret_can_be_collected_once(vault_and_clock):
    vault, _ = vault_and_clock
    vault.deposit("alice", "s3cret")
    assert vault.collect(["alice", "bob"]) == {"alice": "s3cret"}
    assert vault.collect(["alice"]) == {}


def test_secrets_expire_after_the_ttl(vault_and_clock):
    vault, clock = vault_and_clock
    vault.deposit("alice", "s3cret")
    vault.deposit("bob", "b")
    clock.advance(timedelta(seconds=59))
    assert vault.collect(["bob"]) == {"bob": "b"}  # still fresh just before the TTL
    clock.advance(timedelta(seconds=1))
    assert vault.collect(["alice"]) == {}


def test_a_new_deposit_replaces_the_waiting_secret_and_restarts_its_ttl(vault_and_clock):
    vault, clock = vault_and_clock
    vault.deposit("alice", "first")
    clock.advance(timedelta(seconds=50))
    vault.deposit("alice", "second")
    clock.advance(timedelta(seconds=50))
    assert vault.collect(["alice"]) == {"alice": "second"}


def test_discard_and_rename(vault_and_clock):
    vault, _ = vault_and_clock
    vault.deposit("alice", "a")
    vault.deposit("bob", "b")
    vault.discard("alice")
    vault.rename("bob", "robert")
    vault.rename("nobody", "someone")  # nothing waiting: nothing happens
    vault.discard("nobody")
    assert vault.collect(["alice", "bob", "robert", "someone"]) == {"robert": "b"}
