"""Kubernetes adapters, the parts that need no cluster: what KubeSpawner is given for a spawn
(`pods`), the names of pods and claims derived from the platform's (`naming`), the dashboard's
figures read from the metrics API, the pods' specs and the kubelet's summary (`stats`, over
`quantities`), the claims that hold user volumes and the volume list read back from them
(`claims`), and the ContainerStats port over the metrics API (`metrics_api`, through a GET
the composition root hands it). Plain values and decoded JSON in, no Kubernetes client imported
here. docs/kubernetes.md is the design of the whole adapter set."""

from .claims import (
    OWNER_ANNOTATION,
    USED_BYTES_ANNOTATION,
    api_time,
    claim_manifest,
    size_annotations,
    volume_info,
    volumes_from_claims,
)
from .metrics_api import LAB_SELECTOR, MetricsApiStats
from .naming import (
    claim_name,
    claim_problem,
    is_label,
    is_subdomain,
    pod_name,
    pod_volume_name,
    volume_of_claim,
)
from .pods import (
    EXCLUSIVE_GPU_RESOURCE,
    SHARED_GPU_RESOURCE,
    GpuResources,
    Guarantees,
    KubeSpawnSettings,
    SharedClaim,
    kube_spawn_settings,
    literal,
    pod_name_template,
)
from .quantities import byte_count, cpu_cores, cpu_percent, parse_quantity
from .stats import (
    claim_sizes_from_summary,
    memory_bounds,
    memory_limits,
    node_memory,
    node_memory_bytes,
    running_pods,
    usage_from_pod_metrics,
    usage_from_summary,
)

__all__ = [
    "EXCLUSIVE_GPU_RESOURCE",
    "LAB_SELECTOR",
    "OWNER_ANNOTATION",
    "SHARED_GPU_RESOURCE",
    "USED_BYTES_ANNOTATION",
    "GpuResources",
    "Guarantees",
    "KubeSpawnSettings",
    "MetricsApiStats",
    "SharedClaim",
    "api_time",
    "byte_count",
    "claim_manifest",
    "claim_name",
    "claim_problem",
    "claim_sizes_from_summary",
    "cpu_cores",
    "cpu_percent",
    "is_label",
    "is_subdomain",
    "kube_spawn_settings",
    "literal",
    "memory_bounds",
    "memory_limits",
    "node_memory",
    "node_memory_bytes",
    "parse_quantity",
    "pod_name",
    "pod_name_template",
    "pod_volume_name",
    "running_pods",
    "size_annotations",
    "usage_from_pod_metrics",
    "usage_from_summary",
    "volume_info",
    "volume_of_claim",
    "volumes_from_claims",
]
