"""Kubernetes quantities read exactly: every suffix, the exponent form, and what is refused."""

from __future__ import annotations

from decimal import Context, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.adapters.kubernetes import byte_count, cpu_cores, cpu_percent, parse_quantity
from stellars.domain.errors import InvalidValue

BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
#: The decimal suffixes as powers of ten.
DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
WIDE = Context(prec=100)  # the expected values, computed without rounding


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", Decimal(0)),
        ("1", Decimal(1)),
        ("250m", Decimal("0.25")),
        ("1500m", Decimal("1.5")),
        ("12345678n", Decimal("0.012345678")),
        ("2500u", Decimal("0.0025")),
        ("1Ki", Decimal(1024)),
        ("1.5Gi", Decimal(1610612736)),
        ("524288Ki", Decimal(536870912)),
        ("129M", Decimal(129_000_000)),
        ("129e6", Decimal(129_000_000)),
        ("129E6", Decimal(129_000_000)),
        ("1e-3", Decimal("0.001")),
        ("1E", Decimal(10**18)),  # a bare E is exa, never an exponent
        ("1E3", Decimal(1000)),
        (".5", Decimal("0.5")),
        ("1.", Decimal(1)),
        ("+2k", Decimal(2000)),
        ("-1", Decimal(-1)),
        (" 3Mi ", Decimal(3 * 2**20)),
    ],
)
def test_quantities_are_read_exactly(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "text",
    ["", "m", "Gi", "1e", "1ki", "1KI", "1 Gi", "1.2.3", "1GiB", "0x10", "abc", "1e31", "1e-31"],
)
def test_what_is_no_quantity_is_refused_naming_the_field(text):
    with pytest.raises(InvalidValue) as refused:
        parse_quantity(text)
    assert refused.value.field == "quantity"


@pytest.mark.parametrize("value", [None, 3, 2.5, b"1Gi", ["1"]])
def test_only_text_is_a_quantity(value):
    with pytest.raises(InvalidValue, match="must be text"):
        parse_quantity(value)


def test_numbers_of_up_to_40_digits_are_read_exactly_and_longer_ones_refused():
    forty = "9" * 40
    assert parse_quantity(f"{forty}Ei") == int(forty) * 2**60
    assert parse_quantity(f"{forty[:20]}.{forty[20:]}") == Decimal(f"{forty[:20]}.{forty[20:]}")
    with pytest.raises(InvalidValue, match="more than 40 digits"):
        parse_quantity("1" * 41)


def test_the_largest_exponents_allowed_are_read():
    assert parse_quantity("1e30") == Decimal(10) ** 30
    assert parse_quantity("1e-30") == Decimal(10) ** -30


@given(st.integers(min_value=0, max_value=10**40 - 1), st.sampled_from(sorted(BINARY)))
def test_binary_suffixes_are_powers_of_1024(number, suffix):
    assert parse_quantity(f"{number}{suffix}") == number * BINARY[suffix]
    assert byte_count(f"{number}{suffix}") == number * BINARY[suffix]


@given(st.integers(min_value=0, max_value=10**40 - 1), st.sampled_from(sorted(DECIMAL)))
def test_decimal_suffixes_are_powers_of_1000(number, suffix):
    assert parse_quantity(f"{number}{suffix}") == Decimal(number).scaleb(DECIMAL[suffix], WIDE)


def test_cpu_is_read_in_cores_and_shown_in_percent_of_one_core():
    assert cpu_cores("250m") == 0.25
    assert cpu_cores("2") == 2.0
    assert cpu_percent("1500m") == 150.0
    assert cpu_percent("1503218742n") == 150.3
    assert cpu_percent("100u") == 0.0
    assert cpu_percent("500u") == 0.1  # 0.05 % rounds half to even: 0.1 here, exactly
    assert cpu_percent("0.1") == 10.0


def test_byte_counts_round_up_to_a_whole_byte():
    assert byte_count("1.5") == 2
    assert byte_count("1") == 1
    assert byte_count("1m") == 1
    assert byte_count("0") == 0
    assert byte_count("0.5Ki") == 512


@pytest.mark.parametrize("read", [cpu_cores, cpu_percent, byte_count])
def test_figures_are_never_negative(read):
    with pytest.raises(InvalidValue, match="must not be negative"):
        read("-1m")
    assert read("0") == 0
