"""Which text `stellars.domain.logins` takes for an IP address: an address alone, in brackets or
with spaces around it; an address with anything else stuck to it is no address, so a forwarded
entry like that ends the walk and a limiter key like that is counted as the text it is."""

from __future__ import annotations

import pytest

from stellars.domain.logins import client_address, limit_key

NOT_ADDRESSES = ["X203.0.113.7", "203.0.113.7X", "X::1", "[2001:db8::1]X", "203.0.113.7:80"]


@pytest.mark.parametrize("text", NOT_ADDRESSES)
def test_an_address_with_something_stuck_to_it_is_no_address(text):
    assert limit_key(text) == text
    # A forwarded entry that is no address ends the walk: the proxy's peer stays the client.
    assert client_address("127.0.0.1", [f"198.51.100.1, {text}"]) == "127.0.0.1"
    # A peer that is no IP address is a socket on this machine, as the hub's own proxy's.
    assert client_address(text, ["198.51.100.1"]) == "198.51.100.1"


@pytest.mark.parametrize(
    ("text", "address"),
    [(" 203.0.113.7 ", "203.0.113.7"), ("[2001:db8::1]", "2001:db8::1"), ("[::1]", "::1")],
)
def test_an_address_in_brackets_or_spaces_is_the_address(text, address):
    assert client_address("127.0.0.1", [text]) == address
