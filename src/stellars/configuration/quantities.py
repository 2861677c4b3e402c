"""How the lab limits' variables are written: a memory size, a number of cores, a number of
processes. Each parser turns the deployer's text into the domain's unit (bytes, cores, a count)
or raises InvalidValue("value", ...) saying what it accepts; whether the value is in range is
the settings' rule (`stellars.domain.limits.LabLimitSettings`), where 0 means no limit.

Sizes use binary units, as Docker does (`docker run -m 4g` is 4 GiB): `4GiB`, `512MiB`, `1.5 GiB`,
Docker's `4g`, `512m`, or plain bytes. `GB` and `MB` are refused rather than guessed: people
write them for both 1000³ and 1024³.
"""

from __future__ import annotations

import math
import re

from stellars.domain.errors import InvalidValue
from stellars.domain.validation import echo

#: Bytes per unit, by the unit's name in lower case (binary, as Docker's k, m, g, t).
_BINARY_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "ki": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mi": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gi": 1024**3,
    "gib": 1024**3,
    "t": 1024**4,
    "ti": 1024**4,
    "tib": 1024**4,
}
_DECIMAL_UNITS = {"kb", "mb", "gb", "tb"}
_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]+)?) ?([A-Za-z]*)$")
_CORES = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")
_COUNT = re.compile(r"^[0-9]+$")

SIZE_EXAMPLES = "bytes, or with a binary unit: 512MiB, 4GiB, 1.5GiB (Docker's 4g too)"


def parse_memory_size(text: str) -> int:
    """A memory size in whole bytes: "4GiB", "512 MiB", "1.5GiB", "4g", "1073741824"."""
    match = _SIZE.match(text.strip())
    if match is None:
        raise InvalidValue("value", f"must be a size: {SIZE_EXAMPLES}; got {echo(text)}")
    number, unit = match.group(1), match.group(2).lower()
    if unit in _DECIMAL_UNITS:
        binary = unit[0].upper() + "iB"
        raise InvalidValue(
            "value",
            f"{echo(match.group(2))} may mean 1000 or 1024 to a power: write {binary} "
            f"(binary, as Docker counts), got {echo(text)}",
        )
    if unit not in _BINARY_UNITS:
        raise InvalidValue("value", f"has an unknown unit {echo(match.group(2))}: {SIZE_EXAMPLES}")
    size = float(number) * _BINARY_UNITS[unit]
    if not math.isfinite(size) or size >= 2**63:
        raise InvalidValue("value", f"is too large, got {echo(text)}")
    return int(size)


def parse_cores(text: str) -> float:
    """A number of CPU cores, whole or decimal: "2", "1.5", "0.25"."""
    value = text.strip()
    if not _CORES.match(value):
        raise InvalidValue("value", f"must be a number of cores such as 2 or 1.5, got {echo(text)}")
    return float(value)


def parse_count(text: str) -> int:
    """A whole number of processes: "2048"."""
    value = text.strip()
    if not _COUNT.match(value):
        raise InvalidValue("value", f"must be a whole number, got {echo(text)}")
    return int(value)
