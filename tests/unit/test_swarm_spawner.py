"""The platform's SwarmSpawner without a swarm: the nodes it reads, the mounts it makes, the node
it keeps in its state, and its polls (the real-swarm tests are in tests/swarm)."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from docker.types import DriverConfig
from dockerspawner import SwarmSpawner
from tornado import web

from stellars.adapters.jupyterhub import PLUGIN_SETTING, PreSpawnHook, SpawnBase
from stellars.adapters.jupyterhub.hub_objects import acting_for
from stellars.adapters.jupyterhub.plugin import swarm_spawner as swarm_module
from stellars.adapters.jupyterhub.plugin.swarm_spawner import (
    LAB_LABEL,
    PlatformSwarmSpawner,
    swarm_nodes,
    task_failure,
    task_unplaced,
    volume_mounts,
)
from stellars.adapters.memory import (
    InMemoryHubDirectory,
    InMemoryPolicyStore,
    InMemoryServerStopStore,
    ManualClock,
    StaticGpuProbe,
)
from stellars.domain.docker_access import DockerAccessGroups
from stellars.domain.gpu import Gpu, GpuMode, GpuProbeResult
from stellars.domain.limits import LabLimits
from stellars.domain.policies import GroupPolicy, PlatformDefaults
from stellars.domain.services import GpuService, PolicyResolver, ServerStopService
from stellars.domain.stops import StopReason
from stellars.domain.swarm import SwarmNode


def engine_node(node_id: str, hostname: str, state="ready", availability="active", role="worker"):
    return {
        "ID": node_id,
        "Description": {"Hostname": hostname},
        "Status": {"State": state},
        "Spec": {"Availability": availability, "Role": role},
    }


def task(node_id: str, service: str, desired: str = "running") -> dict[str, Any]:
    return {"NodeID": node_id, "ServiceID": service, "DesiredState": desired}


class TestSwarmNodes:
    def test_labs_are_the_running_tasks_of_lab_services_per_node(self):
        nodes = [
            engine_node("id1", "n1", role="manager"),
            engine_node("id2", "n2", availability="drain"),
            engine_node("id3", "n3", state="down"),
        ]
        tasks = [
            task("id1", "lab-a"),
            task("id1", "lab-b"),
            task("id1", "other"),  # not a lab
            task("id2", "lab-c"),
            task("id2", "lab-d", desired="shutdown"),  # going away
            task("", "lab-e"),  # not placed yet
        ]
        assert swarm_nodes(nodes, tasks, ["lab-a", "lab-b", "lab-c", "lab-d", "lab-e"]) == [
            SwarmNode(hostname="n1", state="ready", availability="active", labs=2, manager=True),
            SwarmNode(hostname="n2", state="ready", availability="drain", labs=1),
            SwarmNode(hostname="n3", state="down", availability="active", labs=0),
        ]


class TestVolumeMounts:
    BINDS = {
        "jupyterlab-ann_home": {"bind": "/home/jovyan", "mode": "rw"},
        "jupyterhub_shared": {"bind": "/mnt/shared", "mode": "ro"},
    }

    def test_named_volumes_labelled_with_user_and_node(self):
        home, shared = volume_mounts(self.BINDS, username="ann", node="n2")
        assert home == {
            "Target": "/home/jovyan",
            "Source": "jupyterlab-ann_home",
            "Type": "volume",
            "ReadOnly": False,
            "VolumeOptions": {"Labels": {"stellars.user": "ann", "stellars.node": "n2"}},
        }
        assert (shared["Type"], shared["ReadOnly"], shared["Source"]) == (
            "volume",
            True,
            "jupyterhub_shared",
        )

    def test_without_a_pin_no_node_label_and_the_driver_is_passed(self):
        driver = DriverConfig("local", {"type": "nfs"})
        (home, _) = volume_mounts(self.BINDS, username="ann", node=None, driver_config=driver)
        assert home["VolumeOptions"] == {
            "Labels": {"stellars.user": "ann"},
            "DriverConfig": {"Name": "local", "Options": {"type": "nfs"}},
        }


def stops_service() -> ServerStopService:
    return ServerStopService(
        store=InMemoryServerStopStore(),
        directory=InMemoryHubDirectory(),
        clock=ManualClock(datetime(2026, 6, 1, tzinfo=timezone.utc)),
    )


def spawner(name: str = "ann", stops: ServerStopService | None = None) -> PlatformSwarmSpawner:
    settings = (
        {}
        if stops is None
        else {PLUGIN_SETTING: SimpleNamespace(platform=SimpleNamespace(stops=stops))}
    )
    return PlatformSwarmSpawner(user=SimpleNamespace(name=name, id=1, settings=settings))


class FakeManager:
    """The manager's answers to the spawner's `docker(...)` calls."""

    def __init__(self, nodes, tasks=(), services=()):
        self.answers = {"nodes": list(nodes), "tasks": list(tasks), "services": list(services)}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((method, kwargs))
        if isinstance(self.answers[method], BaseException):
            raise self.answers[method]
        return self.answers[method]


def test_defaults_reach_the_lab_by_dns_on_the_overlay():
    lab = spawner()
    assert lab.extra_endpoint_spec == {"mode": "dnsrr"}
    assert lab.use_internal_ip is True
    assert lab.pin_volumes is True


class TestState:
    def test_the_node_survives_a_stop_and_a_hub_restart(self):
        lab = spawner()
        lab.swarm_node = "n2"
        lab.object_id = "svc1"
        assert lab.get_state()["swarm_node"] == "n2"
        lab.clear_state()
        assert lab.get_state() == {
            "object_id": "svc1",
            "object_name": lab.object_name,
            "swarm_node": "n2",
        }
        restarted = spawner()
        restarted.load_state({"swarm_node": "n2"})
        assert restarted.swarm_node == "n2"

    def test_no_node_no_key(self):
        assert "swarm_node" not in spawner().get_state()
        lab = spawner()
        lab.load_state({})
        assert lab.swarm_node is None


class TestPlacement:
    async def test_a_first_start_records_the_least_loaded_node(self):
        lab = spawner()
        lab.docker = FakeManager(  # type: ignore[method-assign]
            [engine_node("id1", "n1"), engine_node("id2", "n2")],
            tasks=[task("id1", "lab-x")],
            services=[{"ID": "lab-x"}],
        )
        placement = await lab.place()
        assert (placement.node, lab.swarm_node) == ("n2", "n2")
        assert lab.docker.calls == [
            ("nodes", {}),
            ("tasks", {"filters": {"desired-state": "running"}}),
            ("services", {"filters": {"label": LAB_LABEL}}),
        ]

    async def test_a_refused_start_is_a_409_with_the_reason(self):
        lab = spawner()
        lab.swarm_node = "n1"
        lab.docker = FakeManager([engine_node("id1", "n1", availability="drain")])  # type: ignore[method-assign]
        with pytest.raises(web.HTTPError) as refused:
            await lab.place()
        assert refused.value.status_code == 409
        assert "which is drained" in refused.value.jupyterhub_message  # type: ignore[attr-defined]
        assert lab.swarm_node == "n1"

    async def test_without_the_pin_nothing_is_recorded(self):
        lab = spawner()
        lab.pin_volumes = False
        lab.docker = FakeManager([engine_node("id1", "n1")])  # type: ignore[method-assign]
        assert (await lab.place()).node is None
        assert lab.swarm_node is None

    async def test_create_object_pins_and_labels_the_service(self, monkeypatch):
        seen: dict[str, Any] = {}

        async def create_object(self):
            seen.update(
                placement=dict(self.extra_placement_spec),
                create=dict(self.extra_create_kwargs),
                mounts=self.mounts,
            )
            return {"ID": "svc"}

        monkeypatch.setattr(SwarmSpawner, "create_object", create_object)
        lab = spawner()
        lab.volumes = {"jupyterlab-{username}_home": "/home/jovyan"}
        lab.docker = FakeManager([engine_node("id1", "n1")])  # type: ignore[method-assign]
        assert await lab.create_object() == {"ID": "svc"}
        assert seen["placement"]["constraints"] == ["node.hostname==n1"]
        assert seen["create"]["labels"] == {LAB_LABEL: "ann"}
        assert seen["mounts"][0]["VolumeOptions"]["Labels"]["stellars.node"] == "n1"
        assert lab.placement is None


class TestPoll:
    def with_task(self, lab, state: str, node_availability: str = "active") -> None:
        async def get_task():
            return {"Status": {"State": state}}

        lab.get_task = get_task
        lab.docker = FakeManager([engine_node("id1", "n1", availability=node_availability)])

    async def test_a_pending_lab_on_a_drained_node_is_stopped_with_the_reason(self, monkeypatch):
        async def poll(self):
            return None  # stock SwarmSpawner: "pending" reads as running

        monkeypatch.setattr(SwarmSpawner, "poll", poll)
        stops = stops_service()
        lab = spawner(stops=stops)
        lab.swarm_node = "n1"
        self.with_task(lab, "pending", "drain")
        assert await lab.poll() == "node n1 is drained"
        stop = await stops.store.last("ann", "")
        assert stop is not None and stop.reason is StopReason.NODE_UNAVAILABLE
        assert stop.message == (
            "stopped: its node n1 is drained; it starts again there once an admin makes the "
            "node available"
        )

    @pytest.mark.parametrize("state", ["shutdown", "orphaned"])
    async def test_a_task_the_drain_just_ended_gives_the_nodes_reason(self, monkeypatch, state):
        # Between the drain's shutdown of the task and its pending replacement, the newest task
        # is the ended one: the stock answer would be that task's status, not the node's reason.
        async def poll(self):
            return {"State": state}

        monkeypatch.setattr(SwarmSpawner, "poll", poll)
        lab = spawner(stops=stops_service())
        lab.swarm_node = "n1"
        self.with_task(lab, state, "drain")
        assert await lab.poll() == "node n1 is drained"

    @pytest.mark.parametrize(
        ("state", "availability"),
        [("pending", "active"), ("running", "drain"), ("shutdown", "active"), ("failed", "drain")],
    )
    async def test_otherwise_the_stock_answer(self, monkeypatch, state, availability):
        async def poll(self):
            return "stock"

        monkeypatch.setattr(SwarmSpawner, "poll", poll)
        lab = spawner(stops=stops_service())
        lab.swarm_node = "n1"
        self.with_task(lab, state, availability)
        assert await lab.poll() == "stock"

    async def test_a_node_gone_from_the_swarm(self, monkeypatch):
        lab = spawner()
        lab.swarm_node = "n9"
        self.with_task(lab, "pending")
        assert await lab.poll() == "node n9 is no longer in the swarm"

    async def test_an_unreachable_manager_keeps_the_server_running(self):
        lab = spawner()

        async def get_task():
            raise requests.exceptions.ConnectionError("refused")

        lab.get_task = get_task  # type: ignore[method-assign]
        assert await lab.poll() is None

    async def test_during_a_restart_a_poll_says_running(self):
        lab = spawner()
        lab.restart_in_progress = True
        assert await lab.poll() is None

    async def test_a_start_forgets_the_last_stop(self, monkeypatch):
        async def start(self):
            return ("ann-lab", 8888)

        async def until_serving(self, ip, port, began):
            return None

        monkeypatch.setattr(SwarmSpawner, "start", start)
        monkeypatch.setattr(PlatformSwarmSpawner, "until_serving", until_serving)
        stops = stops_service()
        await stops.node_unavailable("ann", "", "n1", "is drained")
        assert await spawner(stops=stops).start() == ("ann-lab", 8888)
        assert await stops.store.last("ann", "") is None


class TestUnsupported:
    @pytest.mark.parametrize(
        ("host_config", "volumes", "missing"),
        [
            ({}, {"jupyterlab-{username}_home": "/home/jovyan"}, []),
            ({"pids_limit": 512, "memswap_limit": 2**30}, {}, []),
            ({"privileged": True}, {}, ["a privileged container"]),
            ({"device_requests": [{"Driver": "nvidia"}]}, {}, ["GPUs"]),
            (
                {},
                {"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"}},
                [],  # the Docker socket of a Docker-access group: every node has it
            ),
            (
                {},
                {
                    "/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
                    "/srv/teams/physics": {"bind": "/mnt/physics", "mode": "ro"},
                },
                ["host paths mounted (/srv/teams/physics)"],
            ),
        ],
    )
    def test_what_a_service_cannot_have(self, host_config, volumes, missing):
        lab = spawner()
        lab.extra_host_config = host_config
        lab.volumes = volumes
        assert lab.unsupported() == missing

    async def test_such_a_start_is_refused_before_any_placement(self):
        lab = spawner()
        lab.extra_host_config = {"privileged": True, "device_requests": [{"Driver": "nvidia"}]}
        lab.docker = FakeManager([engine_node("id1", "n1")])  # type: ignore[method-assign]
        with pytest.raises(web.HTTPError) as refused:
            await lab.create_object()
        assert refused.value.status_code == 409
        assert refused.value.jupyterhub_message == (  # type: ignore[attr-defined]
            "The server of ann cannot start: swarm mode cannot give it a privileged container "
            "or GPUs yet; an admin can change the user's groups"
        )
        assert lab.docker.calls == [] and lab.swarm_node is None


def swarm_task(state: str, err: str = "", node: str = "id1", created: str = "2026-06-01T00:00:01Z"):
    return {"NodeID": node, "CreatedAt": created, "Status": {"State": state, "Err": err}}


class TestTaskFailure:
    def test_none_while_the_task_is_on_its_way_or_running(self):
        assert task_failure([]) is None
        assert task_failure([swarm_task("preparing"), swarm_task("running")]) is None
        assert task_failure([swarm_task("pending", "waiting for the node")]) is None

    def test_a_rejected_task_in_its_own_words(self):
        tasks = [swarm_task("rejected", "No such image: lab:9")]
        assert (
            task_failure(tasks)
            == "The swarm could not run your server (rejected): No such image: lab:9"
        )

    def test_the_newest_failure_speaks(self):
        tasks = [
            swarm_task("failed", "task: non-zero exit (1)", created="2026-06-01T00:00:01Z"),
            swarm_task("rejected", "invalid mount\n config", created="2026-06-01T00:00:09Z"),
        ]
        assert task_failure(tasks) == (
            "The swarm could not run your server (rejected): invalid mount config"
        )

    def test_a_task_no_node_can_take_is_no_failure_but_unplaced(self):
        tasks = [swarm_task("pending", "no suitable node (insufficient resources on 2 nodes)")]
        assert task_failure(tasks) is None
        assert task_unplaced(tasks) == (
            "No node of the swarm can run your server now: no suitable node (insufficient "
            "resources on 2 nodes)"
        )

    def test_only_the_newest_task_is_unplaced(self):
        unplaced = swarm_task("pending", "no suitable node (x)", created="2026-06-01T00:00:01Z")
        assert (
            task_unplaced([unplaced, swarm_task("running", created="2026-06-01T00:00:02Z")]) is None
        )
        assert task_unplaced([]) is None
        assert task_unplaced([swarm_task("pending", "waiting")]) is None


class FakeStart:
    """The manager through a whole start: the service's tasks answer in turn (the last one
    repeats), the lab answers HTTP from a given ask on."""

    def __init__(self, monkeypatch, tasks: list[list[dict[str, Any]]], answers_from: int = 1):
        self.tasks = tasks
        self.asks = 0
        self.answers_from = answers_from
        self.calls: list[str] = []

        async def get_object(spawner):
            return None

        async def create_object(spawner):
            return {"ID": "svc1"}

        async def get_ip_and_port(spawner):
            return spawner.service_name, 8888

        async def lab_answers(url, timeout=5.0):
            self.asks += 1
            self.urls.append(url)
            return self.asks >= self.answers_from

        self.urls: list[str] = []
        monkeypatch.setattr(SwarmSpawner, "get_object", get_object)
        monkeypatch.setattr(SwarmSpawner, "create_object", create_object)
        monkeypatch.setattr(SwarmSpawner, "get_ip_and_port", get_ip_and_port)
        monkeypatch.setattr(swarm_module, "lab_answers", lab_answers)
        monkeypatch.setattr(swarm_module, "TASK_POLL_SECONDS", 0.01)
        monkeypatch.setattr(swarm_module, "SERVE_POLL_SECONDS", 0.01)

    async def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(method)
        if method == "nodes":
            return [engine_node("id1", "n1"), engine_node("id2", "n2")]
        if method in ("services",):
            return []
        if method == "tasks":
            if kwargs.get("filters") == {"desired-state": "running"}:
                return []
            return self.tasks.pop(0) if len(self.tasks) > 1 else self.tasks[0]
        if method == "inspect_node":
            return {"Description": {"Hostname": {"id1": "n1", "id2": "n2"}[args[0]]}}
        raise AssertionError(f"unexpected call {method}")


class TestTheStart:
    async def test_the_steps_in_order_and_ready_only_once_serving(self, monkeypatch):
        fake = FakeStart(
            monkeypatch,
            [
                [swarm_task("pending")],
                [swarm_task("preparing")],
                [swarm_task("running", node="id2")],
            ],
            answers_from=3,
        )
        lab = spawner()
        lab.docker = fake  # type: ignore[method-assign]
        assert await lab.start() == (lab.service_name, 8888)
        events = [(event["progress"], event["message"]) for event in lab.feed.events]
        assert events == [
            (30, "Your server goes to node n1 (first start: the node with the fewest labs)."),
            (45, f"The service {lab.service_name} was created; its node prepares the task."),
            (70, "The task of your server runs on node n2."),
            (80, "Waiting for JupyterLab to answer..."),
            (100, "JupyterLab is serving at /."),
        ]
        assert (lab.swarm_node, lab.task_node) == ("n1", "n2")
        assert fake.asks == 3 and fake.urls[0] == f"http://{lab.service_name}:8888/api"

    async def test_a_task_the_swarm_cannot_run_fails_the_start_at_once(self, monkeypatch):
        missing = swarm_task("rejected", "No such image: stellars-lab:missing")
        fake = FakeStart(monkeypatch, [[swarm_task("pending")], [missing]])
        lab = spawner()
        lab.docker = fake  # type: ignore[method-assign]
        with pytest.raises(web.HTTPError) as failed:
            await lab.start()
        assert failed.value.status_code == 503
        assert failed.value.jupyterhub_message == (  # type: ignore[attr-defined]
            "The swarm could not run your server (rejected): No such image: stellars-lab:missing"
        )
        assert fake.asks == 0 and fake.calls.count("tasks") == 3  # placement's, then two polls

    async def test_a_task_no_node_takes_fails_once_the_scheduler_has_said_so_a_while(
        self, monkeypatch
    ):
        unplaced = swarm_task("pending", "no suitable node (insufficient resources on 1 node)")
        fake = FakeStart(monkeypatch, [[unplaced]])
        monkeypatch.setattr(swarm_module, "UNPLACED_SECONDS", 0.05)
        monkeypatch.setattr(swarm_module, "TASK_POLL_MAX_SECONDS", 0.01)
        lab = spawner()
        lab.docker = fake  # type: ignore[method-assign]
        with pytest.raises(web.HTTPError) as failed:
            await lab.start()
        assert fake.calls.count("tasks") >= 3  # placement's, then never at the first sight
        assert failed.value.status_code == 503
        assert failed.value.jupyterhub_message == (  # type: ignore[attr-defined]
            "No node of the swarm can run your server now: no suitable node (insufficient "
            "resources on 1 node)"
        )

    async def test_a_task_placed_within_the_while_starts(self, monkeypatch):
        unplaced = swarm_task("pending", "no suitable node (insufficient resources on 1 node)")
        fake = FakeStart(monkeypatch, [[unplaced], [unplaced], [swarm_task("running")]])
        monkeypatch.setattr(swarm_module, "TASK_POLL_MAX_SECONDS", 0.01)
        lab = spawner()
        lab.docker = fake  # type: ignore[method-assign]
        assert await lab.start() == (lab.service_name, 8888)

    async def test_a_task_that_ends_before_the_lab_serves_fails_with_its_words(self, monkeypatch):
        fake = FakeStart(
            monkeypatch,
            [[swarm_task("running")], [swarm_task("failed", "task: non-zero exit (1)")]],
            answers_from=99,
        )
        lab = spawner()
        lab.docker = fake  # type: ignore[method-assign]
        with pytest.raises(web.HTTPError) as failed:
            await lab.start()
        assert failed.value.status_code == 502
        assert failed.value.jupyterhub_message == (  # type: ignore[attr-defined]
            "The swarm could not run your server (failed): task: non-zero exit (1)"
        )
        assert [event["progress"] for event in lab.feed.events][-1] == 80

    async def test_a_lab_that_never_answers_fails_before_jupyterhubs_timeout(self, monkeypatch):
        lab = spawner()
        lab.docker = FakeStart(monkeypatch, [[swarm_task("running")]], answers_from=10**9)  # type: ignore[method-assign]
        lab.start_timeout = 3
        lab.http_timeout = 30
        with pytest.raises(web.HTTPError) as failed:
            await lab.start()
        assert failed.value.status_code == 502
        assert failed.value.jupyterhub_message.startswith(  # type: ignore[attr-defined]
            "JupyterLab did not answer within 0 s of its task's start on node n1"
        )


class TestAStopTheHubWasAskedFor:
    @pytest.mark.parametrize(
        ("who", "reason", "message"),
        [
            (
                SimpleNamespace(name="ann", kind="user"),
                StopReason.STOPPED_BY_USER,
                "stopped: stopped by its user ann",
            ),
            (
                SimpleNamespace(name="root", kind="user"),
                StopReason.STOPPED_BY_ADMIN,
                "stopped: stopped by the admin root",
            ),
            (
                SimpleNamespace(name="idle-culler", kind="service"),
                StopReason.STOPPED_BY_SERVICE,
                "stopped: stopped by the service idle-culler",
            ),
        ],
    )
    async def test_the_requester_is_recorded_and_the_feed_cleared(
        self, monkeypatch, who, reason, message
    ):
        removed: list[str] = []

        async def stop(self, now=False):
            removed.append(self.service_name)

        monkeypatch.setattr(SwarmSpawner, "stop", stop)
        stops = stops_service()
        lab = spawner(stops=stops)
        lab.report_progress(swarm_module.task_running("n1"))
        with acting_for(who):
            await lab.stop()
        assert removed == [lab.service_name] and lab.feed.events == []
        stop_record = await stops.store.last("ann", "")
        assert stop_record is not None
        assert (stop_record.reason, stop_record.message) == (reason, message)

    async def test_a_stop_outside_a_request_records_nothing(self, monkeypatch):
        async def stop(self, now=False):
            return None

        monkeypatch.setattr(SwarmSpawner, "stop", stop)
        stops = stops_service()
        await spawner(stops=stops).stop()
        assert await stops.store.last("ann", "") is None

    async def test_a_restart_is_recorded(self):
        stops = stops_service()
        await spawner(stops=stops).record_restart("root")
        stop_record = await stops.store.last("ann", "")
        assert stop_record is not None and stop_record.reason is StopReason.RESTARTED


SOCKET_BIND = {"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"}}


class TestTheDockerSocket:
    def test_a_bind_mount_of_the_nodes_socket_beside_the_named_volumes(self):
        lab = spawner()
        lab.volumes = {"jupyterlab-{username}_home": "/home/jovyan", **SOCKET_BIND}
        home, sock = lab.mounts
        assert home["Type"] == "volume"
        assert sock == {
            "Target": "/var/run/docker.sock",
            "Source": "/var/run/docker.sock",
            "Type": "bind",
            "ReadOnly": False,
        }

    def test_the_sockets_group_for_a_lab_that_mounts_it_only(self):
        lab = spawner()
        lab.docker_socket_gid = 998
        assert lab.socket_groups() == []
        lab.volumes = dict(SOCKET_BIND)
        assert lab.socket_groups() == ["998"]
        lab.docker_socket_gid = None
        assert lab.socket_groups() == []

    def test_the_default_group_is_the_sockets_as_the_hub_sees_it(self, tmp_path):
        path = tmp_path / "docker.sock"
        path.write_text("")
        lab = PlatformSwarmSpawner(
            user=SimpleNamespace(name="ann", id=1, settings={}), docker_socket=str(path)
        )
        assert lab.docker_socket_gid == path.stat().st_gid
        gone = PlatformSwarmSpawner(
            user=SimpleNamespace(name="ann", id=1, settings={}),
            docker_socket=str(tmp_path / "none.sock"),
        )
        assert gone.docker_socket_gid is None

    async def test_the_service_gets_the_group_and_keeps_configured_ones(self, monkeypatch):
        seen: dict[str, Any] = {}

        async def create_object(self):
            seen.update(container=dict(self.extra_container_spec), mounts=self.mounts)
            return {"ID": "svc"}

        monkeypatch.setattr(SwarmSpawner, "create_object", create_object)
        monkeypatch.setattr(swarm_module, "TASK_POLL_SECONDS", 0.01)
        lab = spawner()
        lab.volumes = dict(SOCKET_BIND)
        lab.docker_socket_gid = 998
        lab.extra_container_spec = {"user": "1000", "groups": ["100"]}
        lab.docker = FakeManager([engine_node("id1", "n1")])  # type: ignore[method-assign]
        await lab.create_object()
        assert seen["container"] == {
            "user": "1000",
            "groups": ["100", "998"],
            "labels": {"stellars.lab": "ann"},
        }
        assert [mount["Type"] for mount in seen["mounts"]] == ["bind"]
        assert lab.extra_container_spec == {"user": "1000", "groups": ["100"]}  # this start only

    async def test_the_labs_container_carries_the_lab_label_beside_configured_ones(
        self, monkeypatch
    ):
        # The node samplers find a node's labs by their containers' label; a service's own
        # labels never reach its task's container.
        seen: dict[str, Any] = {}

        async def create_object(self):
            seen.update(container=dict(self.extra_container_spec))
            return {"ID": "svc"}

        monkeypatch.setattr(SwarmSpawner, "create_object", create_object)
        lab = spawner()
        lab.extra_container_spec = {"labels": {"team": "x"}}
        lab.docker = FakeManager([engine_node("id1", "n1")])  # type: ignore[method-assign]
        await lab.create_object()
        assert seen["container"]["labels"] == {"team": "x", "stellars.lab": "ann"}


class TestGpusFromTheSwarm:
    """The spawn hook hands a swarm lab the GPU count of its user's policy (the hub gives out
    none), and the spawner reserves that many of the nodes' generic resources."""

    @staticmethod
    async def hook(mode: GpuMode = GpuMode.AUTO) -> tuple[PreSpawnHook, GpuService]:
        store = InMemoryPolicyStore(["ml", "viz"])
        await store.put(GroupPolicy(group="ml", gpus=2))
        await store.put(GroupPolicy(group="viz", gpus=0))
        gpus = GpuService(
            probe=StaticGpuProbe(
                GpuProbeResult((Gpu(index=0, name="A100", memory_mib=1, uuid="GPU-0hub"),))
            ),
            mode=mode,
        )
        resolver = PolicyResolver(
            reader=store,
            directory=InMemoryHubDirectory(),
            defaults=lambda: PlatformDefaults(image="lab", gpus=1),
            allowed_images=None,
            volumes={},
            access_groups=DockerAccessGroups(),
        )
        hook = PreSpawnHook(
            base=SpawnBase(), groups=DockerAccessGroups(), gpu=gpus, limits=LabLimits(),
            policies=resolver,
        )  # fmt: skip
        return hook, gpus

    @staticmethod
    def member(name: str, *groups: str) -> PlatformSwarmSpawner:
        lab = spawner(name)
        lab.user.groups = [SimpleNamespace(name=group) for group in groups]
        return lab

    async def test_the_policys_count_goes_to_the_spawner_not_to_the_hubs_gpus(self):
        hook, gpus = await self.hook()
        ml, plain, viz = self.member("ann", "ml"), self.member("bob"), self.member("cy", "viz")
        for lab in (ml, plain, viz):
            lab.feed.begin()
            await hook(lab)
        assert [lab.gpus_wanted for lab in (ml, plain, viz)] == [2, 1, 0]
        assert all("device_requests" not in lab.extra_host_config for lab in (ml, plain, viz))
        assert dict(gpus.holdings) == {}  # the hub holds none of its own GPUs for them
        assert ml.feed.events[-1]["message"] == "2 GPUs asked of the swarm for your server."
        assert plain.feed.events[-1]["message"] == "1 GPU asked of the swarm for your server."
        assert viz.feed.events[-1]["message"] == "No GPU for this server."

    async def test_none_while_gpus_are_off(self):
        hook, _ = await self.hook(GpuMode.OFF)
        lab = self.member("ann", "ml")
        await hook(lab)
        assert lab.gpus_wanted == 0

    async def test_the_service_reserves_them_for_this_start_only(self, monkeypatch):
        seen: list[dict[str, Any]] = []

        async def create_object(self):
            seen.append(dict(self.extra_resources_spec))
            return {"ID": "svc"}

        monkeypatch.setattr(SwarmSpawner, "create_object", create_object)
        lab = spawner()
        lab.extra_resources_spec = {"mem_reservation": 2**30}
        lab.docker = FakeManager([engine_node("id1", "n1")])  # type: ignore[method-assign]
        lab.gpus_wanted = 2
        await lab.create_object()
        lab.gpus_wanted = 0
        await lab.create_object()
        assert seen == [
            {"mem_reservation": 2**30, "generic_resources": {"NVIDIA-GPU": 2}},
            {"mem_reservation": 2**30},
        ]
        assert lab.extra_resources_spec == {"mem_reservation": 2**30}

    def test_the_labs_gpu_variables(self):
        hub_said = {"ENABLE_GPU_SUPPORT": "0", "NVIDIA_DETECTED": "0", "TZ": "UTC"}
        assert swarm_module.gpu_environment(hub_said, 0) == {
            **hub_said,
            "NVIDIA_VISIBLE_DEVICES": "void",
        }
        assert swarm_module.gpu_environment(
            {**hub_said, "NVIDIA_VISIBLE_DEVICES": "void", "CUDA_VISIBLE_DEVICES": ""}, 1
        ) == {"ENABLE_GPU_SUPPORT": "1", "ENABLE_GPUSTAT": "1", "NVIDIA_DETECTED": "1", "TZ": "UTC"}

    def test_no_free_gpu_says_so(self):
        words = "no suitable node (insufficient resources on 2 nodes)"
        assert task_unplaced([swarm_task("pending", words)], gpus=1) == (
            "No GPU is free for your server now: it asks for 1 GPU, and no node it may run on "
            f"has that many free (the swarm says: {words})"
        )
        # Not about resources: the scheduler's own words.
        other = "no suitable node (scheduling constraints not satisfied on 2 nodes)"
        assert task_unplaced([swarm_task("pending", other)], gpus=1) == (
            f"No node of the swarm can run your server now: {other}"
        )

    async def test_the_start_names_the_gpus_the_swarm_assigned(self, monkeypatch):
        running = swarm_task("running", node="id2")
        running["GenericResources"] = [
            {"NamedResourceSpec": {"Kind": "NVIDIA-GPU", "Value": "GPU-b1"}},
            {"NamedResourceSpec": {"Kind": "OTHER", "Value": "x"}},
            {"DiscreteResourceSpec": {"Kind": "NVIDIA-GPU", "Value": 1}},
            {"NamedResourceSpec": {"Kind": "NVIDIA-GPU", "Value": "GPU-b2"}},
        ]
        lab = spawner()
        lab.docker = FakeStart(monkeypatch, [[running]])  # type: ignore[method-assign]
        await lab.start()
        assert lab.task_gpus == ("GPU-b1", "GPU-b2")
        assert lab.feed.events[2]["message"] == (
            "The task of your server runs on node n2 with GPUs GPU-b1, GPU-b2."
        )


def test_a_task_the_constraint_enforcer_rejected_is_replaced_not_a_failure():
    rejected = swarm_task(
        "rejected", "assigned node no longer meets constraints", created="2026-06-01T00:00:01Z"
    )
    assert task_failure([rejected, swarm_task("pending", created="2026-06-01T00:00:02Z")]) is None
    assert task_failure([rejected]) is None
    missing = swarm_task("rejected", "No such image: x:1", created="2026-06-01T00:00:00Z")
    assert task_failure([rejected, missing]) == (
        "The swarm could not run your server (rejected): No such image: x:1"
    )
