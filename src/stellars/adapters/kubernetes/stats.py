"""The figures the dashboard shows, read from Kubernetes' answers: the metrics API's PodMetrics
for CPU and memory, the pods' specs for their memory limits, and the kubelet's stats summary
for the same figures node by node and for the used bytes of every mounted claim.

- `GET /apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods` (metrics-server): one PodMetrics per
  pod, each container's `usage.cpu` (a rate over the `window`, in cores) and `usage.memory`
  (the working set: memory in use without the inactive page cache, what `docker stats` shows).
  A pod's figures are the sum of its containers'.
- `GET /api/v1/namespaces/{ns}/pods` and `GET /api/v1/nodes`: a pod's memory limit is the sum
  of its containers' `resources.limits.memory`; a pod with a container without one has none,
  and its node's allocatable memory bounds it, as the host's memory bounds an unlimited
  container on Docker.
- `GET /api/v1/nodes/{node}/proxy/stats/summary` (the kubelet): per pod, each container's
  `cpu.usageNanoCores`, `memory.workingSetBytes` and `memory.availableBytes` (what is left to
  the container's limit, or to the node's memory without one: the two add up to the bound),
  and every volume's `usedBytes`, with `pvcRef` naming the claim for a claim's volume. The
  kubelet measures only the volumes of the pods running on its node.

Every reader takes the decoded JSON and returns what it could read: an entry without a name or
with a figure that is no quantity is left out, never guessed, and the answer's shape being
wrong altogether (not a mapping, no list of items) is an empty result. Names are the pods' and
the claims'; `naming` maps them to the platform's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stellars.domain.containers import ContainerUsage
from stellars.domain.errors import InvalidValue

from .quantities import byte_count, cpu_cores

NANO = 1_000_000_000


def _items(payload: object, key: str = "items") -> list[Mapping[str, Any]]:
    if not isinstance(payload, Mapping):
        return []
    items = payload.get(key)
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, Mapping)]


def _name(entry: Mapping[str, Any], *path: str) -> str | None:
    value: object = entry
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if isinstance(value, str) and value else None


def _whole(value: object) -> int | None:
    """A count the kubelet writes as a JSON number (never negative)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def memory_limits(pods: object) -> dict[str, int]:
    """pod name -> memory limit in bytes, from a pod list, for the pods whose every container
    has a memory limit (others are left out: no limit)."""
    limits: dict[str, int] = {}
    for pod in _items(pods):
        name = _name(pod, "metadata", "name")
        containers = (pod.get("spec") or {}).get("containers")
        if name is None or not isinstance(containers, list) or not containers:
            continue
        try:
            limits[name] = sum(
                byte_count(((container.get("resources") or {}).get("limits") or {})["memory"])
                for container in containers
            )
        except (KeyError, AttributeError, InvalidValue):
            continue  # a container without a (readable) limit: the pod has none
    return limits


def usage_from_pod_metrics(
    payload: object, *, bounds: Mapping[str, int]
) -> dict[str, ContainerUsage]:
    """pod name -> usage, from a PodMetricsList. A pod's memory bound is `bounds[pod]`
    (`memory_bounds`), 0 (unknown: no percentage) for a pod it does not name."""
    usage: dict[str, ContainerUsage] = {}
    for pod in _items(payload):
        name = _name(pod, "metadata", "name")
        containers = pod.get("containers")
        if name is None or not isinstance(containers, list) or not containers:
            continue
        try:
            cores = sum(cpu_cores(container["usage"]["cpu"]) for container in containers)
            memory = sum(byte_count(container["usage"]["memory"]) for container in containers)
        except (KeyError, TypeError, InvalidValue):
            continue
        usage[name] = ContainerUsage(
            cpu_percent=round(cores * 100, 1),
            memory_bytes=memory,
            memory_limit_bytes=bounds.get(name, 0),
        )
    return usage


def node_memory(nodes: object) -> dict[str, int]:
    """node name -> the memory pods may use on it (`status.allocatable.memory`), from a node
    list; a node that does not say is left out."""
    found: dict[str, int] = {}
    for node in _items(nodes):
        name = _name(node, "metadata", "name")
        allocatable = (node.get("status") or {}).get("allocatable")
        if name is None or not isinstance(allocatable, Mapping):
            continue
        try:
            found[name] = byte_count(allocatable["memory"])
        except (KeyError, InvalidValue):
            continue
    return found


def running_pods(pods: object) -> frozenset[str]:
    """The names of the pods of a pod list whose phase is Running."""
    return frozenset(
        name
        for pod in _items(pods)
        if (name := _name(pod, "metadata", "name")) is not None
        and (pod.get("status") or {}).get("phase") == "Running"
    )


def memory_bounds(pods: object, nodes: object) -> dict[str, int]:
    """pod name -> what bounds its memory: its limit (`memory_limits`), else the allocatable
    memory of the node it runs on (`spec.nodeName`); a pod with neither is left out."""
    bounds = memory_limits(pods)
    on_node = node_memory(nodes)
    for pod in _items(pods):
        name = _name(pod, "metadata", "name")
        node = _name(pod, "spec", "nodeName")
        if name is not None and name not in bounds and node in on_node:
            bounds[name] = on_node[node]
    return bounds


def _container_figures(container: object) -> tuple[int, int, int | None] | None:
    """(nanocores, working set, available) of one container of a summary; None when the
    kubelet has not measured it yet. `availableBytes` is absent for a container without a
    memory limit."""
    if not isinstance(container, Mapping):
        return None
    cpu, memory = container.get("cpu"), container.get("memory")
    if not isinstance(cpu, Mapping) or not isinstance(memory, Mapping):
        return None
    nanocores = _whole(cpu.get("usageNanoCores"))
    working = _whole(memory.get("workingSetBytes"))
    if nanocores is None or working is None:
        return None
    return nanocores, working, _whole(memory.get("availableBytes"))


def node_memory_bytes(payload: object) -> int:
    """The node's memory as its kubelet's summary tells it (working set plus available), 0
    when it does not."""
    node = payload.get("node") if isinstance(payload, Mapping) else None
    memory = node.get("memory") if isinstance(node, Mapping) else None
    if not isinstance(memory, Mapping):
        return 0
    working, available = _whole(memory.get("workingSetBytes")), _whole(memory.get("availableBytes"))
    return 0 if working is None or available is None else working + available


def usage_from_summary(payload: object) -> dict[str, ContainerUsage]:
    """pod name -> usage, from one kubelet's stats summary: CPU from `usageNanoCores`, memory
    from `workingSetBytes`, summed over the pod's containers. The bound is the working set plus
    `availableBytes` when every container has a limit, else the node's memory
    (`node_memory_bytes`). A pod some container of which is not measured yet is left out."""
    node_bound = node_memory_bytes(payload)
    usage: dict[str, ContainerUsage] = {}
    for pod in _items(payload, "pods"):
        name = _name(pod, "podRef", "name")
        containers = pod.get("containers")
        if name is None or not isinstance(containers, list) or not containers:
            continue
        figures = [_container_figures(container) for container in containers]
        measured = [figure for figure in figures if figure is not None]
        if len(measured) != len(figures):
            continue
        working = sum(figure[1] for figure in measured)
        available = [figure[2] for figure in measured]
        limited = all(value is not None for value in available)
        usage[name] = ContainerUsage(
            cpu_percent=round(sum(figure[0] for figure in measured) * 100 / NANO, 1),
            memory_bytes=working,
            memory_limit_bytes=working + sum(v or 0 for v in available) if limited else node_bound,
        )
    return usage


def claim_sizes_from_summary(payload: object) -> dict[str, int]:
    """claim name -> used bytes, for every claim mounted by a pod running on the kubelet's
    node (a claim two pods mount is one figure: the same filesystem)."""
    sizes: dict[str, int] = {}
    for pod in _items(payload, "pods"):
        volumes = pod.get("volume")
        if not isinstance(volumes, list):
            continue
        for volume in volumes:
            if not isinstance(volume, Mapping):
                continue
            claim = _name(volume, "pvcRef", "name")
            used = _whole(volume.get("usedBytes"))
            if claim is not None and used is not None:
                sizes[claim] = used
    return sizes
