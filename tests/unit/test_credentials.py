"""Tests for `stellars.domain.credentials`: passphrase policy and vault entry freshness."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from stellars.domain.credentials import (
    MIN_ENTROPY_BITS,
    PassphrasePolicy,
    VaultEntry,
    VaultPolicy,
)
from stellars.domain.errors import InvalidValue
from tests.strategies import EPOCH

#: The size of xkcdpass's default word list at the default lengths (4-8 letters).
XKCD_DEFAULT_VOCABULARY = 6134


class TestPolicyValues:
    def test_defaults(self):
        policy = PassphrasePolicy()
        assert (policy.words, policy.delimiter) == (4, "-")
        assert (policy.min_word_length, policy.max_word_length) == (4, 8)

    @pytest.mark.parametrize(
        ("kwargs", "text"),
        [
            ({"words": 2}, "words: must be between 3 and 12, got 2"),
            ({"words": 13}, "words: must be between 3 and 12, got 13"),
            ({"words": 4.0}, "words: must be a whole number, got 4.0"),
            ({"min_word_length": 2}, "min_word_length: must be between 3 and 9, got 2"),
            ({"min_word_length": 10, "max_word_length": 12},
             "min_word_length: must be between 3 and 9, got 10"),
            ({"max_word_length": 13}, "max_word_length: must be between 3 and 12, got 13"),
            ({"min_word_length": 6, "max_word_length": 5},
             "max_word_length: must be at least min_word_length (6), got 5"),
            ({"delimiter": "----"}, "delimiter: must be a string of at most 3 characters"),
            ({"delimiter": 5}, "delimiter: must be a string of at most 3 characters"),
            ({"delimiter": " "}, "delimiter: must not contain letters or whitespace"),
            ({"delimiter": "-\t"}, "delimiter: must not contain letters or whitespace"),
            ({"delimiter": "x"}, "delimiter: must not contain letters or whitespace"),
            ({"delimiter": "1é"}, "delimiter: must not contain letters or whitespace"),
        ],
    )  # fmt: skip
    def test_policy_values_are_validated(self, kwargs, text):
        with pytest.raises(InvalidValue) as error:
            PassphrasePolicy(**kwargs)
        assert str(error.value) == text

    @pytest.mark.parametrize("delimiter", ["", "-", "_", ".", "-=-", "123", "+"])
    def test_delimiters_of_up_to_three_symbols_or_digits(self, delimiter):
        assert PassphrasePolicy(delimiter=delimiter).delimiter == delimiter

    def test_equal_word_lengths_are_allowed(self):
        policy = PassphrasePolicy(min_word_length=5, max_word_length=5)
        assert (policy.min_word_length, policy.max_word_length) == (5, 5)


class TestStrength:
    def test_the_floor_is_44_bits(self):
        assert MIN_ENTROPY_BITS == 44.0

    @pytest.mark.parametrize(
        ("words", "vocabulary", "bits"),
        [(4, 2048, 44.0), (4, 6134, 4 * math.log2(6134)), (3, 16, 12.0), (12, 2, 12.0)],
    )
    def test_entropy_is_words_times_the_bits_of_one_word(self, words, vocabulary, bits):
        assert PassphrasePolicy(words=words).entropy_bits(vocabulary) == bits

    @pytest.mark.parametrize("vocabulary", [0, 1])
    def test_a_vocabulary_of_one_word_or_none_gives_no_entropy(self, vocabulary):
        assert PassphrasePolicy().entropy_bits(vocabulary) == 0.0

    @pytest.mark.parametrize(
        ("vocabulary", "text"),
        [
            (-1, "vocabulary: must be at least 0, got -1"),
            (2.5, "vocabulary: must be a whole number, got 2.5"),
            (True, "vocabulary: must be a whole number, got True"),
        ],
    )
    def test_a_vocabulary_is_a_count(self, vocabulary, text):
        with pytest.raises(InvalidValue) as error:
            PassphrasePolicy().entropy_bits(vocabulary)
        assert str(error.value) == text

    def test_the_default_policy_with_the_xkcd_word_list_is_strong_enough(self):
        policy = PassphrasePolicy()
        policy.check_strength(XKCD_DEFAULT_VOCABULARY)  # 4 x 12.58 bits
        assert policy.entropy_bits(XKCD_DEFAULT_VOCABULARY) == pytest.approx(50.33, abs=0.01)

    def test_exactly_44_bits_is_enough_and_a_word_less_is_not(self):
        PassphrasePolicy(words=4).check_strength(2048)
        with pytest.raises(InvalidValue) as error:
            PassphrasePolicy(words=4).check_strength(2047)
        assert error.value.field == "words"

    def test_four_words_of_three_letters_are_refused(self):
        policy = PassphrasePolicy(words=4, min_word_length=3, max_word_length=3)
        with pytest.raises(InvalidValue) as error:
            policy.check_strength(82)
        assert str(error.value) == (
            "words: 4 words of 3-3 letters from a list of 82 give 25.4 bits; at least 44 are "
            "needed (use more words or allow longer ones)"
        )

    def test_an_empty_word_list_is_refused(self):
        with pytest.raises(InvalidValue, match=r"from a list of 0 give 0\.0 bits"):
            PassphrasePolicy().check_strength(0)


class TestConformance:
    policy = PassphrasePolicy(words=4, delimiter="-", min_word_length=4, max_word_length=8)

    @pytest.mark.parametrize(
        "passphrase",
        ["storm-apple-ocean-trail", "abcd-abcd-abcd-abcd", "abcdefgh-abcd-abcdefgh-abcd"],
    )
    def test_conforming(self, passphrase):
        assert self.policy.conforms(passphrase) is True

    @pytest.mark.parametrize(
        "passphrase",
        [
            "storm-apple-ocean",  # too few words
            "storm-apple-ocean-trail-river",  # too many
            "storm-apple-ocean-a",  # a word too short
            "storm-apple-ocean-abc",
            "storm-apple-ocean-abcdefghi",  # a word too long
            "storm-apple-oce4n-trail",  # not letters
            "storm_apple_ocean_trail",  # another delimiter
            "",
        ],
    )
    def test_not_conforming(self, passphrase):
        assert self.policy.conforms(passphrase) is False

    def test_a_multi_character_delimiter(self):
        policy = PassphrasePolicy(words=3, delimiter="-=-")
        assert policy.conforms("storm-=-apple-=-ocean")
        assert not policy.conforms("storm-apple-ocean")

    def test_without_a_delimiter_the_letters_must_fill_every_word(self):
        policy = PassphrasePolicy(words=4, delimiter="", min_word_length=4, max_word_length=8)
        assert policy.conforms("stormappleoceantrail") is True
        assert policy.conforms("abcdabcdabcdabcd") is True  # exactly 4 x 4 letters
        assert policy.conforms("abcdabcdabcdabc") is False  # one letter short
        assert policy.conforms("storm-apple-ocean-trail") is False
        assert policy.conforms("stormapple0ceantrail") is False


class TestVault:
    def test_the_ttl(self):
        assert VaultPolicy().ttl_seconds == 600
        assert VaultPolicy(ttl_seconds=90).ttl == timedelta(seconds=90)

    def test_vault_entries_are_fresh_strictly_within_the_ttl(self):
        policy = VaultPolicy(ttl_seconds=300)
        entry = VaultEntry("secret", EPOCH)
        assert entry.is_fresh(EPOCH, policy)
        assert entry.is_fresh(EPOCH + timedelta(seconds=299), policy)
        assert not entry.is_fresh(EPOCH + timedelta(seconds=300), policy)

    @pytest.mark.parametrize(
        ("ttl", "text"),
        [
            (9, "ttl_seconds: must be between 10 and 86400, got 9"),
            (86_401, "ttl_seconds: must be between 10 and 86400, got 86401"),
        ],
    )
    def test_vault_ttl_is_bounded(self, ttl, text):
        with pytest.raises(InvalidValue) as error:
            VaultPolicy(ttl_seconds=ttl)
        assert str(error.value) == text
        VaultPolicy(ttl_seconds=10)
        VaultPolicy(ttl_seconds=86_400)
