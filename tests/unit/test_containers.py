"""Tests for `stellars.domain.containers`: CPU and memory figures as `docker stats` shows them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.containers import (
    MIB,
    ContainerReading,
    ContainerUsage,
    cpu_percent,
    memory_in_use,
    usage_between,
)


def reading(cpu=0, system=0, cpus=2, usage=0, limit=0, cache=0) -> ContainerReading:
    return ContainerReading(
        cpu_total_ns=cpu,
        system_cpu_ns=system,
        online_cpus=cpus,
        memory_usage_bytes=usage,
        memory_limit_bytes=limit,
        memory_inactive_file_bytes=cache,
    )


def test_cpu_percent_is_the_share_of_the_system_delta_times_cpus():
    before = reading(cpu=1_000, system=10_000)
    after = reading(cpu=3_000, system=14_000)  # 2000 of 4000 ns, on 2 CPUs
    assert cpu_percent(before, after) == 100.0


def test_cpu_percent_is_rounded_to_one_decimal():
    before = reading(cpu=0, system=0, cpus=1)
    assert cpu_percent(before, reading(cpu=1, system=3, cpus=1)) == 33.3
    assert cpu_percent(before, reading(cpu=2, system=3, cpus=1)) == 66.7
    assert cpu_percent(before, reading(cpu=1, system=8, cpus=3)) == 37.5


def test_the_smallest_deltas_count():
    # one nanosecond of CPU in one nanosecond of system time: one CPU fully busy
    assert cpu_percent(reading(cpus=1), reading(cpu=1, system=1, cpus=1)) == 100.0


def test_the_online_cpus_of_the_later_reading_count():
    assert cpu_percent(reading(cpus=8), reading(cpu=1, system=4, cpus=2)) == 50.0


def test_cpu_percent_is_zero_when_counters_did_not_advance():
    same = reading(cpu=5, system=5)
    assert cpu_percent(same, same) == 0.0
    assert cpu_percent(reading(cpu=9, system=5), reading(cpu=1, system=9)) == 0.0
    assert cpu_percent(reading(cpu=1, system=9), reading(cpu=5, system=5)) == 0.0
    assert cpu_percent(reading(cpu=1, system=5), reading(cpu=5, system=5)) == 0.0
    assert cpu_percent(reading(cpu=5, system=1), reading(cpu=5, system=5)) == 0.0


def test_missing_online_cpus_counts_as_one():
    assert cpu_percent(reading(cpus=0), reading(cpu=50, system=100, cpus=0)) == 50.0
    assert cpu_percent(reading(cpus=0), reading(cpu=50, system=100, cpus=-1)) == 50.0
    assert cpu_percent(reading(cpus=0), reading(cpu=50, system=100, cpus=1)) == 50.0


def test_memory_excludes_inactive_page_cache():
    assert memory_in_use(reading(usage=500, cache=200)) == 300
    assert memory_in_use(reading(usage=500, cache=499)) == 1
    assert memory_in_use(reading(usage=500, cache=1)) == 499
    assert memory_in_use(reading(usage=500, cache=500)) == 500
    assert memory_in_use(reading(usage=500, cache=600)) == 500
    assert memory_in_use(reading(usage=500, cache=0)) == 500
    assert memory_in_use(reading(usage=500, cache=-3)) == 500


def test_usage_between_rounds_for_display():
    usage = usage_between(
        reading(cpu=0, system=0),
        reading(cpu=1, system=3, cpus=1, usage=3 * MIB, limit=12 * MIB, cache=MIB),
    )
    assert usage == ContainerUsage(
        cpu_percent=33.3, memory_bytes=2 * MIB, memory_limit_bytes=12 * MIB
    )
    assert (usage.memory_mib, usage.memory_percent) == (2.0, 16.7)


def test_memory_figures():
    assert MIB == 1_048_576
    usage = ContainerUsage(cpu_percent=0, memory_bytes=1_234_567, memory_limit_bytes=8_000_000)
    assert usage.memory_mib == 1.2
    assert usage.memory_percent == 15.4
    assert ContainerUsage(cpu_percent=0, memory_bytes=5, memory_limit_bytes=0).memory_percent == 0
    assert ContainerUsage(cpu_percent=0, memory_bytes=5, memory_limit_bytes=-1).memory_percent == 0


@given(
    st.integers(0, 10**12),
    st.integers(0, 10**12),
    st.integers(0, 10**12),
    st.integers(1, 10**12),
    st.integers(1, 256),
)
def test_cpu_percent_never_exceeds_all_cpus_busy(cpu0, system0, cpu_delta, system_delta, cpus):
    cpu_delta = min(cpu_delta, system_delta)  # a container cannot use more than the host
    before = reading(cpu=cpu0, system=system0, cpus=cpus)
    after = reading(cpu=cpu0 + cpu_delta, system=system0 + system_delta, cpus=cpus)
    assert 0.0 <= cpu_percent(before, after) <= 100.0 * cpus
