"""Container resource figures computed from raw engine readings, the way `docker stats` does."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerReading:
    """One raw reading of a container's counters (nanoseconds and bytes)."""

    cpu_total_ns: int
    system_cpu_ns: int
    online_cpus: int
    memory_usage_bytes: int
    memory_limit_bytes: int
    memory_inactive_file_bytes: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerUsage:
    """CPU share over an interval and memory in use (page cache not counted)."""

    cpu_percent: float
    memory_bytes: int
    memory_limit_bytes: int

    @property
    def memory_mib(self) -> float:
        return round(self.memory_bytes / MIB, 1)

    @property
    def memory_percent(self) -> float:
        if self.memory_limit_bytes <= 0:
            return 0.0
        return round(100.0 * self.memory_bytes / self.memory_limit_bytes, 1)


def cpu_percent(before: ContainerReading, after: ContainerReading) -> float:
    """CPU use between two readings, in percent of one CPU times the online CPUs.

    cpu% = (container delta / system delta) * online CPUs * 100; 0 when either delta is not
    positive (a restarted container resets its counters).
    """
    cpu_delta = after.cpu_total_ns - before.cpu_total_ns
    system_delta = after.system_cpu_ns - before.system_cpu_ns
    if cpu_delta <= 0 or system_delta <= 0:
        return 0.0
    cpus = after.online_cpus if after.online_cpus > 0 else 1
    return round(cpu_delta / system_delta * cpus * 100.0, 1)


def memory_in_use(reading: ContainerReading) -> int:
    """Usage minus inactive page cache, as `docker stats` reports it (never below zero)."""
    cache = reading.memory_inactive_file_bytes
    if 0 < cache < reading.memory_usage_bytes:
        return reading.memory_usage_bytes - cache
    return reading.memory_usage_bytes


def usage_between(before: ContainerReading, after: ContainerReading) -> ContainerUsage:
    """The figures the dashboard shows for a container, from two readings."""
    return ContainerUsage(
        cpu_percent=cpu_percent(before, after),
        memory_bytes=memory_in_use(after),
        memory_limit_bytes=after.memory_limit_bytes,
    )
