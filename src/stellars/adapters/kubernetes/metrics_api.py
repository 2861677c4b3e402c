"""ContainerStats on Kubernetes: the metrics API (metrics-server) for every lab pod at once.

One pass of the dashboard's `container stats` refresher costs three requests, whatever the
number of labs: the namespace's PodMetrics, its lab pods (their phase, limits and nodes) and
the nodes (their allocatable memory). The requests go through `get`, the composition root's
one GET of the API server (a `kubernetes_asyncio` client's, with the hub's service account and
a deadline), which returns the decoded JSON and raises BackendUnavailable when the API server
cannot be reached or answers an error; this module imports no client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from urllib.parse import quote

from stellars.domain.containers import ContainerUsage

from .naming import pod_name
from .stats import memory_bounds, running_pods, usage_from_pod_metrics

#: The label KubeSpawner gives every user pod (its `component_label`, "singleuser-server").
LAB_SELECTOR = "component=singleuser-server"

KubernetesGet = Callable[[str], Awaitable[object]]


class MetricsApiStats:
    """The ContainerStats port over the metrics API, for the labs of one namespace."""

    def __init__(self, get: KubernetesGet, *, namespace: str, selector: str = LAB_SELECTOR):
        self._get = get
        self._namespace = quote(namespace, safe="")
        self._selector = quote(selector, safe="")

    async def usage(self, names: Collection[str]) -> dict[str, ContainerUsage]:
        """Usage of each running lab among `names` (the platform's container names), under
        those names; absent and stopped ones are left out. Raises BackendUnavailable."""
        wanted = {pod_name(name): name for name in names}
        if not wanted:
            return {}
        labs = f"/api/v1/namespaces/{self._namespace}/pods?labelSelector={self._selector}"
        metrics, pods, nodes = await asyncio.gather(
            self._get(
                f"/apis/metrics.k8s.io/v1beta1/namespaces/{self._namespace}/pods"
                f"?labelSelector={self._selector}"
            ),
            self._get(labs),
            self._get("/api/v1/nodes"),
        )
        running = running_pods(pods)
        figures = usage_from_pod_metrics(metrics, bounds=memory_bounds(pods, nodes))
        return {
            wanted[pod]: usage for pod, usage in figures.items() if pod in wanted and pod in running
        }
