"""Finding GPUs with nvidia-smi: on the host (a subprocess) and the parser of its output, which
the container probe of `stellars.adapters.docker` shares."""

from .host import HostNvidiaSmiProbe
from .parsing import (
    QUERY_ARGUMENTS,
    ParsedGpus,
    parse_gpu_csv,
    parse_gpu_line,
    result_from_output,
)

__all__ = [
    "QUERY_ARGUMENTS",
    "HostNvidiaSmiProbe",
    "ParsedGpus",
    "parse_gpu_csv",
    "parse_gpu_line",
    "result_from_output",
]
