"""Kubernetes resource quantities ("250m", "1.5Gi", "12345678n", "129e6") read into numbers.

The API writes every CPU and memory figure as a quantity: a decimal number, then a binary
suffix (Ki, Mi, Gi, Ti, Pi, Ei: powers of 1024), a decimal one (n, u, m, none, k, M, G, T, P,
E: powers of 1000; metrics-server writes CPU in nanocores, "n") or a decimal exponent ("e3",
"E-2"). A bare "E" is exa, never an exponent: "1E" is 10^18, "1E3" is 1000. Values are read
exactly (`Decimal`), so "0.1" cores times 100 is 10 and not 10.000000000000002; byte counts
round up to a whole byte, as the API itself does when it asks for a quantity's integer value.
"""

from __future__ import annotations

import math
import re
from decimal import Context, Decimal, InvalidOperation

from stellars.domain.errors import InvalidValue

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?:(?P<exponent>[eE][+-]?\d+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?))$"
)
#: Exponents past this are no figure a cluster reports (and would make Decimal work hard).
_MAX_EXPONENT = 30
#: The most digits a quantity's number may have (a cluster writes at most 19: an int64).
_MAX_DIGITS = 40
#: Room for every digit of the largest number times the largest suffix (1024^6, 19 digits):
#: the arithmetic is exact, never rounded to Decimal's default 28 digits.
_EXACT = Context(prec=_MAX_DIGITS + 20)


def parse_quantity(text: object) -> Decimal:
    """The exact value of a quantity. Raises InvalidValue("quantity") for anything else."""
    if not isinstance(text, str):
        raise InvalidValue("quantity", f"must be text such as '250m' or '1Gi', got {text!r}")
    match = _QUANTITY.match(text.strip())
    if match is None:
        raise InvalidValue("quantity", f"{text!r} is not a Kubernetes quantity")
    if sum(char.isdigit() for char in match["number"]) > _MAX_DIGITS:
        raise InvalidValue("quantity", f"{text[:50]!r} has more than {_MAX_DIGITS} digits")
    try:
        number = Decimal(match["number"])
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimal numbers
        raise InvalidValue("quantity", f"{text!r} is not a Kubernetes quantity") from None
    if match["exponent"] is not None:
        power = int(match["exponent"][1:])
        if abs(power) > _MAX_EXPONENT:
            raise InvalidValue("quantity", f"{text!r} has an exponent out of range")
        return number.scaleb(power, _EXACT)
    suffix = match["suffix"]
    if suffix in _BINARY:
        return _EXACT.multiply(number, Decimal(1024 ** _BINARY[suffix]))
    return number.scaleb(_DECIMAL[suffix], _EXACT)


def _not_negative(text: object) -> Decimal:
    value = parse_quantity(text)
    if value < 0:
        raise InvalidValue("quantity", f"must not be negative, got {text!r}")
    return value


def cpu_cores(text: object) -> float:
    """A CPU quantity in cores ("250m" is 0.25, "12345678n" is 0.012345678)."""
    return float(_not_negative(text))


def cpu_percent(text: object) -> float:
    """A CPU quantity as the dashboard shows CPU: percent of one core, one decimal ("1500m"
    is 150.0), as `docker stats` counts it."""
    return round(float(_not_negative(text) * 100), 1)


def byte_count(text: object) -> int:
    """A memory or storage quantity in whole bytes, rounded up ("1Ki" is 1024, "1.5" is 2)."""
    return math.ceil(_not_negative(text))
