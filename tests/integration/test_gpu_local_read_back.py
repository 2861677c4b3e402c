"""A local server's GPUs read back from a real process: /proc/<pid>/environ shows the
environment the process started with, even after the process changed its own."""

from __future__ import annotations

import asyncio
import os
import sys
from asyncio.subprocess import PIPE
from types import SimpleNamespace

from stellars.adapters.jupyterhub import HubHandle, LocalProcessGpus
from stellars.domain.gpu_allocation import ContainerGpus
from stellars.domain.policies import GpuSharing
from stellars.domain.volumes import DockerNaming

# Changes its own environment, then waits: the read-back must see what it started with.
CHANGES_ITS_ENVIRONMENT = (
    "import os, sys, time\n"
    "os.environ['CUDA_VISIBLE_DEVICES'] = 'GPU-other'\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


async def test_a_running_process_is_read_back_with_the_gpus_it_started_with() -> None:
    environment = {
        **os.environ,
        "CUDA_VISIBLE_DEVICES": "GPU-5a3c,MIG-9c8b",
        "STELLARS_GPU_SHARING": "shared",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHANGES_ITS_ENVIRONMENT, env=environment, stdout=PIPE
    )
    try:
        assert process.stdout is not None
        assert (await process.stdout.readline()).strip() == b"ready"
        spawner = SimpleNamespace(pid=process.pid, active=True)
        user = SimpleNamespace(name="ann", spawners={"": spawner})
        hub = HubHandle()
        hub.bind(SimpleNamespace(users={"ann": user}))
        read_back = LocalProcessGpus(hub, DockerNaming(prefix="lab"))
        assert await read_back.gpu_devices(["lab-ann"]) == {
            "lab-ann": ContainerGpus(devices=("GPU-5a3c", "MIG-9c8b"), sharing=GpuSharing.SHARED)
        }
        process.kill()
        await asyncio.wait_for(process.wait(), 30)
        assert await read_back.gpu_devices(["lab-ann"]) == {}  # ended: it holds nothing
    finally:
        if process.returncode is None:
            process.kill()
            await asyncio.wait_for(process.wait(), 30)
