"""Tests for `stellars.domain.logins`: the login policy's bounds, which address an attempt comes
from (X-Forwarded-For believed only from the hub's own proxy and trusted ones), and the
per-address sliding window with its bounded memory."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from ipaddress import ip_network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.errors import InvalidValue
from stellars.domain.logins import (
    IPV6_CLIENT_PREFIX,
    MAX_ADDRESSES,
    WINDOW,
    Admission,
    AttemptLimiter,
    LoginPolicy,
    client_address,
    limit_key,
    parse_networks,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class TestPolicy:
    def test_defaults(self):
        policy = LoginPolicy()
        assert (
            policy.password_min_length,
            policy.password_common_check,
            policy.lockout_failures,
            policy.lockout_seconds,
            policy.attempts_per_minute,
            policy.trusted_proxies,
        ) == (8, True, 20, 60, 10, "")
        assert policy.trusted_networks == ()

    def test_one_addresss_minute_never_locks_a_name_out_by_default(self):
        policy = LoginPolicy()
        assert policy.lockout_failures > policy.attempts_per_minute

    @pytest.mark.parametrize(
        ("field", "low", "high"),
        [
            ("password_min_length", 8, 64),
            ("lockout_failures", 0, 1000),
            ("lockout_seconds", 1, 86_400),
            ("attempts_per_minute", 0, 1000),
        ],
    )
    def test_bounds(self, field, low, high):
        assert LoginPolicy.LIMITS[field] == (low, high)
        for value in (low, high):
            assert getattr(LoginPolicy(**{field: value}), field) == value
        for value in (low - 1, high + 1):
            with pytest.raises(InvalidValue) as error:
                LoginPolicy(**{field: value})
            assert error.value.field == field
            assert error.value.message == f"must be between {low} and {high}, got {value}"

    def test_the_common_check_is_a_flag(self):
        with pytest.raises(InvalidValue) as error:
            LoginPolicy(password_common_check="0")  # type: ignore[arg-type]
        assert error.value.field == "password_common_check"
        assert error.value.message == "must be true or false, got '0'"
        assert LoginPolicy(password_common_check=False).password_common_check is False

    def test_trusted_proxies_are_addresses_and_networks(self):
        policy = LoginPolicy(trusted_proxies=" 10.0.0.5, 172.16.0.9/12 fd00::/8,,")
        assert policy.trusted_networks == (
            ip_network("10.0.0.5/32"),
            ip_network("172.16.0.0/12"),
            ip_network("fd00::/8"),
        )

    def test_a_bad_trusted_proxy_stops_the_hub_naming_it(self):
        with pytest.raises(InvalidValue) as error:
            LoginPolicy(trusted_proxies="10.0.0.5 proxy.example")
        assert error.value.field == "trusted_proxies"
        assert error.value.message == (
            "must be IP addresses or networks (10.0.0.5, 172.16.0.0/12), got 'proxy.example'"
        )

    def test_parse_networks_names_the_field_it_is_given(self):
        with pytest.raises(InvalidValue) as error:
            parse_networks("proxies", "300.1.1.1")
        assert error.value.field == "proxies"
        assert parse_networks("proxies", "") == ()


TRUSTED = parse_networks("t", "10.0.0.0/8, 2001:db8::/32")


class TestClientAddress:
    def test_a_peer_elsewhere_is_the_client_whatever_it_forwards(self):
        assert client_address("203.0.113.7", ["198.51.100.1"]) == "203.0.113.7"
        assert client_address("172.18.0.5", ["198.51.100.1"], local="172.18.0.2") == ("172.18.0.5")

    def test_the_hubs_own_proxy_on_loopback_says_who_the_client_is(self):
        assert client_address("127.0.0.1", ["203.0.113.7"]) == "203.0.113.7"
        assert client_address("::1", ["2001:db8:1::5"]) == "2001:db8:1::5"

    def test_the_proxy_at_the_hubs_own_address_is_believed_too(self):
        assert client_address("172.18.0.2", ["203.0.113.7"], local="172.18.0.2") == "203.0.113.7"

    def test_only_the_entry_the_proxy_wrote_counts_not_what_the_client_sent(self):
        assert client_address("127.0.0.1", ["198.51.100.1, 203.0.113.7"]) == "203.0.113.7"
        assert client_address("127.0.0.1", ["198.51.100.1", "203.0.113.7"]) == "203.0.113.7"
        assert client_address("127.0.0.1", ["198.51.100.1,203.0.113.7, "]) == "203.0.113.7"

    def test_without_forwarding_the_peer_is_the_client(self):
        assert client_address("127.0.0.1") == "127.0.0.1"
        assert client_address("127.0.0.1", ["", " "]) == "127.0.0.1"

    def test_trusted_proxies_are_skipped_from_the_right(self):
        hops = ["198.51.100.1, 203.0.113.7, 10.1.2.3, 10.0.0.1"]
        assert client_address("127.0.0.1", hops, trusted=TRUSTED) == "203.0.113.7"
        assert client_address("127.0.0.1", hops) == "10.0.0.1"  # nobody trusted: the last hop

    def test_a_trusted_peer_is_believed_even_from_afar(self):
        assert client_address("10.9.9.9", ["203.0.113.7"], trusted=TRUSTED) == "203.0.113.7"
        assert client_address("10.9.9.9", ["203.0.113.7"]) == "10.9.9.9"

    def test_when_every_hop_is_trusted_the_farthest_one_is_the_client(self):
        assert client_address("127.0.0.1", ["10.0.0.7, 10.0.0.5"], trusted=TRUSTED) == "10.0.0.7"

    def test_an_entry_that_is_no_address_ends_the_walk_at_the_last_good_one(self):
        assert client_address("127.0.0.1", ["junk, 10.0.0.5"], trusted=TRUSTED) == "10.0.0.5"
        assert client_address("127.0.0.1", ["203.0.113.7, junk"]) == "127.0.0.1"

    def test_ipv4_written_as_ipv6_is_ipv4(self):
        assert client_address("::ffff:127.0.0.1", ["::ffff:203.0.113.7"]) == "203.0.113.7"
        assert client_address("::ffff:127.0.0.1", ["junk"]) == "127.0.0.1"
        assert client_address("::ffff:203.0.113.9", ["198.51.100.1"]) == "203.0.113.9"
        assert client_address("[::1]", ["[2001:db8::1]"]) == "2001:db8::1"

    def test_a_network_of_the_other_ip_version_trusts_nobody(self):
        everything_v6 = parse_networks("t", "::/0")
        assert client_address("203.0.113.9", ["198.51.100.1"], trusted=everything_v6) == (
            "203.0.113.9"
        )
        everything_v4 = parse_networks("t", "0.0.0.0/0")
        assert client_address("2001:db8::9", ["198.51.100.1"], trusted=everything_v4) == (
            "2001:db8::9"
        )

    def test_a_socket_without_an_ip_address_is_on_this_machine(self):
        assert client_address("", ["203.0.113.7"]) == "203.0.113.7"
        assert client_address("", []) == ""
        assert client_address("", ["junk"]) == ""

    def test_a_local_address_that_is_none_or_no_ip_matches_nothing(self):
        assert client_address("172.18.0.2", ["203.0.113.7"], local=None) == "172.18.0.2"
        assert client_address("172.18.0.2", ["203.0.113.7"], local="hub") == "172.18.0.2"


class TestLimitKey:
    def test_ipv4_counts_by_address_ipv6_by_its_64(self):
        assert limit_key("203.0.113.7") == "203.0.113.7"
        assert IPV6_CLIENT_PREFIX == 64
        assert limit_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
        assert limit_key("::ffff:203.0.113.7") == "203.0.113.7"
        assert limit_key("") == ""
        assert limit_key("unix-socket") == "unix-socket"


class TestAttemptLimiter:
    def test_an_address_gets_its_attempts_then_waits_for_the_oldest_to_leave_the_window(self):
        limiter = AttemptLimiter(3)
        assert [limiter.admit("203.0.113.7", at(i)).allowed for i in range(3)] == [True] * 3
        refused = limiter.admit("203.0.113.7", at(10))
        assert refused == Admission("203.0.113.7", at(10), allowed=False, retry_after_seconds=50)
        assert refused.message == "Too many attempts from your address. Try again in 50 seconds."
        assert not limiter.admit("203.0.113.7", at(59.999)).allowed
        assert limiter.admit("203.0.113.7", at(59.999)).retry_after_seconds == 1
        assert limiter.admit("203.0.113.7", at(60)).allowed  # the first has left the window
        assert not limiter.admit("203.0.113.7", at(60.5)).allowed  # at(1) has not
        assert limiter.admit("203.0.113.7", at(61)).allowed

    def test_a_burst_at_one_instant_gets_exactly_the_limit(self):
        limiter = AttemptLimiter(10)
        answers = [limiter.admit("203.0.113.7", T0) for _ in range(50)]
        assert sum(answer.allowed for answer in answers) == 10
        assert {a.retry_after_seconds for a in answers if not a.allowed} == {60}
        assert {a.retry_after_seconds for a in answers if a.allowed} == {0}

    def test_addresses_do_not_share_a_budget_but_a_64_does(self):
        limiter = AttemptLimiter(1)
        assert limiter.admit("203.0.113.7", T0).allowed
        assert limiter.admit("203.0.113.8", T0).allowed
        assert limiter.admit("2001:db8:1:2::1", T0).allowed
        assert not limiter.admit("2001:db8:1:2:ffff::9", T0).allowed  # the same /64
        assert limiter.admit("2001:db8:1:3::1", T0).allowed

    def test_a_refund_gives_the_attempt_back(self):
        limiter = AttemptLimiter(2)
        first = limiter.admit("203.0.113.7", at(0))
        limiter.admit("203.0.113.7", at(1))
        assert not limiter.admit("203.0.113.7", at(2)).allowed
        limiter.refund(first)
        assert limiter.admit("203.0.113.7", at(3)).allowed
        # The one refunded left, the other still counts until at(61).
        assert not limiter.admit("203.0.113.7", at(4)).allowed
        assert limiter.admit("203.0.113.7", at(4)).retry_after_seconds == 57

    def test_a_refused_or_forgotten_attempt_is_no_refund(self):
        limiter = AttemptLimiter(1)
        limiter.admit("203.0.113.7", at(0))
        refused = limiter.admit("203.0.113.7", at(1))
        limiter.refund(refused)
        assert not limiter.admit("203.0.113.7", at(2)).allowed
        limiter.refund(Admission("198.51.100.1", at(0), allowed=True))  # never seen: nothing
        assert len(limiter) == 1
        stale = Admission("203.0.113.7", at(30), allowed=True)  # not among its attempts
        limiter.refund(stale)
        assert not limiter.admit("203.0.113.7", at(3)).allowed

    def test_refunding_an_addresss_last_attempt_forgets_the_address(self):
        limiter = AttemptLimiter(5)
        only = limiter.admit("203.0.113.7", T0)
        assert len(limiter) == 1
        limiter.refund(only)
        assert len(limiter) == 0
        limiter.refund(only)  # twice: nothing to do
        assert len(limiter) == 0

    def test_without_a_limit_everything_passes_and_nothing_is_remembered(self):
        limiter = AttemptLimiter(0)
        answers = [limiter.admit(f"203.0.113.{i % 3}", T0) for i in range(100)]
        assert all(answer.allowed for answer in answers)
        assert answers[0] == Admission("203.0.113.0", T0, allowed=True)
        assert len(limiter) == 0

    def test_memory_is_bounded_the_longest_quiet_address_goes_first(self):
        assert MAX_ADDRESSES == 10_000
        limiter = AttemptLimiter(1, max_addresses=3)
        for index in range(3):
            limiter.admit(f"203.0.113.{index}", T0)
        limiter.admit("203.0.113.0", at(1))  # refused, but tried again: it is not quiet
        limiter.admit("198.51.100.9", at(2))  # a fourth: 203.0.113.1 is forgotten
        assert len(limiter) == 3
        assert limiter.admit("203.0.113.1", at(3)).allowed  # forgotten, so a fresh budget
        assert len(limiter) == 3
        assert not limiter.admit("203.0.113.0", at(4)).allowed  # still remembered
        assert not limiter.admit("198.51.100.9", at(4)).allowed

    def test_the_limit_and_the_memory_are_whole_numbers(self):
        with pytest.raises(InvalidValue) as error:
            AttemptLimiter(-1)
        assert error.value.field == "per_minute"
        with pytest.raises(InvalidValue) as error:
            AttemptLimiter(1, max_addresses=0)
        assert error.value.field == "max_addresses"
        assert AttemptLimiter(1, max_addresses=1).max_addresses == 1
        assert AttemptLimiter(7).per_minute == 7

    def test_one_second_is_said_so(self):
        limiter = AttemptLimiter(1)
        limiter.admit("203.0.113.7", at(0))
        refused = limiter.admit("203.0.113.7", at(59.5))
        assert refused.message == "Too many attempts from your address. Try again in 1 second."


@given(
    limit=st.integers(1, 5),
    gaps=st.lists(st.floats(0, 40, allow_nan=False), min_size=1, max_size=40),
)
def test_no_window_ever_holds_more_than_the_limit(limit, gaps):
    limiter = AttemptLimiter(limit)
    allowed: list[datetime] = []
    now = T0
    for gap in gaps:
        now += timedelta(seconds=gap)
        answer = limiter.admit("203.0.113.7", now)
        recent = [t for t in allowed if t > now - WINDOW]
        assert answer.allowed == (len(recent) < limit)  # the definition of the window
        if answer.allowed:
            allowed.append(now)
        else:
            assert now + timedelta(seconds=answer.retry_after_seconds) >= recent[0] + WINDOW
