"""The ContainerStats contract (tests/contract/test_containers.py, its usage tests, imported
here as they are) run on `MetricsApiStats`, the Kubernetes adapter, over a scripted API server.

No cluster runs here (docs/kubernetes.md): the harness keeps the pods and the metrics a
cluster with metrics-server would answer, in the shapes of the API's PodList, NodeList and
PodMetricsList. Starting a lab adds a Running pod and its metrics (a busy one near a whole
core), stopping it ends the pod (phase Succeeded) and metrics-server stops reporting it. What
this checks is the adapter's side of the contract: the platform's names mapped to pods and
back, stopped and unknown labs left out, the figures of each lab its own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from stellars.adapters.kubernetes import LAB_SELECTOR, MetricsApiStats, pod_name
from tests.contract.test_containers import (
    NO_ACCESS,
    test_usage_covers_running_containers_only,
    test_usage_of_nothing_is_empty,
)

__all__ = ["test_usage_covers_running_containers_only", "test_usage_of_nothing_is_empty"]

NAMESPACE = "stellars"
SELECTOR = LAB_SELECTOR.replace("=", "%3D")


@dataclass
class ScriptedCluster:
    """The API server's answers for the labs started so far."""

    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def get(self, path: str) -> object:
        if (
            path
            == f"/apis/metrics.k8s.io/v1beta1/namespaces/{NAMESPACE}/pods?labelSelector={SELECTOR}"
        ):
            return {"kind": "PodMetricsList", "items": list(self.metrics.values())}
        if path == f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector={SELECTOR}":
            return {"kind": "PodList", "items": list(self.pods.values())}
        if path == "/api/v1/nodes":
            node = {"metadata": {"name": "node-1"}, "status": {"allocatable": {"memory": "8Gi"}}}
            return {"kind": "NodeList", "items": [node]}
        raise AssertionError(f"unexpected request {path}")


@dataclass
class KubernetesStatsHarness:
    """The stats side of the contract's ContainerHarness (no `control`: pods are not
    restarted here)."""

    cluster: ScriptedCluster = field(default_factory=ScriptedCluster)
    prefix: str = field(default_factory=lambda: f"jupyterlab-t{uuid.uuid4().hex[:8]}")

    @property
    def stats(self) -> MetricsApiStats:
        return MetricsApiStats(self.cluster.get, namespace=NAMESPACE)

    def name(self, label: str) -> str:
        return f"{self.prefix}-{label}"

    async def start(self, name: str, *, busy: bool = False, access: object = NO_ACCESS) -> None:
        pod = pod_name(name)
        self.cluster.pods[pod] = {
            "metadata": {"name": pod, "namespace": NAMESPACE},
            "spec": {
                "nodeName": "node-1",
                "containers": [{"name": "notebook", "resources": {"limits": {"memory": "1Gi"}}}],
            },
            "status": {"phase": "Running"},
        }
        self.cluster.metrics[pod] = {
            "metadata": {"name": pod, "namespace": NAMESPACE},
            "window": "10s",
            "containers": [
                {
                    "name": "notebook",
                    "usage": {"cpu": "987654321n" if busy else "1234567n", "memory": "8Mi"},
                }
            ],
        }

    async def stop(self, name: str) -> None:
        pod = pod_name(name)
        self.cluster.pods[pod]["status"]["phase"] = "Succeeded"
        del self.cluster.metrics[pod]


@pytest.fixture
def harness() -> KubernetesStatsHarness:
    return KubernetesStatsHarness()


async def test_a_stopped_lab_with_metrics_still_listed_is_left_out(harness):
    lab = harness.name("ending")
    await harness.start(lab, busy=True)
    harness.cluster.pods[pod_name(lab)]["status"]["phase"] = "Succeeded"  # metrics lag behind
    assert await harness.stats.usage([lab]) == {}
