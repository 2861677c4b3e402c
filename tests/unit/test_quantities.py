"""How the lab limits' variables are written: memory sizes in binary units (Docker's too, and
never the ambiguous GB), cores, process counts; each refusal says what is accepted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.configuration.quantities import parse_cores, parse_count, parse_memory_size
from stellars.domain.errors import InvalidValue

KIB, MIB, GIB, TIB = 1024, 1024**2, 1024**3, 1024**4


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("1073741824", GIB),
        (" 4GiB ", 4 * GIB),
        ("4 GiB", 4 * GIB),
        ("4gib", 4 * GIB),
        ("4Gi", 4 * GIB),
        ("4g", 4 * GIB),  # as `docker run -m 4g`
        ("4G", 4 * GIB),
        ("512MiB", 512 * MIB),
        ("512m", 512 * MIB),
        ("1.5GiB", 1536 * MIB),
        ("0.5 TiB", 512 * GIB),
        ("2t", 2 * TIB),
        ("64KiB", 64 * KIB),
        ("64k", 64 * KIB),
        ("100b", 100),
        ("100B", 100),
        ("1.7b", 1),  # whole bytes, rounded down
    ],
)
def test_sizes(text, size):
    assert parse_memory_size(text) == size


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("4GB", "'GB' may mean 1000 or 1024 to a power: write GiB (binary, as Docker counts), "
                "got '4GB'"),
        ("512mb", "'mb' may mean 1000 or 1024 to a power: write MiB (binary, as Docker counts), "
                  "got '512mb'"),
        ("1 TB", "'TB' may mean 1000 or 1024 to a power: write TiB (binary, as Docker counts), "
                 "got '1 TB'"),
        ("64kB", "'kB' may mean 1000 or 1024 to a power: write KiB (binary, as Docker counts), "
                 "got '64kB'"),
        ("4 parsecs", "has an unknown unit 'parsecs': bytes, or with a binary unit: 512MiB, "
                      "4GiB, 1.5GiB (Docker's 4g too)"),
        ("-1", "must be a size: bytes, or with a binary unit: 512MiB, 4GiB, 1.5GiB (Docker's 4g "
               "too); got '-1'"),
        ("GiB", "must be a size: bytes, or with a binary unit: 512MiB, 4GiB, 1.5GiB (Docker's 4g "
                "too); got 'GiB'"),
        ("4  GiB", "must be a size: bytes, or with a binary unit: 512MiB, 4GiB, 1.5GiB "
                   "(Docker's 4g too); got '4  GiB'"),
        ("1e9", "must be a size: bytes, or with a binary unit: 512MiB, 4GiB, 1.5GiB (Docker's 4g "
                "too); got '1e9'"),
        ("4e", "has an unknown unit 'e': bytes, or with a binary unit: 512MiB, 4GiB, 1.5GiB "
               "(Docker's 4g too)"),
        ("٤GiB", "must be a size: bytes, or with a binary unit: 512MiB, 4GiB, 1.5GiB (Docker's "
                 "4g too); got '٤GiB'"),
        ("9" * 30, f"is too large, got '{'9' * 30}'"),
        ("9000000TiB", "is too large, got '9000000TiB'"),
    ],
)  # fmt: skip
def test_sizes_refused(text, message):
    with pytest.raises(InvalidValue) as refused:
        parse_memory_size(text)
    assert (refused.value.field, refused.value.message) == ("value", message)


@given(st.integers(0, 2**40), st.sampled_from(["", "b", "KiB", "MiB", "GiB", "k", "m", "g"]))
def test_a_whole_number_of_any_unit_is_exact(number, unit):
    scale = {"": 1, "b": 1, "KiB": KIB, "k": KIB, "MiB": MIB, "m": MIB, "GiB": GIB, "g": GIB}
    if number * scale[unit] < 2**53:  # exact in a float
        assert parse_memory_size(f"{number}{unit}") == number * scale[unit]


@pytest.mark.parametrize(("text", "cores"), [("2", 2.0), (" 1.5 ", 1.5), ("0", 0.0),
                                             ("0.25", 0.25), ("1024", 1024.0)])  # fmt: skip
def test_cores(text, cores):
    got = parse_cores(text)
    assert got == cores and isinstance(got, float)


@pytest.mark.parametrize("text", ["two", "1,5", "-1", "1.", ".5", "1e3", "inf", "nan", "1500m"])
def test_cores_refused(text):
    with pytest.raises(InvalidValue) as refused:
        parse_cores(text)
    assert refused.value.message == f"must be a number of cores such as 2 or 1.5, got {text!r}"


@pytest.mark.parametrize(("text", "count"), [("2048", 2048), (" 0 ", 0), ("64", 64)])
def test_counts(text, count):
    assert parse_count(text) == count


@pytest.mark.parametrize("text", ["2.5", "-64", "lots", "1e3", "²"])
def test_counts_refused(text):
    with pytest.raises(InvalidValue) as refused:
        parse_count(text)
    assert refused.value.message == f"must be a whole number, got {text!r}"
