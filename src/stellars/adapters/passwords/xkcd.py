from __future__ import annotations

from functools import lru_cache

from xkcdpass import xkcd_password

from stellars.domain.credentials import PassphrasePolicy


@lru_cache(maxsize=8)
def _wordlist(min_length: int, max_length: int) -> tuple[str, ...]:
    # Letters only: the EFF list has words like "t-shirt" that would blur the delimiter.
    return tuple(
        xkcd_password.generate_wordlist(
            wordfile=xkcd_password.locate_wordfile(),
            min_length=min_length,
            max_length=max_length,
            valid_chars="[a-z]",
        )
    )


class XkcdPasswordGenerator:
    """Passphrases of dictionary words picked with xkcdpass's system random generator."""

    def vocabulary_size(self, policy: PassphrasePolicy) -> int:
        return len(_wordlist(policy.min_word_length, policy.max_word_length))

    def generate(self, policy: PassphrasePolicy) -> str:
        words = list(_wordlist(policy.min_word_length, policy.max_word_length))
        return xkcd_password.generate_xkcdpassword(
            words, numwords=policy.words, delimiter=policy.delimiter
        )
