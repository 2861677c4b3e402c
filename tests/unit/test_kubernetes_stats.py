"""The dashboard's figures read from Kubernetes' answers (JSON fixtures in the shapes of the
metrics API's PodMetricsList, a PodList and a kubelet's stats summary, written for these tests
after the APIs' reference, not recorded from a cluster)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stellars.adapters.kubernetes import (
    claim_sizes_from_summary,
    memory_bounds,
    memory_limits,
    node_memory,
    node_memory_bytes,
    running_pods,
    usage_from_pod_metrics,
    usage_from_summary,
)
from stellars.domain.containers import ContainerUsage

FIXTURES = Path(__file__).parent / "fixtures" / "kubernetes"
GIB = 1024**3
NODE = 16 * GIB


def fixture(name: str) -> object:
    return json.loads((FIXTURES / name).read_text())


def test_memory_limits_are_the_sum_of_every_containers_limit():
    assert memory_limits(fixture("pods.json")) == {
        "jupyterlab-alice": 4 * GIB,
        "jupyterlab-bob": 2_000_000_000 + 64 * 1024**2,  # 2G is decimal, 64Mi binary
        # jupyterlab-dave: its sidecar has no limit, so the pod has none
    }


def test_pod_metrics_give_each_pods_cpu_and_working_set():
    bounds = memory_bounds(fixture("pods.json"), fixture("nodes.json"))
    usage = usage_from_pod_metrics(fixture("pod_metrics.json"), bounds=bounds)
    assert usage == {
        "jupyterlab-alice": ContainerUsage(
            cpu_percent=150.3, memory_bytes=512 * 1024**2, memory_limit_bytes=4 * GIB
        ),
        "jupyterlab-bob": ContainerUsage(  # two containers, summed
            cpu_percent=0.3,
            memory_bytes=96 * 1024**2 + 1024**2,
            memory_limit_bytes=2_000_000_000 + 64 * 1024**2,
        ),
        # jupyterlab-carol's CPU is no quantity, and the last item has no name: left out
    }
    assert usage["jupyterlab-alice"].memory_percent == 12.5


def test_a_pod_the_bounds_do_not_name_has_no_percentage():
    usage = usage_from_pod_metrics(fixture("pod_metrics.json"), bounds={})
    assert {figures.memory_limit_bytes for figures in usage.values()} == {0}
    assert {figures.memory_percent for figures in usage.values()} == {0.0}


def test_a_pod_without_a_limit_is_bounded_by_its_nodes_allocatable_memory():
    assert node_memory(fixture("nodes.json")) == {
        "worker-1": 65_236_820 * 1024,
        "worker-2": 15 * GIB,
        # worker-3 does not say
    }
    assert memory_bounds(fixture("pods.json"), fixture("nodes.json")) == {
        "jupyterlab-alice": 4 * GIB,
        "jupyterlab-bob": 2_000_000_000 + 64 * 1024**2,
        "jupyterlab-dave": 15 * GIB,  # its sidecar has no limit: worker-2's memory
        "jupyterlab-frank": 65_236_820 * 1024,
    }
    assert memory_bounds(fixture("pods.json"), {"items": []})["jupyterlab-alice"] == 4 * GIB
    assert "jupyterlab-dave" not in memory_bounds(fixture("pods.json"), {"items": []})


def test_running_pods_are_those_in_the_running_phase():
    assert running_pods(fixture("pods.json")) == {
        "jupyterlab-alice",
        "jupyterlab-bob",
        "jupyterlab-dave",
        # jupyterlab-frank Succeeded: it ended
    }


def test_the_kubelet_summary_gives_each_pods_usage_and_bound():
    usage = usage_from_summary(fixture("kubelet_summary.json"))
    assert usage == {
        "jupyterlab-alice": ContainerUsage(
            cpu_percent=150.3,
            memory_bytes=512 * 1024**2,
            memory_limit_bytes=512 * 1024**2 + 3_758_096_384,  # = 4 GiB, its limit
        ),
        # no availableBytes: no limit, so the node's memory (working set + available) bounds it
        "jupyterlab-bob": ContainerUsage(
            cpu_percent=0.2, memory_bytes=96 * 1024**2, memory_limit_bytes=NODE
        ),
        # jupyterlab-erin's CPU is not measured yet: left out
    }
    assert usage["jupyterlab-alice"].memory_limit_bytes == 4 * GIB


def test_the_nodes_memory_comes_from_the_summary():
    assert node_memory_bytes(fixture("kubelet_summary.json")) == NODE
    assert node_memory_bytes({"node": {"memory": {"workingSetBytes": 5}}}) == 0
    assert node_memory_bytes({"node": {}}) == 0
    assert node_memory_bytes([]) == 0


def test_without_the_nodes_memory_an_unlimited_pods_bound_is_unknown():
    summary = fixture("kubelet_summary.json")
    assert isinstance(summary, dict)
    del summary["node"]
    bob = usage_from_summary(summary)["jupyterlab-bob"]
    assert bob.memory_limit_bytes == 0
    assert bob.memory_percent == 0.0


def test_claim_sizes_are_the_used_bytes_of_mounted_claims():
    assert claim_sizes_from_summary(fixture("kubelet_summary.json")) == {
        "jupyterlab-alice.home": GIB,
        "jupyterlab-alice.workspace": 8192,
        "jupyterhub.shared": 4096,
        "jupyterlab-bob.home": 2048,
        # the service account token is no claim; jupyterlab-erin.home is not measured yet
    }


@pytest.mark.parametrize(
    "payload",
    [None, [], "items", {}, {"items": "x"}, {"items": [None, 3, "pod"]}, {"pods": {"a": 1}}],
)
def test_answers_of_the_wrong_shape_give_nothing(payload):
    assert memory_limits(payload) == {}
    assert usage_from_pod_metrics(payload, bounds={}) == {}
    assert node_memory(payload) == {}
    assert running_pods(payload) == frozenset()
    assert memory_bounds(payload, payload) == {}
    assert usage_from_summary(payload) == {}
    assert claim_sizes_from_summary(payload) == {}


@pytest.mark.parametrize(
    "figures",
    [
        {"cpu": {"usageNanoCores": -1}, "memory": {"workingSetBytes": 1}},
        {"cpu": {"usageNanoCores": True}, "memory": {"workingSetBytes": 1}},
        {"cpu": {"usageNanoCores": 1.5}, "memory": {"workingSetBytes": 1}},
        {"cpu": {"usageNanoCores": 1}, "memory": {"workingSetBytes": "1"}},
        {"cpu": {"usageNanoCores": 1}, "memory": None},
        {"cpu": None, "memory": {"workingSetBytes": 1}},
    ],
)
def test_a_figure_that_is_no_count_leaves_its_pod_out(figures):
    summary = {"pods": [{"podRef": {"name": "p"}, "containers": [{"name": "c", **figures}]}]}
    assert usage_from_summary(summary) == {}


def test_a_pod_with_no_container_is_left_out():
    assert usage_from_summary({"pods": [{"podRef": {"name": "p"}, "containers": []}]}) == {}
    metrics = {"items": [{"metadata": {"name": "p"}, "containers": []}]}
    assert usage_from_pod_metrics(metrics, bounds={}) == {}
    assert memory_limits({"items": [{"metadata": {"name": "p"}, "spec": {"containers": []}}]}) == {}


def test_a_negative_quantity_leaves_its_pod_out():
    metrics = {
        "items": [
            {"metadata": {"name": "p"}, "containers": [{"usage": {"cpu": "-1m", "memory": "1"}}]}
        ]
    }
    assert usage_from_pod_metrics(metrics, bounds={}) == {}
