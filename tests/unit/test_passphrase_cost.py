"""The bcrypt cost of generated passphrases (`generated_passphrase_cost`): the least cost at
which an attacker's GPU needs ATTACK_BAR_SECONDS on average to find one from its hash, within
bcrypt's 4..12. The arithmetic is written out in docs/security.md."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.adapters.auth.credentials import (
    ATTACK_BAR_SECONDS,
    DEFAULT_COST,
    GUESSES_PER_SECOND_AT_COST_5,
    MIN_COST,
    generated_passphrase_cost,
)
from stellars.domain.credentials import MIN_ENTROPY_BITS
from stellars.domain.errors import InvalidValue

YEAR = 365.25 * 86_400


def expected_attack_seconds(entropy_bits: float, cost: int) -> float:
    """Half the passphrases tried, at the GPU's rate for that cost."""
    rate = GUESSES_PER_SECOND_AT_COST_5 * 2.0 ** (5 - cost)
    return 2.0 ** (entropy_bits - 1) / rate


def test_the_stated_figures():
    assert (DEFAULT_COST, MIN_COST) == (12, 4)
    assert ATTACK_BAR_SECONDS == 10 * YEAR
    assert GUESSES_PER_SECOND_AT_COST_5 == 200_000


@pytest.mark.parametrize(
    ("entropy_bits", "cost"),
    [
        (MIN_ENTROPY_BITS, 8),  # the least any accepted policy has: 11.2 GPU-years at cost 8
        (45.0, 7),
        (46.0, 6),
        (47.0, 5),
        (48.0, 4),
        (50.33, 4),  # the default policy: 4 words of 4-8 letters from 6,134
        (75.5, 4),
        (40.0, 12),  # too little for the bar: the default cost, never more
        (0.0, 12),
    ],
)
def test_examples(entropy_bits, cost):
    assert generated_passphrase_cost(entropy_bits) == cost


def test_the_least_policy_at_cost_8_keeps_the_bar_and_at_cost_7_would_not():
    assert expected_attack_seconds(MIN_ENTROPY_BITS, 8) / YEAR == pytest.approx(11.15, abs=0.01)
    assert expected_attack_seconds(MIN_ENTROPY_BITS, 7) < ATTACK_BAR_SECONDS


@given(st.floats(MIN_ENTROPY_BITS, 200.0))
def test_the_cost_is_the_least_that_keeps_the_bar(entropy_bits):
    cost = generated_passphrase_cost(entropy_bits)
    assert MIN_COST <= cost <= DEFAULT_COST
    assert expected_attack_seconds(entropy_bits, cost) >= ATTACK_BAR_SECONDS * (1 - 1e-12)
    if cost > MIN_COST:
        assert expected_attack_seconds(entropy_bits, cost - 1) < ATTACK_BAR_SECONDS


@given(st.floats(0.0, 200.0), st.floats(0.0, 50.0))
def test_more_entropy_never_costs_more(entropy_bits, more):
    assert generated_passphrase_cost(entropy_bits + more) <= generated_passphrase_cost(entropy_bits)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "50", None, True])
def test_a_figure_that_is_no_finite_number_is_refused(value):
    with pytest.raises(InvalidValue) as error:
        generated_passphrase_cost(value)
    assert error.value.field == "entropy_bits"
