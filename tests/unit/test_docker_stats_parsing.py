"""The Docker adapters' pure translations of the engine's JSON: container stats (captured from
dockerd 20.10 on cgroup v1, and the cgroup v2 shape), the running-container listing and the
disk-usage answer. The adapters around them are tested against a real engine in
tests/integration/test_docker_adapters.py."""

from __future__ import annotations

import copy
from typing import Any

from stellars.adapters.docker import readings_from_stats, running_names, volumes_from_disk_usage
from stellars.domain.containers import ContainerReading, usage_between
from stellars.domain.volumes import VolumeInfo

# `GET /containers/{id}/stats?stream=false` of a busy container, dockerd 20.10, cgroup v1
# (blkio, network, pids and storage blocks left out).
CGROUP_V1_BUSY: dict[str, Any] = {
    "read": "2026-11-25T17:44:41.198530617Z",
    "preread": "2026-11-25T17:44:40.195007703Z",
    "num_procs": 0,
    "cpu_stats": {
        "cpu_usage": {
            "total_usage": 2030964457,
            "percpu_usage": [22794551, 2008169906],
            "usage_in_kernelmode": 10000000,
            "usage_in_usermode": 2010000000,
        },
        "system_cpu_usage": 3384580000000,
        "online_cpus": 2,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "precpu_stats": {
        "cpu_usage": {
            "total_usage": 1031185883,
            "percpu_usage": [22794551, 1008391332],
            "usage_in_kernelmode": 10000000,
            "usage_in_usermode": 1010000000,
        },
        "system_cpu_usage": 3382570000000,
        "online_cpus": 2,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "memory_stats": {
        "usage": 4014080,
        "max_usage": 4333568,
        "stats": {
            "active_anon": 4096,
            "active_file": 245760,
            "cache": 3248128,
            "inactive_file": 3002368,
            "rss": 61440,
            "total_active_file": 245760,
            "total_cache": 3248128,
            "total_inactive_anon": 57344,
            "total_inactive_file": 3002368,
            "total_rss": 61440,
        },
        "limit": 25276514304,
    },
    "name": "/serene_lewin",
    "id": "10ec7d94c026502894c89d1bee52b8b49757fc4a9f2b57954be219796d1dfe66",
}
# The same endpoint for a container that has stopped.
STOPPED: dict[str, Any] = {
    "read": "0001-01-01T00:00:00Z",
    "preread": "0001-01-01T00:00:00Z",
    "cpu_stats": {"cpu_usage": {"total_usage": 0}, "throttling_data": {}},
    "precpu_stats": {"cpu_usage": {"total_usage": 0}, "throttling_data": {}},
    "memory_stats": {},
}
# cgroup v2: no percpu_usage, no total_* memory counters (inactive_file is the cache).
CGROUP_V2: dict[str, Any] = {
    "cpu_stats": {
        "cpu_usage": {"total_usage": 2_500_000_000, "usage_in_usermode": 2_400_000_000},
        "system_cpu_usage": 100_004_000_000_000,
        "online_cpus": 4,
    },
    "precpu_stats": {
        "cpu_usage": {"total_usage": 1_500_000_000, "usage_in_usermode": 1_400_000_000},
        "system_cpu_usage": 100_000_000_000_000,
        "online_cpus": 4,
    },
    "memory_stats": {
        "usage": 52_428_800,
        "stats": {"anon": 20_971_520, "file": 31_457_280, "inactive_file": 10_485_760},
        "limit": 8_589_934_592,
    },
}


def test_cgroup_v1_answer_gives_two_readings_like_docker_stats():
    earlier, later = readings_from_stats(CGROUP_V1_BUSY)
    assert earlier == ContainerReading(
        cpu_total_ns=1031185883,
        system_cpu_ns=3382570000000,
        online_cpus=2,
        memory_usage_bytes=4014080,
        memory_limit_bytes=25276514304,
        memory_inactive_file_bytes=3002368,
    )
    assert later.cpu_total_ns == 2030964457
    usage = usage_between(earlier, later)
    # (2030964457 - 1031185883) / (3384580000000 - 3382570000000) * 2 CPUs * 100
    assert usage.cpu_percent == 99.5
    assert usage.memory_bytes == 4014080 - 3002368  # total_inactive_file is not in use
    assert usage.memory_limit_bytes == 25276514304


def test_cgroup_v2_answer_uses_inactive_file():
    earlier, later = readings_from_stats(CGROUP_V2)
    usage = usage_between(earlier, later)
    assert usage.cpu_percent == 100.0  # 1 s of CPU over 4 s of system time on 4 CPUs
    assert usage.memory_bytes == 52_428_800 - 10_485_760


def test_online_cpus_fall_back_to_the_per_cpu_list_then_one():
    old_engine = copy.deepcopy(CGROUP_V1_BUSY)
    del old_engine["cpu_stats"]["online_cpus"]
    assert readings_from_stats(old_engine)[1].online_cpus == 2
    bare = copy.deepcopy(CGROUP_V2)
    del bare["cpu_stats"]["online_cpus"]
    assert readings_from_stats(bare)[1].online_cpus == 1


def test_one_shot_answer_has_no_earlier_reading():
    one_shot = copy.deepcopy(CGROUP_V1_BUSY)
    one_shot["precpu_stats"] = {"cpu_usage": {"total_usage": 0}, "throttling_data": {}}
    earlier, later = readings_from_stats(one_shot)
    assert earlier is None
    assert later.system_cpu_ns == 3384580000000


def test_stopped_container_has_no_readings():
    assert readings_from_stats(STOPPED) is None
    assert readings_from_stats({}) is None


def test_running_names_keeps_own_names_not_link_aliases():
    listing = [
        {"Id": "aaa", "Names": ["/jupyter-alice"]},
        {"Id": "bbb", "Names": ["/jupyter-bob", "/jupyter-alice/bob-alias"]},
        {"Id": "ccc", "Names": None},
    ]
    assert running_names(listing) == {"jupyter-alice": "aaa", "jupyter-bob": "bbb"}


def test_disk_usage_sizes_minus_one_means_not_measured():
    payload = {
        "Volumes": [
            {"Name": "b", "UsageData": {"RefCount": 1, "Size": 4096}},
            {"Name": "a", "UsageData": {"RefCount": 0, "Size": -1}},
            {"Name": "c", "UsageData": None},
            {"Name": "d"},
            {"UsageData": {"Size": 1}},  # no name: not a volume we can address
        ]
    }
    assert volumes_from_disk_usage(payload) == [
        VolumeInfo("a", None),
        VolumeInfo("b", 4096),
        VolumeInfo("c", None),
        VolumeInfo("d", None),
    ]
    assert volumes_from_disk_usage({"Volumes": None}) == []
