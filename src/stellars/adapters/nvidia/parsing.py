"""Reading `nvidia-smi --query-gpu=index,name,memory.total,uuid --format=csv,noheader,nounits`.

Pure functions: text in, GPUs out. Lines that are not GPU records (a header, blank lines, driver
warnings, garbage) are set aside and reported, never guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stellars.domain.gpu import Gpu, GpuProbeResult

QUERY_ARGUMENTS = (
    "--query-gpu=index,name,memory.total,uuid",
    "--format=csv,noheader,nounits",
)

# Values nvidia-smi prints for a field it cannot read (e.g. memory of some MIG or Grace parts).
_UNAVAILABLE = frozenset({"[n/a]", "n/a", "[not supported]", "[unknown error]", ""})
_MEMORY = re.compile(r"^(\d+)(?:\s*mib)?$", re.IGNORECASE)
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
