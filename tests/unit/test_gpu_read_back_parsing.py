"""Reading a server's GPUs back: from a `docker inspect` answer (its device requests and
environment), and from a local server's process environment (`/proc/<pid>/environ`)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from stellars.adapters.docker import gpus_of
from stellars.adapters.docker.containers import environment_of
from stellars.adapters.jupyterhub import HubHandle, LocalProcessGpus
from stellars.adapters.jupyterhub.hub_objects.local_gpus import environment_from_proc
from stellars.domain.errors import BackendUnavailable
from stellars.domain.gpu_allocation import ContainerGpus
from stellars.domain.policies import GpuSharing
from stellars.domain.volumes import DockerNaming

# The parts of `docker inspect` of a lab created with two GPUs by the spawn hook (dockerd 20.10).
TWO_GPUS_INSPECT: dict[str, Any] = {
    "Name": "/jupyterlab-ann",
    "HostConfig": {
        "DeviceRequests": [
            {
                "Driver": "nvidia",
                "Count": 0,
                "DeviceIDs": ["GPU-1f2e", "GPU-9c8b"],
                "Capabilities": [["gpu"]],
                "Options": {},
            }
        ]
    },
    "Config": {
        "Env": [
            "NVIDIA_VISIBLE_DEVICES=GPU-1f2e,GPU-9c8b",
            "STELLARS_GPU_SHARING=shared",
            "PATH=/usr/bin",
            "EMPTY=",
            "NOT-A-PAIR",
        ]
    },
}


class TestDockerInspect:
    def test_the_device_ids_and_the_sharing_recorded(self):
        assert gpus_of(TWO_GPUS_INSPECT) == ContainerGpus(
            devices=("GPU-1f2e", "GPU-9c8b"), sharing=GpuSharing.SHARED
        )

    def test_the_environment(self):
        assert environment_of(TWO_GPUS_INSPECT) == {
            "NVIDIA_VISIBLE_DEVICES": "GPU-1f2e,GPU-9c8b",
            "STELLARS_GPU_SHARING": "shared",
            "PATH": "/usr/bin",
            "EMPTY": "",
        }
        assert environment_of({"Config": {"Env": None}}) == {}
        assert environment_of({"Config": None}) == {}
        assert environment_of({"Config": {"Env": ["A=b=c", 7]}}) == {"A": "b=c"}

    def test_a_request_for_every_gpu(self):
        attrs = {"HostConfig": {"DeviceRequests": [{"Driver": "nvidia", "Count": -1}]}}
        assert gpus_of(attrs) == ContainerGpus(every_gpu=True)

    def test_requests_of_other_devices_are_not_gpus(self):
        attrs = {
            "HostConfig": {
                "DeviceRequests": [
                    {"Driver": "fpga", "DeviceIDs": ["f-1"], "Capabilities": [["compute"]]},
                    {"Driver": "other", "Count": -1},
                    "garbage",
                    {"Driver": "", "DeviceIDs": ["GPU-7", 3], "Capabilities": [["gpu", "x"]]},
                    {"Driver": "nvidia", "DeviceIDs": ["GPU-7", "GPU-8"], "Capabilities": "gpu"},
                ]
            }
        }
        # The gpu capability makes a GPU request whatever the driver; ids are kept once.
        assert gpus_of(attrs) == ContainerGpus(devices=("GPU-7", "GPU-8"))

    @pytest.mark.parametrize(
        "attrs",
        [{}, {"HostConfig": None}, {"HostConfig": {"DeviceRequests": None}}],
    )
    def test_a_container_without_device_requests_holds_none(self, attrs):
        assert gpus_of(attrs) == ContainerGpus()


def test_a_proc_environ_file():
    data = b"CUDA_VISIBLE_DEVICES=GPU-a,GPU-b\0STELLARS_GPU_SHARING=exclusive\0X=1=2\0bare\0=v\0"
    assert environment_from_proc(data) == {
        "CUDA_VISIBLE_DEVICES": "GPU-a,GPU-b",
        "STELLARS_GPU_SHARING": "exclusive",
        "X": "1=2",
    }
    assert environment_from_proc(b"") == {}
    assert environment_from_proc(b"A=\xff\0") == {"A": "\ufffd"}


class LocalHub:
    """The part of JupyterHub's application the read-back walks: users and their spawners."""

    def __init__(self) -> None:
        self.users: dict[str, Any] = {}

    def add(self, name: str, pid: object, server: str = "", *, active: bool = True) -> None:
        spawner = SimpleNamespace(pid=pid, active=active)
        user = self.users.setdefault(name, SimpleNamespace(name=name, spawners={}))
        user.spawners[server] = spawner


def write_environ(proc: Path, pid: int, text: str) -> None:
    (proc / str(pid)).mkdir(parents=True)
    (proc / str(pid) / "environ").write_bytes(text.replace("\n", "\0").encode())


async def test_local_servers_are_read_back_from_their_processes(tmp_path: Path) -> None:
    app = LocalHub()
    app.add("ann", 101)
    app.add("ann", 102, "big")
    app.add("bob", 103)
    app.add("cy", 104)  # its process has ended
    app.add("dee", 0)  # no process yet
    app.add("eve", 105, active=False)  # stopped
    app.add("fay", 106)  # not asked
    write_environ(tmp_path, 101, "CUDA_VISIBLE_DEVICES=GPU-0\nSTELLARS_GPU_SHARING=exclusive\n")
    write_environ(tmp_path, 102, "CUDA_VISIBLE_DEVICES=GPU-1,GPU-2\nSTELLARS_GPU_SHARING=shared\n")
    write_environ(tmp_path, 103, "PATH=/usr/bin\n")
    write_environ(tmp_path, 105, "CUDA_VISIBLE_DEVICES=GPU-3\n")
    write_environ(tmp_path, 106, "CUDA_VISIBLE_DEVICES=GPU-3\n")
    hub = HubHandle()
    hub.bind(SimpleNamespace(users=app.users))
    naming = DockerNaming(prefix="lab")
    read_back = LocalProcessGpus(hub, naming, proc=tmp_path)
    assert read_back.naming is naming
    found = await read_back.gpu_devices(
        ["lab-ann", "lab-ann--big", "lab-bob", "lab-cy", "lab-dee", "lab-eve", "lab-gus"]
    )
    assert found == {
        "lab-ann": ContainerGpus(devices=("GPU-0",), sharing=GpuSharing.EXCLUSIVE),
        "lab-ann--big": ContainerGpus(devices=("GPU-1", "GPU-2"), sharing=GpuSharing.SHARED),
        "lab-bob": ContainerGpus(),
    }
    assert await read_back.gpu_devices([]) == {}


async def test_a_process_environment_that_cannot_be_read_is_a_backend_error(
    tmp_path: Path,
) -> None:
    app = LocalHub()
    app.add("ann", 101)
    (tmp_path / "101" / "environ").mkdir(parents=True)  # reading a directory fails
    hub = HubHandle()
    hub.bind(SimpleNamespace(users=app.users))
    read_back = LocalProcessGpus(hub, DockerNaming(prefix="lab"), proc=tmp_path)
    with pytest.raises(BackendUnavailable) as failed:
        await read_back.gpu_devices(["lab-ann"])
    assert "cannot read the environment of the process of lab-ann (pid 101)" in str(failed.value)
