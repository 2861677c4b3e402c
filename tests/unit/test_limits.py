"""Lab limits: the rules that derive a lab's memory, CPU and process limits from the engine's
host, the deployer's settings (0: no limit) winning over them, the fallback for an unknown
host, and the words the log and the settings page use."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stellars.domain.errors import InvalidValue
from stellars.domain.limits import (
    BASE_PIDS_LIMIT,
    FALLBACK_CPU_LIMIT,
    FALLBACK_MEMORY_LIMIT,
    FALLBACK_PIDS_LIMIT,
    HOST_RESERVE,
    MEMORY_STEP,
    PIDS_FOR_THE_LAB,
    PIDS_SQUARE_FROM,
    HostResources,
    LabLimits,
    LabLimitSettings,
    LimitOrigin,
    ResolvedLimits,
    derived_cpu_limit,
    derived_memory_limit,
    derived_pids_limit,
    describe_bytes,
    describe_cores,
    describe_limit,
)
from stellars.domain.policies import GIB, MIB, GroupPolicy, PlatformDefaults

KIB = 1024


def host(cpus: int = 8, memory: int = 32 * GIB) -> HostResources:
    return HostResources(cpus=cpus, memory_bytes=memory)


class TestWords:
    @pytest.mark.parametrize(
        ("size", "words"),
        [
            (0, "0 bytes"),
            (900, "900 bytes"),
            (KIB - 1, "1023 bytes"),
            (KIB, "1 KiB"),
            (1536, "1.5 KiB"),
            (MIB - 1, "1024 KiB"),  # 1023.999 KiB, to two decimals
            (512 * MIB, "512 MiB"),
            (GIB, "1 GiB"),
            (4 * GIB, "4 GiB"),
            (5 * GIB + 768 * MIB, "5.75 GiB"),
            (GIB + 10 * MIB, "1.01 GiB"),
            (GIB + MIB, "1 GiB"),  # 1.00098 GiB: zero decimals are dropped
            (1024 * GIB, "1 TiB"),
            (3 * 1024 * 1024 * GIB, "3072 TiB"),
            (2**62, "4194304 TiB"),
            (10 * GIB + 5 * MIB, "10 GiB"),  # 10.0049: rounded to two decimals
            (GIB // 3, "341.33 MiB"),
        ],
    )
    def test_sizes_read_in_the_largest_unit_they_fill(self, size, words):
        assert describe_bytes(size) == words

    @pytest.mark.parametrize(
        ("cores", "words"),
        [(1, "1 core"), (1.0, "1 core"), (2.0, "2 cores"), (1.5, "1.5 cores"),
         (0.25, "0.25 cores"), (15.0, "15 cores"), (0.125, "0.125 cores"), (10, "10 cores"),
         (1.0004, "1 core"), (2 / 3, "0.667 cores"), (1024.0, "1024 cores")],
    )  # fmt: skip
    def test_cores_read_as_a_number_of_cores(self, cores, words):
        assert describe_cores(cores) == words

    @pytest.mark.parametrize(
        ("name", "value", "words"),
        [
            ("memory_limit", 4 * GIB, "4 GiB"),
            ("cpu_limit", 1.0, "1 core"),
            ("pids_limit", 2048, "2048 processes"),
            ("memory_limit", None, "no limit"),
            ("cpu_limit", None, "no limit"),
            ("pids_limit", None, "no limit"),
        ],
    )
    def test_each_limit_reads_in_its_unit_and_none_as_no_limit(self, name, value, words):
        assert describe_limit(name, value) == words


class TestTheHost:
    def test_it_reads_as_cores_and_memory(self):
        assert host(2, 8 * GIB).description == "2 cores, 8 GiB"
        assert host(1, 512 * MIB).description == "1 core, 512 MiB"

    @pytest.mark.parametrize(
        ("field", "value"),
        [("cpus", 0), ("cpus", -2), ("cpus", True), ("cpus", 2.0), ("cpus", "4"),
         ("memory_bytes", 0), ("memory_bytes", False), ("memory_bytes", 1.5e9)],
    )  # fmt: skip
    def test_anything_but_a_positive_whole_number_is_refused_naming_the_field(self, field, value):
        fields = {"cpus": 2, "memory_bytes": GIB, field: value}
        with pytest.raises(InvalidValue) as refused:
            HostResources(**fields)
        assert refused.value.field == field
        assert refused.value.message == f"must be a positive whole number, got {value!r}"

    def test_one_core_and_one_byte_are_a_host(self):
        assert host(1, 1).cpus == 1


class TestDerivedMemory:
    @pytest.mark.parametrize(
        ("memory", "limit"),
        [
            (512 * MIB, 256 * MIB),  # less than the reserve: the least limit
            (GIB, 256 * MIB),  # nothing left beside the reserve: the least limit
            (GIB + 300 * MIB, 256 * MIB),  # 300 MiB left, rounded down to a step
            (2 * GIB, GIB),  # all but the reserve is less than three quarters
            (3 * GIB, 2 * GIB),  # the two rules meet: 3/4 of 3 GiB is 2.25 GiB
            (4 * GIB, 3 * GIB),  # three quarters from here on
            (8 * GIB, 6 * GIB),
            (7 * GIB + 700 * MIB, 5 * GIB + 768 * MIB),  # 5.77 GiB rounded down to 5.75
            (128 * GIB, 96 * GIB),
        ],
    )
    def test_three_quarters_leaving_the_reserve_in_whole_steps(self, memory, limit):
        got = derived_memory_limit(host(memory=memory))
        assert got == limit and isinstance(got, int)

    @given(st.integers(1, 2**44))
    def test_it_is_a_whole_step_at_least_one_leaving_the_reserve_and_a_quarter(self, memory):
        limit = derived_memory_limit(host(memory=memory))
        assert limit % MEMORY_STEP == 0
        assert limit >= MEMORY_STEP
        if limit > MEMORY_STEP:  # above the floor both rules hold, and one step more breaks one
            assert limit <= memory - HOST_RESERVE
            assert limit <= memory * 3 / 4
            step_more = limit + MEMORY_STEP
            assert step_more > memory - HOST_RESERVE or step_more > memory * 3 / 4

    def test_the_constants_are_the_documented_ones(self):
        assert (HOST_RESERVE, MEMORY_STEP) == (GIB, 256 * MIB)
        assert (BASE_PIDS_LIMIT, PIDS_SQUARE_FROM, PIDS_FOR_THE_LAB) == (2048, 32, 1024)
        assert (FALLBACK_MEMORY_LIMIT, FALLBACK_CPU_LIMIT, FALLBACK_PIDS_LIMIT) == (
            2 * GIB,
            1.0,
            2048,
        )


class TestDerivedCpuAndProcesses:
    @pytest.mark.parametrize(("cpus", "limit"), [(1, 1.0), (2, 1.0), (3, 2.0), (16, 15.0)])
    def test_cpu_is_every_core_but_one_and_at_least_one(self, cpus, limit):
        got = derived_cpu_limit(host(cpus=cpus))
        assert got == limit and isinstance(got, float)

    @pytest.mark.parametrize(
        ("cpus", "limit"),
        [(1, 2048), (16, 2048), (31, 2048), (32, 2048), (33, 33 * 33 + 1024), (64, 5120),
         (128, 128 * 128 + 1024)],
    )  # fmt: skip
    def test_processes_are_2048_up_to_32_cores_and_cores_squared_plus_1024_above(self, cpus, limit):
        assert derived_pids_limit(host(cpus=cpus)) == limit


class TestSettings:
    def test_by_default_every_limit_is_unset(self):
        assert LabLimitSettings() == LabLimitSettings(
            memory_limit=None, cpu_limit=None, pids_limit=None
        )

    def test_the_bounds_are_a_group_policys(self):
        limits = dict(LabLimitSettings.LIMITS)
        assert limits == {
            "memory_limit": GroupPolicy.LIMITS["memory_limit"],
            "pids_limit": GroupPolicy.LIMITS["pids_limit"],
        }
        assert LabLimitSettings.MAX_CPU_LIMIT == GroupPolicy.MAX_CPU_LIMIT
        assert LabLimitSettings.MIN_CPU_LIMIT == 0.01

    @pytest.mark.parametrize(
        "fields",
        [
            {"memory_limit": 0, "cpu_limit": 0, "pids_limit": 0},
            {"memory_limit": 64 * MIB, "cpu_limit": 0.01, "pids_limit": 64},
            {"memory_limit": 2**50, "cpu_limit": 1024, "pids_limit": 4_194_304},
        ],
    )
    def test_0_and_the_bounds_themselves_are_allowed(self, fields):
        settings = LabLimitSettings(**fields)
        assert isinstance(settings.cpu_limit, float)

    @pytest.mark.parametrize(
        ("fields", "field", "message"),
        [
            ({"memory_limit": 64 * MIB - 1}, "memory_limit",
             "must be 0 (no limit) or at least 64 MiB, got 64 MiB"),
            ({"memory_limit": 10 * MIB}, "memory_limit",
             "must be 0 (no limit) or at least 64 MiB, got 10 MiB"),
            ({"memory_limit": -1}, "memory_limit",
             "must be 0 (no limit) or at least 64 MiB, got -1 bytes"),
            ({"memory_limit": 1.5}, "memory_limit", "must be a whole number, got 1.5"),
            ({"memory_limit": True}, "memory_limit", "must be a whole number, got True"),
            ({"pids_limit": 63}, "pids_limit",
             "must be 0 (no limit) or at least 64 and at most 4194304, got 63"),
            ({"pids_limit": 4_194_305}, "pids_limit",
             "must be 0 (no limit) or at least 64 and at most 4194304, got 4194305"),
            ({"pids_limit": "2048"}, "pids_limit", "must be a whole number, got '2048'"),
            ({"cpu_limit": 0.009}, "cpu_limit",
             "must be 0 (no limit) or 0.01 to 1024 cores, got 0.009"),
            ({"cpu_limit": 1024.5}, "cpu_limit",
             "must be 0 (no limit) or 0.01 to 1024 cores, got 1024.5"),
            ({"cpu_limit": -1}, "cpu_limit", "must be 0 (no limit) or 0.01 to 1024 cores, got -1"),
            ({"cpu_limit": True}, "cpu_limit", "must be a number of cores, got True"),
            ({"cpu_limit": "2"}, "cpu_limit", "must be a number of cores, got '2'"),
        ],
    )  # fmt: skip
    def test_other_values_are_refused_naming_the_field(self, fields, field, message):
        with pytest.raises(InvalidValue) as refused:
            LabLimitSettings(**fields)
        assert (refused.value.field, refused.value.message) == (field, message)


class TestResolution:
    def test_unset_limits_are_derived_from_the_host(self):
        resolved = LabLimitSettings().resolve(host(cpus=4, memory=16 * GIB))
        assert resolved.limits == LabLimits(cpu_limit=3.0, memory_limit=12 * GIB, pids_limit=2048)
        assert set(resolved.origins.values()) == {LimitOrigin.HOST}
        assert resolved.host == host(cpus=4, memory=16 * GIB)

    def test_without_a_host_unset_limits_are_the_fallback(self):
        resolved = LabLimitSettings().resolve(None)
        assert resolved.limits == LabLimits(cpu_limit=1.0, memory_limit=2 * GIB, pids_limit=2048)
        assert set(resolved.origins.values()) == {LimitOrigin.FALLBACK}
        assert resolved.host is None

    def test_the_deployers_values_win_and_0_is_no_limit(self):
        settings = LabLimitSettings(memory_limit=4 * GIB, cpu_limit=0, pids_limit=512)
        for where in (host(), None):
            resolved = settings.resolve(where)
            assert resolved.limits == LabLimits(
                cpu_limit=None, memory_limit=4 * GIB, pids_limit=512
            )
            assert set(resolved.origins.values()) == {LimitOrigin.SET}

    def test_each_limit_is_decided_on_its_own(self):
        resolved = LabLimitSettings(memory_limit=0).resolve(host(cpus=2))
        assert resolved.limits == LabLimits(cpu_limit=1.0, memory_limit=None, pids_limit=2048)
        assert resolved.origins == {
            "memory_limit": LimitOrigin.SET,
            "cpu_limit": LimitOrigin.HOST,
            "pids_limit": LimitOrigin.HOST,
        }

    def test_the_platform_chooses_no_limit_only_when_the_deployer_says_so(self):
        for where in (host(1, 1), host(), None):
            limits = LabLimitSettings().resolve(where).limits
            assert None not in (limits.cpu_limit, limits.memory_limit, limits.pids_limit)

    def test_the_limits_are_the_group_policies_defaults_field_for_field(self):
        limits = LabLimitSettings(pids_limit=0).resolve(host()).limits
        defaults = PlatformDefaults(
            cpu_limit=limits.cpu_limit,
            memory_limit=limits.memory_limit,
            pids_limit=limits.pids_limit,
        )
        assert (defaults.cpu_limit, defaults.memory_limit, defaults.pids_limit) == (
            7.0,
            24 * GIB,
            None,
        )


class TestWhatTheLogAndTheSettingsPageSay:
    def test_derived_limits_say_the_host_and_the_rule(self):
        lines = LabLimitSettings().resolve(host(cpus=2, memory=8 * GIB)).lines()
        assert lines == (
            (
                "Lab memory limit",
                "6 GiB (derived from the host's 8 GiB: three quarters, leaving at least 1 GiB "
                "to the hub, the engine and the system)",
            ),
            (
                "Lab CPU limit",
                "1 core (derived from the host's 2 cores: all but one, at least one)",
            ),
            (
                "Lab process limit",
                "2048 processes (derived from the host's 2 cores: 2048 up to 32 cores, "
                "cores² + 1024 above)",
            ),
        )

    def test_set_limits_say_so_and_0_reads_no_limit(self):
        lines = dict(LabLimitSettings(memory_limit=0, cpu_limit=2.5).resolve(host()).lines())
        assert lines["Lab memory limit"] == "no limit (set by the deployer)"
        assert lines["Lab CPU limit"] == "2.5 cores (set by the deployer)"
        assert lines["Lab process limit"].startswith("2048 processes (derived from the host's")

    def test_a_host_of_one_core_reads_as_one_core(self):
        lines = dict(LabLimitSettings().resolve(host(cpus=1)).lines())
        assert lines["Lab CPU limit"] == (
            "1 core (derived from the host's 1 core: all but one, at least one)"
        )
        assert "derived from the host's 1 core: 2048 up to" in lines["Lab process limit"]

    def test_the_fallback_says_the_host_was_unknown(self):
        lines = dict(LabLimitSettings().resolve(None).lines())
        assert lines == {
            "Lab memory limit": "2 GiB (the engine's host was unknown at start: the platform's "
            "fallback)",
            "Lab CPU limit": "1 core (the engine's host was unknown at start: the platform's "
            "fallback)",
            "Lab process limit": "2048 processes (the engine's host was unknown at start: the "
            "platform's fallback)",
        }

    def test_a_resolution_is_a_plain_value(self):
        one = LabLimitSettings().resolve(host())
        assert one == LabLimitSettings().resolve(host())
        assert isinstance(one, ResolvedLimits)
