"""The ContainerStats port over the metrics API, on scripted API answers (the JSON fixtures):
the platform's container names in and out, running labs only, three requests a pass, and the
API server's failures passed on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stellars.adapters.kubernetes import MetricsApiStats, pod_name
from stellars.domain.containers import ContainerUsage
from stellars.domain.errors import BackendUnavailable
from stellars.ports import ContainerStats

FIXTURES = Path(__file__).parent / "fixtures" / "kubernetes"
SELECTOR = "labelSelector=component%3Dsingleuser-server"
GIB = 1024**3


class ScriptedApi:
    """Answers GETs from the fixtures by path, and records them."""

    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, path: str) -> object:
        self.asked.append(path)
        answer = self.answers[path]
        if isinstance(answer, Exception):
            raise answer
        return answer


def fixture(name: str) -> object:
    return json.loads((FIXTURES / name).read_text())


METRICS_PATH = f"/apis/metrics.k8s.io/v1beta1/namespaces/stellars/pods?{SELECTOR}"
PODS_PATH = f"/api/v1/namespaces/stellars/pods?{SELECTOR}"
NODES_PATH = "/api/v1/nodes"


def api(**overrides: object) -> ScriptedApi:
    """The fixtures' answers; `metrics`, `pods` or `nodes` replaces one of them."""
    answers = {
        METRICS_PATH: overrides.get("metrics", fixture("pod_metrics.json")),
        PODS_PATH: overrides.get("pods", fixture("pods.json")),
        NODES_PATH: overrides.get("nodes", fixture("nodes.json")),
    }
    return ScriptedApi(answers)


async def test_usage_of_running_labs_under_the_platforms_names():
    scripted = api()
    stats: ContainerStats = MetricsApiStats(scripted, namespace="stellars")
    usage = await stats.usage(["jupyterlab-alice", "jupyterlab-bob", "jupyterlab-missing"])
    assert usage == {
        "jupyterlab-alice": ContainerUsage(
            cpu_percent=150.3, memory_bytes=512 * 1024**2, memory_limit_bytes=4 * GIB
        ),
        "jupyterlab-bob": ContainerUsage(
            cpu_percent=0.3,
            memory_bytes=97 * 1024**2,
            memory_limit_bytes=2_000_000_000 + 64 * 1024**2,
        ),
    }
    assert len(scripted.asked) == 3  # whatever the number of labs


async def test_only_the_names_asked_for_come_back():
    usage = await MetricsApiStats(api(), namespace="stellars").usage(["jupyterlab-bob"])
    assert set(usage) == {"jupyterlab-bob"}


async def test_a_name_that_is_no_pod_name_is_found_under_its_derived_pod():
    metrics = fixture("pod_metrics.json")
    pods = fixture("pods.json")
    assert isinstance(metrics, dict) and isinstance(pods, dict)
    derived = pod_name("JupyterLab-Émile")
    metrics["items"][0]["metadata"]["name"] = derived
    pods["items"][0]["metadata"]["name"] = derived
    usage = await MetricsApiStats(api(metrics=metrics, pods=pods), namespace="stellars").usage(
        ["JupyterLab-Émile"]
    )
    assert set(usage) == {"JupyterLab-Émile"}
    assert usage["JupyterLab-Émile"].memory_limit_bytes == 4 * GIB


async def test_a_pod_that_is_not_running_is_left_out_even_with_metrics():
    pods = fixture("pods.json")
    assert isinstance(pods, dict)
    pods["items"][0]["status"]["phase"] = "Failed"
    usage = await MetricsApiStats(api(pods=pods), namespace="stellars").usage(
        ["jupyterlab-alice", "jupyterlab-bob"]
    )
    assert set(usage) == {"jupyterlab-bob"}


async def test_no_names_ask_nothing():
    scripted = api()
    assert await MetricsApiStats(scripted, namespace="stellars").usage([]) == {}
    assert scripted.asked == []


@pytest.mark.parametrize("failing", ["metrics", "pods", "nodes"])
async def test_an_api_server_that_fails_is_backend_unavailable(failing):
    scripted = api(**{failing: BackendUnavailable("the API server did not answer")})
    with pytest.raises(BackendUnavailable, match="did not answer"):
        await MetricsApiStats(scripted, namespace="stellars").usage(["jupyterlab-alice"])


QUOTED = "labelSelector=app%3Dlab%2Ctier%3Dx"


async def test_the_namespace_and_selector_are_quoted_into_the_paths():
    scripted = ScriptedApi(
        {
            f"/apis/metrics.k8s.io/v1beta1/namespaces/team-a/pods?{QUOTED}": {},
            f"/api/v1/namespaces/team-a/pods?{QUOTED}": {},
            "/api/v1/nodes": {},
        }
    )
    stats = MetricsApiStats(scripted, namespace="team-a", selector="app=lab,tier=x")
    assert await stats.usage(["jupyterlab-alice"]) == {}
    assert len(scripted.asked) == 3
