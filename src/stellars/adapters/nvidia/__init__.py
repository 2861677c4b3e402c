"""GPU probes that run nvidia-smi on the host or in a container with the NVIDIA runtime."""

from .container import ContainerNvidiaSmiProbe
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
    "ContainerNvidiaSmiProbe",
    "HostNvidiaSmiProbe",
    "ParsedGpus",
    "parse_gpu_csv",
    "parse_gpu_line",
    "result_from_output",
]
