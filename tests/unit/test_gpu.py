"""Tests for `stellars.domain.gpu`: modes and the decision from a probe result."""

from __future__ import annotations

import pytest

from stellars.domain.errors import InvalidValue
from stellars.domain.gpu import Gpu, GpuMode, GpuProbeResult, decide_gpu

H100 = Gpu(0, "NVIDIA H100 80GB HBM3", 81559, "GPU-5a3c1f0e")
ALL_GPUS = {"Driver": "nvidia", "Count": -1, "Capabilities": [["gpu"]]}


class TestModeParsing:
    @pytest.mark.parametrize(("raw", "mode"), [(0, GpuMode.OFF), ("1", GpuMode.FORCED), (2, 2)])
    def test_valid_modes(self, raw, mode):
        assert GpuMode.parse(raw) is GpuMode(mode)

    @pytest.mark.parametrize("raw", [3, -1, "auto", "", None, True])
    def test_invalid_modes_name_the_field(self, raw):
        with pytest.raises(InvalidValue) as error:
            GpuMode.parse(raw, "JUPYTERHUB_GPU_ENABLED")
        assert error.value.field == "JUPYTERHUB_GPU_ENABLED"


class TestDecision:
    def test_off_means_no_gpus_whatever_the_probe_says(self):
        decision = decide_gpu(GpuMode.OFF, GpuProbeResult((H100,)))
        assert not decision.enabled
        assert decision.device_requests == ()
        assert decision.environment == {
            "ENABLE_GPU_SUPPORT": "0",
            "ENABLE_GPUSTAT": "0",
            "NVIDIA_DETECTED": "0",
        }

    def test_forced_gives_all_gpus_without_a_probe(self):
        decision = decide_gpu(GpuMode.FORCED, None)
        assert decision.enabled and not decision.detected
        assert decision.device_requests == (ALL_GPUS,)
        assert decision.environment["ENABLE_GPU_SUPPORT"] == "1"
        assert decision.environment["NVIDIA_DETECTED"] == "0"

    def test_auto_with_a_gpu_enables_and_says_what_it_found(self):
        decision = decide_gpu(GpuMode.AUTO, GpuProbeResult((H100,)))
        assert decision.enabled and decision.detected
        assert decision.device_requests == (ALL_GPUS,)
        assert "NVIDIA H100" in decision.reason
        assert decision.environment["NVIDIA_DETECTED"] == "1"

    def test_auto_without_a_gpu_stays_off_and_keeps_the_reason(self):
        decision = decide_gpu(GpuMode.AUTO, GpuProbeResult.none("nvidia-smi not found"))
        assert not decision.enabled
        assert decision.reason == "no GPU detected: nvidia-smi not found"

    def test_auto_before_the_probe_answered_is_off(self):
        decision = decide_gpu(GpuMode.AUTO, None)
        assert not decision.enabled
        assert "not finished" in decision.reason

    def test_each_decision_gets_its_own_request_dicts(self):
        first = decide_gpu(GpuMode.FORCED, None)
        first.device_requests[0]["Count"] = 1
        assert decide_gpu(GpuMode.FORCED, None).device_requests == (ALL_GPUS,)
