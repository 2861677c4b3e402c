"""JSON bodies turned into typed values, with a 400 naming the field for every wrong shape."""

from __future__ import annotations

import pytest

from stellars.adapters.jupyterhub.web.parsing import broadcast, string_list, whole_number
from stellars.domain.errors import InvalidValue
from stellars.domain.notifications import Broadcast, Variant


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "hours: is required"),
        ({"hours": True}, "hours: must be a whole number, got true"),
        ({"hours": 1.5}, "hours: must be a whole number, got 1.5"),
        ({"hours": 1e9}, "hours: must be a whole number, got 1000000000.0"),
        ({"hours": "2"}, 'hours: must be a whole number, got "2"'),
        ({"hours": None}, "hours: must be a whole number, got null"),
        ({"hours": [2]}, "hours: must be a whole number, got a list"),
    ],
)
def test_a_whole_number_refuses_every_other_json_shape(body, message):
    with pytest.raises(InvalidValue) as error:
        whole_number(body, "hours")
    assert str(error.value) == message


def test_a_whole_number_is_passed_on_as_it_is_including_out_of_range_ones():
    assert whole_number({"hours": 3}, "hours") == 3
    assert whole_number({"hours": -5}, "hours") == -5  # the domain's range check says no


def test_a_string_list_refuses_a_string_and_mixed_lists():
    assert string_list({"volumes": ["home", "cache"]}, "volumes") == ("home", "cache")
    with pytest.raises(InvalidValue, match='volumes: must be a list of strings, got "home"'):
        string_list({"volumes": "home"}, "volumes")
    with pytest.raises(InvalidValue, match="must be a list of strings, got a list"):
        string_list({"volumes": ["home", 1]}, "volumes")
    with pytest.raises(InvalidValue, match="volumes: is required"):
        string_list({}, "volumes")
    assert string_list({}, "volumes", required=False) == ()


def test_a_broadcast_body_becomes_a_validated_broadcast():
    parsed = broadcast(
        {
            "message": "  Maintenance at noon ",
            "variant": "warning",
            "autoClose": 8000,
            "recipients": ["ann", "bob", "ann"],
        }
    )
    assert parsed == Broadcast(
        message="Maintenance at noon",
        variant=Variant.WARNING,
        auto_close_ms=8000,
        recipients=("ann", "bob"),
    )


def test_broadcast_defaults_info_sticky_and_everyone():
    assert broadcast({"message": "hi"}) == Broadcast(message="hi")
    assert broadcast({"message": "hi", "autoClose": True}).auto_close_ms == 5000
    assert broadcast({"message": "hi", "autoClose": False}).auto_close_ms is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "message"),
        ({"message": 42}, "message"),
        ({"message": "   "}, "message"),
        ({"message": "x" * 141}, "message"),
        ({"message": "hi", "variant": "loud"}, "variant"),
        ({"message": "hi", "autoClose": "soon"}, "autoClose"),
        ({"message": "hi", "autoClose": 0}, "autoClose"),
        ({"message": "hi", "recipients": "ann"}, "recipients"),
        ({"message": "hi", "recipients": []}, "recipients"),
        ({"message": "hi", "recipients": ["ann", 7]}, "recipients"),
    ],
)
def test_a_bad_broadcast_body_names_the_field(body, field):
    with pytest.raises(InvalidValue) as error:
        broadcast(body)
    assert error.value.field == field


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"hours": "9" * 1_000_000}, f'hours: must be a whole number, got "{"9" * 37}..."'),
        ({"hours": "a\nb"}, 'hours: must be a whole number, got "a\\nb"'),
        ({"hours": "é" * 40}, f'hours: must be a whole number, got "{"é" * 40}"'),
        ({"hours": 1e300}, f"hours: must be a whole number, got {1e300!r}"),
    ],
)
def test_a_wrong_value_is_repeated_short_and_escaped(body, message):
    with pytest.raises(InvalidValue) as error:
        whole_number(body, "hours")
    assert str(error.value) == message


def test_a_string_in_place_of_a_list_is_repeated_only_in_part():
    with pytest.raises(InvalidValue) as error:
        string_list({"volumes": "v" * 100_000}, "volumes")
    assert str(error.value) == f'volumes: must be a list of strings, got "{"v" * 37}..."'
