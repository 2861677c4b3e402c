"""The lab-service control of swarm mode, on the engine's answers (the real-swarm restart is in
tests/swarm/test_platform_on_swarm.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import docker
import docker.errors
import pytest

from stellars.adapters.docker import DockerEngine, SwarmServiceControl
from stellars.adapters.docker.services import running_task, service_docker_access
from stellars.domain.docker_access import DockerAccess
from stellars.domain.errors import ContainerNotFound


def task(desired: str = "running", state: str = "running", force: int | None = None):
    spec = {} if force is None else {"ForceUpdate": force}
    return {"DesiredState": desired, "Status": {"State": state}, "Spec": spec}


@pytest.mark.parametrize(
    ("tasks", "force", "running"),
    [
        ([], None, False),
        ([task()], None, True),
        ([task(state="starting")], None, False),
        ([task(desired="shutdown")], None, False),
        ([task(force=1)], 1, True),
        ([task()], 0, True),  # no ForceUpdate in the spec is 0
        ([task(force=1)], 2, False),  # the old spec's task
        ([task(desired="shutdown", force=1), task(force=2)], 2, True),
    ],
)
def test_running_task(tasks, force, running):
    assert running_task(tasks, force) is running


def test_service_docker_access():
    def service(mounts):
        return {"Spec": {"TaskTemplate": {"ContainerSpec": {"Mounts": mounts}}}}

    socket = "/var/run/docker.sock"
    assert service_docker_access(service([{"Source": socket}]), socket) == DockerAccess(
        mount_socket=True, privileged=False
    )
    assert service_docker_access(service([{"Source": "jupyterlab-ann_home"}]), socket) == (
        DockerAccess(mount_socket=False, privileged=False)
    )
    assert service_docker_access({}, socket) == DockerAccess(mount_socket=False, privileged=False)


class FakeApi:
    """The manager's low-level API: one service and its tasks."""

    def __init__(self, name: str = "jupyterlab-ann") -> None:
        self.name = name
        self.force = 0
        self.updates: list[dict[str, Any]] = []

    def inspect_service(self, name: str) -> dict[str, Any]:
        if name != self.name:
            response = type("R", (), {"status_code": 404, "reason": "nf", "url": ""})()
            raise docker.errors.NotFound("no such service", response=response)
        template = {"ContainerSpec": {"Image": "lab"}, "ForceUpdate": self.force}
        return {
            "ID": "svc1",
            "Version": {"Index": 7},
            "Spec": {"Name": name, "TaskTemplate": template},
        }

    def update_service(self, service, version, *, task_template, fetch_current_spec):
        self.updates.append(
            {
                "service": service,
                "version": version,
                "template": task_template,
                "fetch": fetch_current_spec,
            }
        )
        self.force = task_template["ForceUpdate"]

    def tasks(self, filters):
        assert filters == {"service": self.name}
        return [task(desired="shutdown", force=self.force - 1), task(force=self.force)]


@pytest.fixture
def control() -> tuple[SwarmServiceControl, FakeApi]:
    api = FakeApi()
    client: Any = SimpleNamespace(api=api)  # what the engine's calls use of the SDK client
    engine = DockerEngine(lambda: client, executor=ThreadPoolExecutor(2), timeout_seconds=5)
    return SwarmServiceControl(engine), api


async def test_a_restart_is_a_forced_update_of_the_current_spec(control):
    service_control, api = control
    await service_control.restart("jupyterlab-ann")
    assert api.updates == [
        {
            "service": "svc1",
            "version": 7,
            "template": {"ContainerSpec": {"Image": "lab"}, "ForceUpdate": 1},
            "fetch": True,
        }
    ]
    await service_control.restart("jupyterlab-ann")
    assert api.updates[-1]["template"]["ForceUpdate"] == 2


async def test_an_unknown_service(control):
    service_control, _ = control
    with pytest.raises(ContainerNotFound, match="No service named 'jupyterlab-bob'"):
        await service_control.restart("jupyterlab-bob")
    assert await service_control.is_running("jupyterlab-bob") is False
    assert await service_control.is_running("jupyterlab-ann") is True
    assert await service_control.gpu_devices(["jupyterlab-ann"]) == {}
