"""Tests for `stellars.domain.gpu`: modes and the decision from a probe result."""

from __future__ import annotations

import pytest

from stellars.domain.errors import InvalidValue
from stellars.domain.gpu import Gpu, GpuDecision, GpuMode, GpuProbeResult, decide_gpu

H100 = Gpu(0, "NVIDIA H100 80GB HBM3", 81559, "GPU-5a3c1f0e")
T4 = Gpu(1, "Tesla T4", 15360, "GPU-1")
OFF_ENV = {"ENABLE_GPU_SUPPORT": "0", "ENABLE_GPUSTAT": "0", "NVIDIA_DETECTED": "0"}
FORCED_ENV = {"ENABLE_GPU_SUPPORT": "1", "ENABLE_GPUSTAT": "1", "NVIDIA_DETECTED": "0"}
FOUND_ENV = {"ENABLE_GPU_SUPPORT": "1", "ENABLE_GPUSTAT": "1", "NVIDIA_DETECTED": "1"}


class TestModeParsing:
    @pytest.mark.parametrize(
        ("raw", "mode"),
        [
            (0, GpuMode.OFF),
            (1, GpuMode.FORCED),
            (2, GpuMode.AUTO),
            ("0", GpuMode.OFF),
            ("1", GpuMode.FORCED),
            ("2", GpuMode.AUTO),
            (" 2 ", GpuMode.AUTO),
            ("1\n", GpuMode.FORCED),
            (GpuMode.FORCED, GpuMode.FORCED),
        ],
    )
    def test_valid_modes(self, raw, mode):
        assert GpuMode.parse(raw) is mode

    def test_the_values(self):
        assert [(m.name, int(m)) for m in GpuMode] == [("OFF", 0), ("FORCED", 1), ("AUTO", 2)]

    @pytest.mark.parametrize(
        ("raw", "shown"),
        [
            (1.5, "1.5"),
            (0.9, "0.9"),
            (1.0, "1.0"),
            (True, "True"),
            (False, "False"),
            ("2.0", "'2.0'"),
            ("3", "'3'"),
            (3, "3"),
            (-1, "-1"),
            ("auto", "'auto'"),
            ("", "''"),
            ("\uff11", "'\uff11'"),  # a full-width digit one is not the decimal text of 1
            (None, "None"),
        ],
    )
    def test_anything_else_is_refused_naming_the_field(self, raw, shown):
        with pytest.raises(InvalidValue) as error:
            GpuMode.parse(raw, "JUPYTERHUB_GPU_ENABLED")
        assert str(error.value) == (
            f"JUPYTERHUB_GPU_ENABLED: must be 0 (off), 1 (forced) or 2 (auto), got {shown}"
        )

    def test_the_default_field_name(self):
        with pytest.raises(InvalidValue) as error:
            GpuMode.parse(7)
        assert error.value.field == "gpu_mode"


class TestProbeResult:
    def test_found_means_at_least_one_gpu(self):
        assert GpuProbeResult((H100,)).found is True
        assert GpuProbeResult().found is False
        assert GpuProbeResult.none("nvidia-smi not found") == GpuProbeResult(
            (), "nvidia-smi not found"
        )


class TestDecision:
    @pytest.mark.parametrize(
        "probe", [None, GpuProbeResult((H100,)), GpuProbeResult.none("no driver")]
    )
    def test_off_means_no_gpus_whatever_the_probe_says(self, probe):
        decision = decide_gpu(GpuMode.OFF, probe)
        assert decision == GpuDecision(False, False, "GPU support is off (mode 0)", ())
        assert decision.environment == OFF_ENV

    def test_forced_without_a_probe(self):
        decision = decide_gpu(GpuMode.FORCED, None)
        assert decision == GpuDecision(True, False, "GPU support is forced on (mode 1)", ())
        assert decision.environment == FORCED_ENV

    def test_forced_with_a_probe_that_found_gpus_says_so(self):
        decision = decide_gpu(GpuMode.FORCED, GpuProbeResult((H100, T4)))
        assert decision == GpuDecision(True, True, "GPU support is forced on (mode 1)", (H100, T4))
        assert decision.environment == FOUND_ENV

    def test_forced_with_a_probe_that_found_none(self):
        decision = decide_gpu(GpuMode.FORCED, GpuProbeResult.none("timeout"))
        assert decision == GpuDecision(True, False, "GPU support is forced on (mode 1)", ())
        assert decision.environment == FORCED_ENV

    def test_auto_with_gpus_enables_and_says_what_it_found(self):
        decision = decide_gpu(GpuMode.AUTO, GpuProbeResult((H100, T4)))
        assert decision == GpuDecision(
            True, True, "detected 2 GPU(s): NVIDIA H100 80GB HBM3, Tesla T4", (H100, T4)
        )
        assert decision.environment == FOUND_ENV

    def test_auto_without_a_gpu_stays_off_and_keeps_the_reason(self):
        decision = decide_gpu(GpuMode.AUTO, GpuProbeResult.none("nvidia-smi not found"))
        assert decision == GpuDecision(False, False, "no GPU detected: nvidia-smi not found", ())
        assert decision.environment == OFF_ENV

    def test_auto_before_the_probe_answered_is_off(self):
        decision = decide_gpu(GpuMode.AUTO, None)
        assert decision == GpuDecision(False, False, "GPU auto-detection has not finished yet")
        assert decision.environment == OFF_ENV

    def test_each_environment_is_a_fresh_dict(self):
        decision = decide_gpu(GpuMode.FORCED, None)
        decision.environment["ENABLE_GPU_SUPPORT"] = "0"
        assert decision.environment == FORCED_ENV

    def test_detected_without_enabled(self):
        # a decision may say GPUs exist but stay off (the environment tells the lab both)
        decision = GpuDecision(enabled=False, detected=True, reason="off")
        assert decision.environment == {
            "ENABLE_GPU_SUPPORT": "0",
            "ENABLE_GPUSTAT": "0",
            "NVIDIA_DETECTED": "1",
        }
