"""Finding GPUs and their use with nvidia-smi: on the host (a subprocess) and the parser of its
output, which the container probe of `stellars.adapters.docker` shares."""

from .host import HostNvidiaSmiProbe
from .parsing import (
    QUERY_ARGUMENTS,
    USE_QUERY_ARGUMENTS,
    ParsedGpus,
    ParsedUse,
    parse_gpu_csv,
    parse_gpu_line,
    parse_use_csv,
    parse_use_line,
    result_from_output,
    use_from_output,
)

__all__ = [
    "QUERY_ARGUMENTS",
    "USE_QUERY_ARGUMENTS",
    "HostNvidiaSmiProbe",
    "ParsedGpus",
    "ParsedUse",
    "parse_gpu_csv",
    "parse_gpu_line",
    "parse_use_csv",
    "parse_use_line",
    "result_from_output",
    "use_from_output",
]
