"""How sign-up and login resist guessing and floods: the password and lockout policy, which
address an attempt comes from, and how many attempts one address may make.

- Passwords people choose have at least `password_min_length` characters (8 by default, the
  least NIST SP 800-63B allows for a chosen secret) and, with `password_common_check`, are not
  on NativeAuthenticator's list of the 10,000 most common ones.
- A name whose password was wrong `lockout_failures` times is locked for `lockout_seconds`
  (NativeAuthenticator's lockout; 0 failures: never). Anyone can lock any name out this way,
  the admin's too, so the lockout is short: it only slows guessing spread over many addresses
  to one guess per name per lockout.
- One address may make `attempts_per_minute` attempts in any minute, a sliding window
  (`AttemptLimiter`): every sign-up counts, a login counts unless it succeeds. This is what
  stops a flood from one place without shutting anyone else out. A login in flight counts
  until it has failed or succeeded, so a burst sent at once is limited like one sent in a row.
- The address is the one the hub's own proxy saw (`client_address`): forwarding headers that a
  client writes itself are never believed, only those that proxies in front of the hub added.
- The limiter remembers at most `MAX_ADDRESSES` addresses (the longest quiet one goes first), so
  an attacker who keeps changing address cannot grow it without limit; IPv6 addresses count by
  their /64 network, which one subscriber usually holds whole.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from types import MappingProxyType
from typing import ClassVar, TypeAlias

from .errors import InvalidValue
from .validation import Bounds, check_bounds, whole_number

#: The window of `attempts_per_minute`.
WINDOW = timedelta(minutes=1)
#: The most addresses the limiter keeps attempts for.
MAX_ADDRESSES = 10_000
#: How many leading bits of an IPv6 address one client is taken to hold.
IPV6_CLIENT_PREFIX = 64

Address: TypeAlias = IPv4Address | IPv6Address
Network: TypeAlias = IPv4Network | IPv6Network


def parse_networks(field: str, text: str) -> tuple[Network, ...]:
    """Addresses and networks ("10.0.0.5, 172.16.0.0/12 fd00::/8"), separated by commas or
    spaces; an empty text is none."""
    networks = []
    for item in text.replace(",", " ").split():
        try:
            networks.append(ip_network(item, strict=False))
        except ValueError:
            raise InvalidValue(
                field, f"must be IP addresses or networks (10.0.0.5, 172.16.0.0/12), got {item!r}"
            ) from None
    return tuple(networks)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginPolicy:
    """Passwords people choose, the lockout of a name, and the attempts one address may make
    (see the module rule). `trusted_proxies`: the reverse proxies in front of the hub's own
    proxy, whose X-Forwarded-For entries are believed."""

    LIMITS: ClassVar[Mapping[str, Bounds]] = MappingProxyType(
        {
            "password_min_length": (8, 64),
            "lockout_failures": (0, 1000),
            "lockout_seconds": (1, 86_400),
            "attempts_per_minute": (0, 1000),
        }
    )

    password_min_length: int = 8
    password_common_check: bool = True
    #: Failed logins of one name before it is locked; 0: never locked. More than one address
    #: may make in a minute, so one stranger's burst never locks anyone out.
    lockout_failures: int = 20
    #: How long a locked name stays locked: short, since anyone can lock any name.
    lockout_seconds: int = 60
    #: Attempts one address may make in any minute; 0: no limit.
    attempts_per_minute: int = 10
    trusted_proxies: str = ""

    def __post_init__(self) -> None:
        check_bounds(self, self.LIMITS)
        if not isinstance(self.password_common_check, bool):  # "0" would be truthy: checked
            raise InvalidValue(
                "password_common_check",
                f"must be true or false, got {self.password_common_check!r}",
            )
        self.trusted_networks  # noqa: B018  (a bad address stops the hub at start)

    @property
    def trusted_networks(self) -> tuple[Network, ...]:
        return parse_networks("trusted_proxies", self.trusted_proxies)


def _address(text: str) -> Address | None:
    """`text` as an IP address (an IPv4 address written as IPv6, ::ffff:a.b.c.d, as IPv4), or
    None when it is none."""
    try:
        address = ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == network.version and address in network for network in trusted)


def client_address(
    peer: str,
    forwarded_for: Sequence[str] = (),
    *,
    local: str | None = None,
    trusted: Sequence[Network] = (),
) -> str:
    """The address an attempt comes from.

    `peer` is the address of the connection the hub received, `local` the hub's own end of it,
    `forwarded_for` the X-Forwarded-For headers in the order they came, and `trusted` the
    reverse proxies in front of the hub's proxy.

    The hub's own proxy (configurable-http-proxy) connects from this machine: loopback, the
    hub's own address, or a socket that has no IP address. Only from such a peer, or from a
    trusted proxy, is X-Forwarded-For believed, and only from its right end, which the nearest
    proxy wrote: the client is the rightmost entry that is not a trusted proxy. Entries to the
    left of it are whatever the client sent, and X-Real-IP, which configurable-http-proxy
    passes on untouched, is never read. An entry that is no IP address ends the walk at the
    last good one.
    """
    peer_address = _address(peer)
    if peer_address is not None:
        mine = _address(local or "")
        from_a_proxy = (
            peer_address.is_loopback or peer_address == mine or _trusted(peer_address, trusted)
        )
        if not from_a_proxy:
            return str(peer_address)
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    client = str(peer_address) if peer_address is not None else peer
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        client = str(address)
        if not _trusted(address, trusted):
            break
    return client


def limit_key(address: str) -> str:
    """What the limiter counts attempts by: the IPv4 address, or the /64 of an IPv6 one
    (anything else, such as an empty peer of a Unix socket, as it is)."""
    parsed = _address(address)
    if parsed is None:
        return address
    if isinstance(parsed, IPv6Address):
        return str(ip_network(f"{parsed}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(parsed)


@dataclass(frozen=True, slots=True)
class Admission:
    """The limiter's answer to one attempt; an allowed one is counted from `at` on."""

    key: str
    at: datetime
    allowed: bool
    #: Whole seconds until the address may try again (0 when allowed).
    retry_after_seconds: int = 0

    @property
    def message(self) -> str:
        """What a refused visitor reads."""
        return (
            "Too many attempts from your address. Try again in "
            f"{self.retry_after_seconds} second{'s' if self.retry_after_seconds != 1 else ''}."
        )


class AttemptLimiter:
    """At most `per_minute` attempts per address in any WINDOW (0: no limit), remembering at
    most `max_addresses` addresses (see the module rule). `now` is passed in."""

    def __init__(self, per_minute: int, *, max_addresses: int = MAX_ADDRESSES) -> None:
        self.per_minute = whole_number("per_minute", per_minute, 0)
        self.max_addresses = whole_number("max_addresses", max_addresses, 1)
        # key -> the times of its counted attempts, oldest first; the least recently tried key
        # first.
        self._attempts: OrderedDict[str, deque[datetime]] = OrderedDict()

    def __len__(self) -> int:
        """How many addresses are remembered."""
        return len(self._attempts)

    def admit(self, address: str, now: datetime) -> Admission:
        """Count an attempt from `address` at `now` if the address has room for it."""
        key = limit_key(address)
        if self.per_minute == 0:
            return Admission(key, now, allowed=True)
        times = self._attempts.get(key)
        if times is None:
            times = self._attempts[key] = deque()
            while len(self._attempts) > self.max_addresses:
                self._attempts.popitem(last=False)
        else:
            self._attempts.move_to_end(key)
        while times and times[0] <= now - WINDOW:
            times.popleft()
        if len(times) >= self.per_minute:
            wait = (times[0] + WINDOW - now).total_seconds()
            return Admission(key, now, allowed=False, retry_after_seconds=max(1, math.ceil(wait)))
        times.append(now)
        return Admission(key, now, allowed=True)

    def refund(self, admission: Admission) -> None:
        """Stop counting an allowed attempt (a login that succeeded)."""
        times = self._attempts.get(admission.key)
        if not admission.allowed or times is None:
            return
        if admission.at in times:
            times.remove(admission.at)
        if not times:
            del self._attempts[admission.key]
