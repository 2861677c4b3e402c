"""The post-stop hook: what the platform does when a user's server stops.

JupyterHub runs `Spawner.post_stop_hook` after every stop of a server, whoever stopped it and
whatever the spawner: its user or an admin, the idle culler, a start that failed (even one the
pre-spawn hook refused), and a poll that found the server gone (DockerSpawner's `poll` seeing
its container gone, a local process that ended). The GPUs the server held are free again then;
the GPU service's reconciliation catches any stop that happened while the hub was down.
"""

from __future__ import annotations

import logging
from typing import Any

from stellars.domain.services import GpuService

log = logging.getLogger(__name__)


class PostStopHook:
    """Frees a stopped server's GPUs. The composition root hands JupyterHub a plain function
    that calls it (`c.Spawner.post_stop_hook`)."""

    def __init__(self, *, gpu: GpuService) -> None:
        self.gpu = gpu

    def __call__(self, spawner: Any) -> None:
        username, server = spawner.user.name, spawner.name
        if self.gpu.release((username, server)):
            log.info("stellars: the GPUs of %s are free again", f"{username}/{server}".rstrip("/"))
