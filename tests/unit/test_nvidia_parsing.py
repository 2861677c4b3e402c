"""The nvidia-smi CSV parsers (the inventory and the GPUs' use) on captured output: records,
headers, [N/A], blanks, garbage."""

from __future__ import annotations

import pytest

from stellars.adapters.nvidia import (
    QUERY_ARGUMENTS,
    USE_QUERY_ARGUMENTS,
    ParsedUse,
    parse_gpu_csv,
    parse_gpu_line,
    parse_use_csv,
    parse_use_line,
    result_from_output,
    use_from_output,
)
from stellars.domain.gpu import Gpu, GpuReading, GpuUseResult
from tests.contract.test_gpu_probe import TWO_GPUS, TWO_GPUS_CSV

# The two-GPU H100 output the GpuProbe contract suite uses.
H100_PAIR = TWO_GPUS_CSV
H100_GPUS = TWO_GPUS
# The same query without `noheader,nounits` (a wrapper that drops our format flags).
WITH_HEADER_AND_UNITS = (
    "index, name, memory.total [MiB], uuid\n"
    "0, NVIDIA A100-SXM4-40GB, 40960 MiB, GPU-1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718\n"
)
# A Grace Hopper superchip reports its unified memory as [N/A].
NOT_AVAILABLE_MEMORY = "0, NVIDIA GH200 480GB, [N/A], GPU-9c8b7a69-5847-3625-1403-f2e1d0c9b8a7\n"
# The driver is not loaded: nvidia-smi prints this on stdout and exits with 9.
DRIVER_FAILURE = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure "
    "that the latest NVIDIA driver is installed and running.\n\n"
)


def test_query_asks_for_index_name_memory_and_uuid_without_header_or_units():
    assert QUERY_ARGUMENTS == (
        "--query-gpu=index,name,memory.total,uuid",
        "--format=csv,noheader,nounits",
    )


def test_two_gpus_are_parsed_in_order():
    parsed = parse_gpu_csv(H100_PAIR)
    assert parsed.gpus == H100_GPUS
    assert parsed.unparsed == ()


def test_a_header_line_is_set_aside_and_a_mib_unit_accepted():
    parsed = parse_gpu_csv(WITH_HEADER_AND_UNITS)
    assert parsed.gpus == (
        Gpu(0, "NVIDIA A100-SXM4-40GB", 40960, "GPU-1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718"),
    )
    assert parsed.unparsed == ("index, name, memory.total [MiB], uuid",)


def test_memory_nvidia_smi_cannot_read_becomes_zero():
    (gpu,) = parse_gpu_csv(NOT_AVAILABLE_MEMORY).gpus
    assert gpu.memory_mib == 0
    assert gpu.name == "NVIDIA GH200 480GB"


def test_blank_lines_and_windows_line_ends_are_ignored():
    text = "\n\r\n" + H100_PAIR.replace("\n", "\r\n") + "\n   \n"
    parsed = parse_gpu_csv(text)
    assert parsed.gpus == H100_GPUS
    assert parsed.unparsed == ()


def test_a_name_containing_a_comma_is_kept_whole():
    gpu = parse_gpu_line("2, Tesla V100, PCIe, 16160, GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
    assert gpu == Gpu(2, "Tesla V100, PCIe", 16160, "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")


@pytest.mark.parametrize(
    "line",
    [
        "",
        "garbage",
        "0, NVIDIA H100, 81559",  # a field short
        "x, NVIDIA H100, 81559, GPU-5a3c1f0e",  # index not a number
        "-1, NVIDIA H100, 81559, GPU-5a3c1f0e",
        "0, , 81559, GPU-5a3c1f0e",  # no name
        "0, NVIDIA H100, lots, GPU-5a3c1f0e",  # memory not a number
        "0, NVIDIA H100, 81559, not-a-uuid",
        "0, NVIDIA H100, 81559 GiB, GPU-5a3c1f0e",  # not MiB
    ],
)
def test_lines_that_are_not_records_are_not_guessed_at(line):
    assert parse_gpu_line(line) is None


def test_garbage_between_records_is_reported_not_fatal():
    text = "WARNING: infoROM is corrupted at gpu 0000:3B:00.0\n" + H100_PAIR
    parsed = parse_gpu_csv(text)
    assert parsed.gpus == H100_GPUS
    assert parsed.unparsed == ("WARNING: infoROM is corrupted at gpu 0000:3B:00.0",)


def test_result_with_gpus_is_found():
    result = result_from_output(H100_PAIR, "on the host")
    assert result.found
    assert result.gpus == H100_GPUS


def test_result_of_garbage_names_the_first_line():
    result = result_from_output(DRIVER_FAILURE, "on the host")
    assert not result.found
    assert "on the host" in result.reason
    assert "NVIDIA-SMI has failed" in result.reason
    assert len(result.reason) < 200  # cut to one short line


@pytest.mark.parametrize("text", ["", "\n\n", "   \n"])
def test_result_of_empty_output_says_no_gpu_listed(text):
    result = result_from_output(text, "in a container of cuda")
    assert not result.found
    assert result.reason == "nvidia-smi in a container of cuda listed no GPU"


# --- the GPUs' use: `--query-gpu=uuid,memory.used,utilization.gpu` ---------------------------

# Two H100s as nvidia-smi prints their use (the first busy, the second idle).
H100_PAIR_USE = (
    "GPU-5a3c1f0e-8d2b-4e61-9a7f-0c1d2e3f4a5b, 40321, 97\n"
    "GPU-0b9e8d7c-6a5f-4e3d-8c2b-1a0f9e8d7c6b, 0, 0\n"
)


def test_the_use_query_asks_for_uuid_memory_used_and_utilisation_without_header_or_units():
    assert USE_QUERY_ARGUMENTS == (
        "--query-gpu=uuid,memory.used,utilization.gpu",
        "--format=csv,noheader,nounits",
    )


def test_readings_are_parsed_in_order():
    parsed = parse_use_csv(H100_PAIR_USE)
    assert parsed.readings == (
        GpuReading("GPU-5a3c1f0e-8d2b-4e61-9a7f-0c1d2e3f4a5b", 40321, 97),
        GpuReading("GPU-0b9e8d7c-6a5f-4e3d-8c2b-1a0f9e8d7c6b", 0, 0),
    )
    assert parsed.unparsed == ()


@pytest.mark.parametrize(
    ("line", "reading"),
    [
        ("GPU-a, 1024 MiB, 45 %", GpuReading("GPU-a", 1024, 45)),
        ("MIG-b, [N/A], [N/A]", GpuReading("MIG-b", None, None)),
        ("GPU-c, 12, [Not Supported]", GpuReading("GPU-c", 12, None)),
        ("GPU-d, [Unknown Error], 100", GpuReading("GPU-d", None, 100)),
        (" GPU-e ,7,3 ", GpuReading("GPU-e", 7, 3)),
    ],
)
def test_units_and_figures_nvidia_smi_cannot_read(line, reading):
    assert parse_use_line(line) == reading


@pytest.mark.parametrize(
    "line",
    [
        "uuid, memory.used [MiB], utilization.gpu [%]",  # a header
        "GPU-a, 1024",  # too few fields
        "GPU-a, 1024, 45, 3",  # too many
        "0, 1024, 45",  # an index, not a UUID
        "GPU-a, lots, 45",
        "GPU-a, 1024, busy",
        "GPU-a, -1, 45",
        "GPU-a, 1024, 101",  # more than all of it
        "GPU-a, 1024 GiB, 45",
        "GPU-a, 1024, 45 percent",
    ],
)
def test_lines_that_are_not_readings_are_not_guessed_at(line):
    assert parse_use_line(line) is None


def test_use_results():
    assert (
        use_from_output(H100_PAIR_USE, "on the host").readings
        == parse_use_csv(H100_PAIR_USE).readings
    )
    assert use_from_output(H100_PAIR_USE, "on the host").reason == ""
    garbage = use_from_output("Segfault\nGPU-a, x, y\n", "on the host")
    assert garbage == GpuUseResult.none("nvidia-smi on the host printed no reading: 'Segfault'")
    empty = use_from_output("\n \n", "in a container of cuda")
    assert empty == GpuUseResult.none("nvidia-smi in a container of cuda reported no GPU's use")
    mixed = parse_use_csv("warning: old driver\r\nGPU-a, 1, 2\r\n\r\n")
    assert mixed == ParsedUse((GpuReading("GPU-a", 1, 2),), ("warning: old driver",))
