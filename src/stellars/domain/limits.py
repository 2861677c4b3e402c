"""Lab limits: the memory, CPU and process limits every lab runs under, and how the platform
chooses them where the deployer did not.

Each limit is the deployer's setting when there is one, where 0 means "no limit" (and only
there: a limit the platform chooses is never "none"). An unset limit is derived at hub start
from the Docker engine's host (`docker info`: its cores and its memory), by these rules:

- **Memory**: three quarters of the host's memory, and never more than the host's memory less
  1 GiB, which stays for the hub, the engine and the system; rounded down to a whole 256 MiB,
  and at least 256 MiB. Swap is off (the spawner sets memory+swap to the same limit), so the
  limit is all the memory a lab gets. A lab that allocates past it has a process killed by the
  kernel's OOM killer inside its own container; the hub and the other labs keep theirs.
- **CPU**: the host's cores less one, left for the hub and the engine; at least one. A lab
  busy on every core gets this many cores' worth of time, not the machine.
- **Processes** (tasks: every thread counts): 2048 on a host of up to 32 cores, cores² + 1024
  above. JupyterLab with three kernels runs about 50 tasks (measured on the lab image: the
  server and three idle kernels 46, a pool of 16 idle workers 20 more); a pool of one worker
  per core, each with a BLAS thread per core (numpy sees every core, whatever the CPU limit),
  needs cores² more. Any of these stops a fork bomb long before the host's own limit (millions
  of tasks) while its memory limit holds the rest.

When the engine did not answer at start (a deployer who chose to start anyway), the host is
unknown and the limits are the fallback: 2 GiB, one core and 2048 processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import ClassVar

from .errors import InvalidValue
from .policies import GIB, MIB, GroupPolicy
from .validation import echo

#: What the host keeps for the hub, the engine and the system, at least.
HOST_RESERVE = GIB
#: Memory limits the platform derives are whole multiples of this, and at least this.
MEMORY_STEP = 256 * MIB
#: The process limit on hosts of up to `PIDS_SQUARE_FROM` cores.
BASE_PIDS_LIMIT = 2048
#: Above this many cores the process limit grows with the square of the cores.
PIDS_SQUARE_FROM = 32
#: Tasks kept for JupyterLab and its kernels beside a pool's cores² threads.
PIDS_FOR_THE_LAB = 1024
#: The limits when the host is unknown.
FALLBACK_MEMORY_LIMIT = 2 * GIB
FALLBACK_CPU_LIMIT = 1.0
FALLBACK_PIDS_LIMIT = BASE_PIDS_LIMIT

_UNITS = (("TiB", 1024 * GIB), ("GiB", GIB), ("MiB", MIB), ("KiB", 1024))


def describe_bytes(size: int) -> str:
    """A size as people read it, in the largest binary unit it fills, with at most two decimals
    and none that are zero: "4 GiB", "5.75 GiB", "512 MiB", "900 bytes"."""
    for unit, scale in _UNITS:
        if size >= scale:
            return f"{round(size / scale, 2):.15g} {unit}"
    return f"{size} bytes"


def describe_cores(cores: float) -> str:
    """A CPU limit as people read it: "1 core", "1.5 cores", "15 cores"."""
    number = f"{round(cores, 3):.15g}"
    return f"{number} core" if number == "1" else f"{number} cores"


@dataclass(frozen=True, slots=True)
class HostResources:
    """The Docker engine's host as `docker info` reports it: its cores and memory in bytes."""

    cpus: int
    memory_bytes: int

    def __post_init__(self) -> None:
        for name in ("cpus", "memory_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidValue(name, f"must be a positive whole number, got {echo(value)}")

    @property
    def description(self) -> str:
        """ "2 cores, 7.5 GiB" """
        return f"{describe_cores(self.cpus)}, {describe_bytes(self.memory_bytes)}"


def derived_memory_limit(host: HostResources) -> int:
    """Three quarters of the host's memory, at most all of it but `HOST_RESERVE`, rounded down
    to a whole `MEMORY_STEP`, at least one step."""
    share = min(host.memory_bytes * 3 // 4, host.memory_bytes - HOST_RESERVE)
    return max(MEMORY_STEP, share // MEMORY_STEP * MEMORY_STEP)


def derived_cpu_limit(host: HostResources) -> float:
    """The host's cores less one, at least one."""
    return float(max(1, host.cpus - 1))


def derived_pids_limit(host: HostResources) -> int:
    """`BASE_PIDS_LIMIT` up to `PIDS_SQUARE_FROM` cores, cores² + `PIDS_FOR_THE_LAB` above."""
    return max(BASE_PIDS_LIMIT, host.cpus * host.cpus + PIDS_FOR_THE_LAB)


@dataclass(frozen=True, slots=True, kw_only=True)
class LabLimits:
    """The limits one lab runs under; None is no limit. The names are those of the group
    policies' (`policies.PlatformDefaults`), whose defaults these are."""

    cpu_limit: float | None = None
    memory_limit: int | None = None
    pids_limit: int | None = None


class LimitOrigin(str, Enum):
    """Where a limit in effect came from."""

    SET = "set"  # the deployer's setting (0 there: no limit)
    HOST = "host"  # derived from the engine's host at start
    FALLBACK = "fallback"  # the host was unknown at start


#: The three limits, as `LabLimits` and the settings name them, with the words people read.
LIMIT_NAMES: Mapping[str, str] = MappingProxyType(
    {"memory_limit": "memory", "cpu_limit": "CPU", "pids_limit": "process"}
)


def describe_limit(name: str, value: float | None) -> str:
    """One limit's value as people read it ("no limit" for None)."""
    if value is None:
        return "no limit"
    if name == "memory_limit":
        return describe_bytes(int(value))
    if name == "cpu_limit":
        return describe_cores(value)
    return f"{int(value)} processes"


@dataclass(frozen=True, slots=True)
class ResolvedLimits:
    """The limits in effect, where each came from, and the host they were derived from."""

    limits: LabLimits
    origins: Mapping[str, LimitOrigin]
    host: HostResources | None = None

    def origin_text(self, name: str) -> str:
        """Why one limit is what it is, in words."""
        origin = self.origins[name]
        if origin is LimitOrigin.SET:
            return "set by the deployer"
        if origin is LimitOrigin.FALLBACK:
            return "the engine's host was unknown at start: the platform's fallback"
        assert self.host is not None
        if name == "memory_limit":
            rule = "three quarters, leaving at least 1 GiB to the hub, the engine and the system"
            return f"derived from the host's {describe_bytes(self.host.memory_bytes)}: {rule}"
        cores = describe_cores(self.host.cpus)
        if name == "cpu_limit":
            return f"derived from the host's {cores}: all but one, at least one"
        return (
            f"derived from the host's {cores}: {BASE_PIDS_LIMIT} up to "
            f"{PIDS_SQUARE_FROM} cores, cores² + {PIDS_FOR_THE_LAB} above"
        )

    def lines(self) -> tuple[tuple[str, str], ...]:
        """(what, value and why) for each limit: the hub's log and the settings page."""
        return tuple(
            (
                f"Lab {words} limit",
                f"{describe_limit(name, getattr(self.limits, name))} ({self.origin_text(name)})",
            )
            for name, words in LIMIT_NAMES.items()
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class LabLimitSettings:
    """The deployer's lab limits: None is unset (derived from the host at start), 0 is no
    limit; anything else within the bounds a group policy has too."""

    LIMITS: ClassVar[Mapping[str, tuple[int, int | None]]] = MappingProxyType(
        {
            "memory_limit": GroupPolicy.LIMITS["memory_limit"],
            "pids_limit": GroupPolicy.LIMITS["pids_limit"],
        }
    )
    MAX_CPU_LIMIT: ClassVar[float] = GroupPolicy.MAX_CPU_LIMIT
    #: The least CPU limit other than none: the engine refuses a CPU quota under 1 ms a period.
    MIN_CPU_LIMIT: ClassVar[float] = 0.01

    memory_limit: int | None = None
    cpu_limit: float | None = None
    pids_limit: int | None = None

    def __post_init__(self) -> None:
        for name, (low, high) in self.LIMITS.items():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidValue(name, f"must be a whole number, got {echo(value)}")
            if value != 0 and (value < low or (high is not None and value > high)):
                show = describe_bytes if name == "memory_limit" else str
                most = "" if high is None else f" and at most {show(high)}"
                raise InvalidValue(
                    name, f"must be 0 (no limit) or at least {show(low)}{most}, got {show(value)}"
                )
        cpu = self.cpu_limit
        if cpu is not None:
            if isinstance(cpu, bool) or not isinstance(cpu, (int, float)):
                raise InvalidValue("cpu_limit", f"must be a number of cores, got {echo(cpu)}")
            if cpu != 0 and not self.MIN_CPU_LIMIT <= cpu <= self.MAX_CPU_LIMIT:
                raise InvalidValue(
                    "cpu_limit",
                    f"must be 0 (no limit) or {self.MIN_CPU_LIMIT:g} to "
                    f"{self.MAX_CPU_LIMIT:g} cores, got {cpu:g}",
                )
            object.__setattr__(self, "cpu_limit", float(cpu))

    def resolve(self, host: HostResources | None) -> ResolvedLimits:
        """The limits in effect: the deployer's where set (0: None, no limit), else derived
        from `host`, else (host unknown) the fallback."""
        if host is None:
            derived: dict[str, float | None] = {
                "memory_limit": FALLBACK_MEMORY_LIMIT,
                "cpu_limit": FALLBACK_CPU_LIMIT,
                "pids_limit": FALLBACK_PIDS_LIMIT,
            }
        else:
            derived = {
                "memory_limit": derived_memory_limit(host),
                "cpu_limit": derived_cpu_limit(host),
                "pids_limit": derived_pids_limit(host),
            }
        unset = LimitOrigin.FALLBACK if host is None else LimitOrigin.HOST
        values: dict[str, float | None] = {}
        origins: dict[str, LimitOrigin] = {}
        for name in LIMIT_NAMES:
            setting = getattr(self, name)
            if setting is None:
                values[name], origins[name] = derived[name], unset
            else:
                values[name], origins[name] = (setting or None), LimitOrigin.SET
        memory, pids = values["memory_limit"], values["pids_limit"]
        limits = LabLimits(
            cpu_limit=values["cpu_limit"],
            memory_limit=None if memory is None else int(memory),
            pids_limit=None if pids is None else int(pids),
        )
        return ResolvedLimits(limits, MappingProxyType(origins), host)
