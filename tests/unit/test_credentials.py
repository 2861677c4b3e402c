"""Tests for `stellars.domain.credentials`: passphrase policy and vault entry freshness."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stellars.domain.credentials import PassphrasePolicy, VaultEntry, VaultPolicy
from stellars.domain.errors import InvalidValue
from tests.strategies import EPOCH


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"words": 2}, "words"),
        ({"words": 13}, "words"),
        ({"delimiter": "----"}, "delimiter"),
        ({"delimiter": " "}, "delimiter"),
        ({"delimiter": "x"}, "delimiter"),
        ({"min_word_length": 2}, "min_word_length"),
        ({"min_word_length": 6, "max_word_length": 5}, "max_word_length"),
    ],
)
def test_policy_values_are_validated(kwargs, field):
    with pytest.raises(InvalidValue) as error:
        PassphrasePolicy(**kwargs)
    assert error.value.field == field


def test_conformance():
    policy = PassphrasePolicy(words=4, delimiter="-", min_word_length=4, max_word_length=8)
    assert policy.conforms("storm-apple-ocean-trail")
    assert not policy.conforms("storm-apple-ocean")
    assert not policy.conforms("storm-apple-ocean-a")
    assert not policy.conforms("storm-apple-oce4n-trail")


def test_vault_entries_are_fresh_strictly_within_the_ttl():
    policy = VaultPolicy(ttl_seconds=300)
    entry = VaultEntry("secret", EPOCH)
    assert entry.is_fresh(EPOCH + timedelta(seconds=299), policy)
    assert not entry.is_fresh(EPOCH + timedelta(seconds=300), policy)


def test_vault_ttl_is_bounded():
    with pytest.raises(InvalidValue):
        VaultPolicy(ttl_seconds=5)
