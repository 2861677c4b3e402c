"""Reading `nvidia-smi --query-gpu=index,name,memory.total,uuid --format=csv,noheader,nounits`
(the inventory) and `--query-gpu=uuid,memory.used,utilization.gpu` (the GPUs' use).

Pure functions: text in, GPUs (or readings) out. Lines that are not records (a header, blank
lines, driver warnings, garbage) are set aside and reported, never guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stellars.domain.gpu import Gpu, GpuProbeResult, GpuReading, GpuUseResult

QUERY_ARGUMENTS = (
    "--query-gpu=index,name,memory.total,uuid",
    "--format=csv,noheader,nounits",
)
USE_QUERY_ARGUMENTS = (
    "--query-gpu=uuid,memory.used,utilization.gpu",
    "--format=csv,noheader,nounits",
)

# Values nvidia-smi prints for a field it cannot read (e.g. memory of some MIG or Grace parts).
_UNAVAILABLE = frozenset({"[n/a]", "n/a", "[not supported]", "[unknown error]", ""})
_MEMORY = re.compile(r"^(\d+)(?:\s*mib)?$", re.IGNORECASE)
_PERCENT = re.compile(r"^(\d+)(?:\s*%)?$")
_UUID = re.compile(r"^(GPU|MIG)-[0-9A-Za-z-]+$")
_REPORTED_LINE_LENGTH = 80


@dataclass(frozen=True, slots=True)
class ParsedGpus:
    """The GPU records found in nvidia-smi's output and the lines that were not records."""

    gpus: tuple[Gpu, ...]
    unparsed: tuple[str, ...] = ()


def parse_gpu_line(line: str) -> Gpu | None:
    """One CSV record `index, name, memory, uuid`; None when the line is not one.

    The name may itself contain commas: index is the first field and memory and uuid the last
    two. Memory nvidia-smi cannot read ("[N/A]") becomes 0 MiB; a "MiB" unit is accepted.
    """
    fields = [field.strip() for field in line.split(",")]
    if len(fields) < 4:
        return None
    index_text, memory_text, uuid = fields[0], fields[-2], fields[-1]
    name = ", ".join(fields[1:-2])
    if not index_text.isdigit() or not name or not _UUID.match(uuid):
        return None
    if memory_text.lower() in _UNAVAILABLE:
        memory_mib = 0
    else:
        memory = _MEMORY.match(memory_text)
        if memory is None:
            return None
        memory_mib = int(memory.group(1))
    return Gpu(int(index_text), name, memory_mib, uuid)


def parse_gpu_csv(text: str) -> ParsedGpus:
    """Every GPU record of the output, in order; other non-blank lines go to `unparsed`."""
    gpus: list[Gpu] = []
    unparsed: list[str] = []
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line:
            continue
        gpu = parse_gpu_line(line)
        if gpu is None:
            unparsed.append(line)
        else:
            gpus.append(gpu)
    return ParsedGpus(tuple(gpus), tuple(unparsed))


def shorten(text: str, limit: int = _REPORTED_LINE_LENGTH) -> str:
    """The first non-blank line of `text`, cut to `limit` characters, for a reason."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if len(first) <= limit else first[: limit - 1] + "…"


def result_from_output(text: str, source: str) -> GpuProbeResult:
    """The probe result for nvidia-smi's standard output; `source` names where it ran."""
    parsed = parse_gpu_csv(text)
    if parsed.gpus:
        return GpuProbeResult(parsed.gpus, "")
    if not parsed.unparsed:
        return GpuProbeResult.none(f"nvidia-smi {source} listed no GPU")
    return GpuProbeResult.none(
        f"nvidia-smi {source} printed no GPU record: {shorten(parsed.unparsed[0])!r}"
    )


@dataclass(frozen=True, slots=True)
class ParsedUse:
    """The readings found in nvidia-smi's output and the lines that were not readings."""

    readings: tuple[GpuReading, ...]
    unparsed: tuple[str, ...] = ()


def _figure(text: str, pattern: re.Pattern[str]) -> tuple[bool, int | None]:
    """Whether `text` is a figure, and its value (None for one nvidia-smi cannot read)."""
    if text.lower() in _UNAVAILABLE:
        return True, None
    found = pattern.match(text)
    return (False, None) if found is None else (True, int(found.group(1)))


def parse_use_line(line: str) -> GpuReading | None:
    """One CSV record `uuid, memory.used, utilization.gpu`; None when the line is not one.
    A figure nvidia-smi cannot read ("[N/A]", "[Not Supported]") is None; a "MiB" or "%"
    unit is accepted; utilisation above 100 is not a reading."""
    fields = [field.strip() for field in line.split(",")]
    if len(fields) != 3 or not _UUID.match(fields[0]):
        return None
    memory_read, memory = _figure(fields[1], _MEMORY)
    utilization_read, utilization = _figure(fields[2], _PERCENT)
    if not (memory_read and utilization_read):
        return None
    if utilization is not None and utilization > 100:
        return None
    return GpuReading(fields[0], memory, utilization)


def parse_use_csv(text: str) -> ParsedUse:
    """Every reading of the output, in order; other non-blank lines go to `unparsed`."""
    readings: list[GpuReading] = []
    unparsed: list[str] = []
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line:
            continue
        reading = parse_use_line(line)
        if reading is None:
            unparsed.append(line)
        else:
            readings.append(reading)
    return ParsedUse(tuple(readings), tuple(unparsed))


def use_from_output(text: str, source: str) -> GpuUseResult:
    """The use result for nvidia-smi's standard output; `source` names where it ran."""
    parsed = parse_use_csv(text)
    if parsed.readings:
        return GpuUseResult(parsed.readings, "")
    if not parsed.unparsed:
        return GpuUseResult.none(f"nvidia-smi {source} reported no GPU's use")
    return GpuUseResult.none(
        f"nvidia-smi {source} printed no reading: {shorten(parsed.unparsed[0])!r}"
    )
