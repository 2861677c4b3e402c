"""Volume removal on a swarm node by a one-off job (adapters.docker.node_jobs) and the job's own
entry point (entrypoints.volume_job), on fakes of the engines' answers (the real job on a real
worker node is in tests/swarm/test_volume_jobs.py)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest

import stellars.entrypoints.volume_job as volume_job
from stellars.adapters.docker import DockerEngine
from stellars.adapters.docker.node_jobs import (
    JOB_LABEL,
    SwarmVolumeJobs,
    job_state,
    job_task_template,
    outcomes_line,
    parse_outcomes,
)
from stellars.domain.errors import BackendUnavailable, InvalidValue
from stellars.domain.settings import SpawnerSettings
from stellars.domain.volumes import VolumeOutcome

REMOVED, NOT_FOUND, IN_USE = VolumeOutcome.REMOVED, VolumeOutcome.NOT_FOUND, VolumeOutcome.IN_USE


def test_the_outcome_line_round_trips():
    outcomes = {"b_home": REMOVED, "a_cache": NOT_FOUND, "c": IN_USE}
    line = outcomes_line(outcomes)
    assert "\n" not in line
    assert json.loads(line) == {
        "volume_outcomes": {"a_cache": "not found", "b_home": "removed", "c": "in use"}
    }
    assert parse_outcomes(line, ["b_home", "a_cache", "c"], "n2") == outcomes


def test_parse_outcomes_takes_the_last_outcome_line_among_other_output():
    logs = "\n".join(
        [
            outcomes_line({"v": NOT_FOUND}),
            "a warning",
            '{"other": 1}',
            "[1, 2]",
            outcomes_line({"v": REMOVED, "w": IN_USE}),
            "",
        ]
    )
    assert parse_outcomes(logs, ["v"], "n2") == {"v": REMOVED}


@pytest.mark.parametrize(
    ("logs", "message"),
    [
        ("", "the volume job on node n2 printed no outcomes: nothing"),
        ("boom\nTraceback: x", "the volume job on node n2 printed no outcomes: Traceback: x"),
        ('{"volume_outcomes": []}', "printed no outcomes"),
        ('{"volume_outcomes": {}}', "the volume job on node n2 gave no outcome for volume 'v'"),
        ('{"volume_outcomes": {"v": "gone"}}', "gave no outcome for volume 'v'"),
    ],
)
def test_parse_outcomes_refuses_what_is_not_an_answer(logs, message):
    with pytest.raises(BackendUnavailable, match=message.replace("(", r"\(")):
        parse_outcomes(logs, ["v"], "n2")


def test_the_job_runs_the_entry_point_pinned_to_the_node_with_its_socket():
    template = job_task_template("stellars-hub:7", "worker-1", ["a_home", "a_cache"])
    spec = template["ContainerSpec"]
    assert spec["Image"] == "stellars-hub:7"
    assert spec["Command"] == [
        "python", "-m", "stellars.entrypoints.volume_job", "remove", "--in-use-wait-seconds",
        "0", "--", "a_home", "a_cache",
    ]  # fmt: skip
    waiting = job_task_template("i", "n", ["v"], in_use_wait_seconds=2.5)["ContainerSpec"]
    assert waiting["Command"][4:7] == ["--in-use-wait-seconds", "2.5", "--"]
    assert spec["User"] == "0"
    assert [(m["Source"], m["Target"], m["Type"]) for m in spec["Mounts"]] == [
        ("/var/run/docker.sock", "/var/run/docker.sock", "bind")
    ]
    assert template["Placement"]["Constraints"] == ["node.hostname==worker-1"]
    assert template["RestartPolicy"]["Condition"] == "none"


def test_job_state():
    assert job_state([]) == ("new", "")
    assert job_state([{}]) == ("new", "")
    assert job_state([{"Status": {"State": "complete", "Message": "finished"}}]) == (
        "complete",
        "finished",
    )
    assert job_state([{"Status": {"State": "failed", "Err": "exit 2", "Message": "x"}}]) == (
        "failed",
        "exit 2",
    )


def _not_found() -> docker.errors.NotFound:
    response = SimpleNamespace(status_code=404, reason="nf", url="")
    return docker.errors.NotFound("no such service", response=response)


class FakeManager:
    """The manager's low-level API as a job sees it: the job's service, its task's states one
    look after another, and its logs."""

    def __init__(self, states: list[tuple[str, str]], logs: bytes | list[bytes] = b"") -> None:
        self.states = states
        self.logs = logs
        self.created: list[dict[str, Any]] = []
        self.removed: list[str] = []
        self.looks = 0
        self.create_error: Exception | None = None

    def create_service(self, task_template, *, name, labels, mode):
        if self.create_error is not None:
            raise self.create_error
        self.created.append({"template": task_template, "name": name, "labels": labels,
                             "mode": mode})  # fmt: skip
        return {"ID": "job1"}

    def tasks(self, filters):
        assert filters == {"service": "job1"}
        state, message = self.states[min(self.looks, len(self.states) - 1)]
        self.looks += 1
        return [] if state == "" else [{"Status": {"State": state, "Err": message}}]

    def service_logs(self, service, *, stdout, stderr):
        assert (service, stdout, stderr) == ("job1", True, True)
        return iter(self.logs) if isinstance(self.logs, list) else self.logs

    def nodes(self):
        def node(hostname, state, availability):
            return {"Description": {"Hostname": hostname}, "Status": {"State": state},
                    "Spec": {"Availability": availability}}  # fmt: skip

        return [node("w2", "ready", "active"), node("down", "down", "active"),
                node("drained", "ready", "drain"), node("m1", "ready", "active"),
                node("paused", "ready", "pause")]  # fmt: skip

    def remove_service(self, service):
        self.removed.append(service)
        if service != "job1":
            raise _not_found()


def jobs_on(api: FakeManager, timeout: float = 5) -> SwarmVolumeJobs:
    client: Any = SimpleNamespace(api=api)
    engine = DockerEngine(lambda: client, executor=ThreadPoolExecutor(2), timeout_seconds=5)
    return SwarmVolumeJobs(engine, image="stellars-hub:7", timeout_seconds=timeout)


async def test_a_job_that_completes_gives_its_outcomes_and_is_removed(monkeypatch):
    monkeypatch.setattr("stellars.adapters.docker.node_jobs._POLL_SECONDS", 0)
    line = outcomes_line({"a_home": REMOVED, "a_cache": IN_USE}).encode()
    api = FakeManager([("", ""), ("pending", ""), ("running", ""), ("complete", "")],
                      [b"starting\n", line, b"\n"])  # fmt: skip
    outcomes = await jobs_on(api).remove("worker-1", ["a_home", "a_cache", "a_home"])
    assert outcomes == {"a_home": REMOVED, "a_cache": IN_USE}
    assert api.looks == 4
    [created] = api.created
    assert created["name"].startswith("stellars-volume-job-")
    assert created["labels"] == {JOB_LABEL: "worker-1"}
    assert created["mode"] == {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}}
    command = created["template"]["ContainerSpec"]["Command"]
    assert command[-5:] == ["--in-use-wait-seconds", "20", "--", "a_home", "a_cache"]
    assert api.removed == ["job1"]


async def test_logs_as_one_byte_string():
    api = FakeManager([("complete", "")], outcomes_line({"v": NOT_FOUND}).encode())
    assert await jobs_on(api).remove("n2", ["v"]) == {"v": NOT_FOUND}


async def test_ready_nodes_are_those_that_take_tasks_now():
    assert await jobs_on(FakeManager([])).ready_nodes() == ["m1", "w2"]


async def test_no_names_runs_no_job():
    api = FakeManager([("complete", "")])
    assert await jobs_on(api).remove("n2", []) == {}
    assert api.created == []


@pytest.mark.parametrize(
    ("state", "message", "logs", "expected"),
    [
        ("failed", "task: non-zero exit (2)", b"", "node n2 failed: task: non-zero exit \\(2\\)"),
        ("failed", "", b"volume job: engine down\n", "node n2 failed: volume job: engine down"),
        ("rejected", "No such image: stellars-hub:7", b"", "node n2 rejected: No such image"),
        ("complete", "", b"garbage", "node n2 printed no outcomes: garbage"),
    ],
)
async def test_a_job_that_fails_is_backend_unavailable_naming_the_node(state, message, logs,
                                                                       expected):  # fmt: skip
    api = FakeManager([(state, message)], logs)
    with pytest.raises(BackendUnavailable, match=expected):
        await jobs_on(api).remove("n2", ["v"])
    assert api.removed == ["job1"]


async def test_a_job_that_never_runs_times_out_naming_the_node_and_is_removed(monkeypatch):
    monkeypatch.setattr("stellars.adapters.docker.node_jobs._POLL_SECONDS", 0.01)
    api = FakeManager([("pending", "no suitable node")])
    with pytest.raises(
        BackendUnavailable,
        match=r"volume job on node n2 did not finish within 0.05 s: its task is pending "
        r"\(no suitable node\)",
    ):
        await jobs_on(api, timeout=0.05).remove("n2", ["v"])
    assert api.removed == ["job1"]


async def test_a_job_the_manager_refuses_to_create(monkeypatch):
    api = FakeManager([("complete", "")])
    response = SimpleNamespace(status_code=500, reason="x", url="")
    api.create_error = docker.errors.APIError("x", response=response, explanation="not a manager")
    with pytest.raises(BackendUnavailable, match="node n2 could not be created: not a manager"):
        await jobs_on(api).remove("n2", ["v"])
    assert api.removed == []


async def test_an_engine_that_does_not_answer_is_backend_unavailable():
    def down() -> Any:
        raise BackendUnavailable("Docker engine at tcp://m:2375 unreachable")

    engine = DockerEngine(down, executor=ThreadPoolExecutor(1), timeout_seconds=5)
    with pytest.raises(BackendUnavailable, match="unreachable"):
        await SwarmVolumeJobs(engine, image="i").remove("n2", ["v"])


# --- the job's entry point ----------------------------------------------------------------


class FakeNodeEngine:
    """A node's engine as DockerVolumeStore removes volumes on it; `freed_after` tries of a
    mounted volume free it (its container is gone by then)."""

    def __init__(self, freed_after: int | None = None) -> None:
        self.volumes = {"a_home": "free", "a_work": "mounted"}
        self.freed_after = freed_after
        self.tries: list[str] = []

    def remove_volume(self, name):
        self.tries.append(name)
        freed = self.freed_after is not None and self.tries.count(name) > self.freed_after
        if freed and name in self.volumes:
            self.volumes[name] = "free"
        state = self.volumes.get(name)
        if state is None:
            raise docker.errors.NotFound("nf", response=SimpleNamespace(status_code=404))
        if state == "mounted":
            raise docker.errors.APIError("in use", response=SimpleNamespace(status_code=409))
        del self.volumes[name]


def test_the_entry_point_removes_through_the_local_engine_and_prints_one_line(monkeypatch,
                                                                              capsys):  # fmt: skip
    node = FakeNodeEngine()
    urls = []

    def connect(url, *, timeout_seconds):
        urls.append(url)
        return SimpleNamespace(api=node)

    monkeypatch.setattr(volume_job, "connect", connect)
    status = volume_job.main(["remove", "a_home", "a_work", "a_cache"], environ={})
    assert status == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert parse_outcomes(out, ["a_home", "a_work", "a_cache"], "n") == {
        "a_home": REMOVED,
        "a_work": IN_USE,
        "a_cache": NOT_FOUND,
    }
    assert node.volumes == {"a_work": "mounted"}
    assert urls == ["unix:///var/run/docker.sock"]
    volume_job.main(["remove", "x"], environ={"DOCKER_HOST": "tcp://node:2375"})
    assert urls[-1] == "tcp://node:2375"


def test_the_entry_point_says_why_and_exits_2_when_the_engine_does_not_answer(monkeypatch,
                                                                              capsys):  # fmt: skip
    def connect(url, *, timeout_seconds):
        raise BackendUnavailable(f"Docker engine at {url} unreachable")

    monkeypatch.setattr(volume_job, "connect", connect)
    assert volume_job.main(["remove", "v"], environ={}) == volume_job.ENGINE_FAILED
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "volume job: Docker engine at unix:///var/run/docker.sock unreachable" in captured.err


def test_the_entry_point_needs_a_command_and_a_name(capsys):
    with pytest.raises(SystemExit):
        volume_job.main([], environ={})
    with pytest.raises(SystemExit):
        volume_job.main(["remove"], environ={})


def test_the_job_image_setting():
    assert SpawnerSettings().swarm_job_image == "stellars-hub:latest"
    assert SpawnerSettings(swarm_job_image="hub:7").swarm_job_image == "hub:7"
    for blank in ("", "  "):
        with pytest.raises(InvalidValue) as refused:
            SpawnerSettings(swarm_job_image=blank)
        assert (refused.value.field, refused.value.message) == (
            "swarm_job_image",
            "must be a non-empty string",
        )


def test_a_volume_in_use_is_tried_again_until_the_wait_is_over(monkeypatch, capsys):
    monkeypatch.setattr(volume_job, "RETRY_SECONDS", 0)
    node = FakeNodeEngine(freed_after=2)  # the third try finds it free
    monkeypatch.setattr(volume_job, "connect", lambda url, **_: SimpleNamespace(api=node))
    status = volume_job.main(
        ["remove", "--in-use-wait-seconds", "30", "a_home", "a_work"], environ={}
    )
    assert status == 0
    outcomes = parse_outcomes(capsys.readouterr().out, ["a_home", "a_work"], "n")
    assert outcomes == {"a_home": REMOVED, "a_work": REMOVED}
    assert node.tries.count("a_work") == 3 and node.tries.count("a_home") == 1


async def test_a_volume_still_in_use_when_the_wait_is_over_is_in_use(monkeypatch):
    monkeypatch.setattr(volume_job, "RETRY_SECONDS", 0)
    node = FakeNodeEngine()  # never freed
    ticks = iter(range(100))
    engine = DockerEngine(lambda: SimpleNamespace(api=node), executor=ThreadPoolExecutor(1))
    outcomes = await volume_job.remove_volumes(
        engine, ["a_work"], in_use_wait_seconds=3, monotonic=lambda: float(next(ticks))
    )
    assert outcomes == {"a_work": IN_USE}
    assert node.tries == ["a_work"] * 3  # at 1 and 2 s still within the wait; at 3 s over
    node = FakeNodeEngine()
    engine = DockerEngine(lambda: SimpleNamespace(api=node), executor=ThreadPoolExecutor(1))
    assert await volume_job.remove_volumes(engine, ["a_work"]) == {"a_work": IN_USE}
    assert node.tries == ["a_work"]  # no wait: one try
