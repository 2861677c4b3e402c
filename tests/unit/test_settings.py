"""Tests for `stellars.domain.settings`: the aggregate of all policies."""

from __future__ import annotations

import dataclasses

import pytest

from stellars.domain.errors import InvalidValue
from stellars.domain.gpu import GpuMode
from stellars.domain.settings import (
    BroadcastPolicy,
    GpuSettings,
    OrphanVolumePolicy,
    PlatformSettings,
    StatsSettings,
)


def test_defaults_are_valid_and_frozen():
    settings = PlatformSettings()
    assert settings.activity.half_life_hours == 72
    assert settings.sessions.enabled is False
    assert settings.gpu.mode is GpuMode.AUTO
    assert settings.orphan_volumes is OrphanVolumePolicy.KEEP
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.admin_username = "root"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: BroadcastPolicy(concurrency=0), "concurrency"),
        (lambda: BroadcastPolicy(timeout_seconds=500), "timeout_seconds"),
        (lambda: GpuSettings(probe_timeout_seconds=0), "probe_timeout_seconds"),
        (lambda: StatsSettings(container_stats_seconds=1), "container_stats_seconds"),
        (lambda: StatsSettings(volume_sizes_seconds=5), "volume_sizes_seconds"),
        (lambda: PlatformSettings(admin_username=""), "admin_username"),
    ],
)
def test_invalid_values_name_their_field(build, field):
    with pytest.raises(InvalidValue) as error:
        build()
    assert error.value.field == field


def test_gpu_mode_must_be_parsed_first():
    with pytest.raises(TypeError):
        GpuSettings(mode=2)  # type: ignore[arg-type]
