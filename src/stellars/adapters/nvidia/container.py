"""GpuProbe that runs nvidia-smi in a throwaway container with the NVIDIA runtime."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from concurrent.futures import Executor, ThreadPoolExecutor

import docker
import docker.errors
import docker.types
import requests
import urllib3.exceptions

from stellars.domain.gpu import GpuProbeResult

from .parsing import QUERY_ARGUMENTS, result_from_output, shorten

_SDK_ERRORS: tuple[type[BaseException], ...] = (
    docker.errors.DockerException,
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    OSError,
)
# Time given beyond the probe's timeout for creating and removing the container.
_HOUSEKEEPING_SECONDS = 15.0


def _explain(exc: BaseException) -> str:
    if isinstance(exc, docker.errors.APIError) and exc.explanation:
        return shorten(str(exc.explanation), 160)
    return shorten(str(exc), 160) or type(exc).__name__


class ContainerNvidiaSmiProbe:
    """Runs nvidia-smi in a container of `image` and removes the container afterwards.

    `runtime` is the engine runtime to ask for ("nvidia"; None for the engine's default, which
    tests use with a fake nvidia-smi image). `request_gpus` adds a device request for all GPUs,
    the way engines with the NVIDIA container toolkit but no "nvidia" runtime expose them. The
    image is never pulled. The run may take `timeout_seconds`; the blocking Docker calls run on
    `executor` (a one-thread pool of the probe's own when not given). Never raises.
    """

    def __init__(
        self,
        client: docker.DockerClient,
        image: str,
        *,
        runtime: str | None = "nvidia",
        request_gpus: bool = False,
        timeout_seconds: float = 60.0,
        labels: Mapping[str, str] | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.client = client
        self.image = image
        self.runtime = runtime
        self.request_gpus = request_gpus
        self.timeout_seconds = timeout_seconds
        self.labels = dict(labels or {})
        self._owns_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="stellars-gpu-probe"
        )

    async def probe(self) -> GpuProbeResult:
        """The GPUs nvidia-smi lists inside the container, or none with the reason."""
        try:
            loop = asyncio.get_running_loop()
            return await asyncio.wait_for(
                loop.run_in_executor(self._executor, self._run),
                self.timeout_seconds + _HOUSEKEEPING_SECONDS,
            )
        except asyncio.TimeoutError:
            # The worker thread still removes its container when the engine answers again.
            return GpuProbeResult.none(
                f"the Docker engine did not run the GPU probe container within "
                f"{self.timeout_seconds + _HOUSEKEEPING_SECONDS:g} s"
            )
        except Exception as exc:  # the port promises a result, whatever went wrong
            return GpuProbeResult.none(f"GPU probe container failed: {_explain(exc)}")

    def close(self) -> None:
        """Stop the owned thread pool (a pool passed in is the caller's to stop)."""
        if self._owns_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _host_config(self) -> dict[str, object]:
        device_requests = (
            [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
            if self.request_gpus
            else None
        )
        return self.client.api.create_host_config(
            runtime=self.runtime, device_requests=device_requests
        )

    def _run(self) -> GpuProbeResult:
        """The whole probe, blocking: create, start, wait, read the output, remove."""
        api = self.client.api
        deadline = time.monotonic() + self.timeout_seconds
        try:
            container = api.create_container(
                self.image,
                command=["nvidia-smi", *QUERY_ARGUMENTS],
                host_config=self._host_config(),
                labels=self.labels,
                # Images without these would start with no GPU visible under the runtime.
                environment={
                    "NVIDIA_VISIBLE_DEVICES": "all",
                    "NVIDIA_DRIVER_CAPABILITIES": "utility",
                },
            )
        except docker.errors.ImageNotFound:
            return GpuProbeResult.none(f"GPU probe image {self.image!r} is not on the engine")
        except docker.errors.APIError as exc:
            return GpuProbeResult.none(self._creation_failure(exc))
        except _SDK_ERRORS as exc:
            return GpuProbeResult.none(f"Docker engine unreachable: {_explain(exc)}")
        try:
            return self._start_and_read(api, container["Id"], deadline)
        finally:
            with contextlib.suppress(*_SDK_ERRORS):
                api.remove_container(container["Id"], force=True)

    def _creation_failure(self, exc: docker.errors.APIError) -> str:
        explanation = _explain(exc)
        if self.runtime and "runtime" in explanation.lower():
            return f"the Docker engine has no {self.runtime!r} runtime: {explanation}"
        return f"cannot create the GPU probe container: {explanation}"

    def _start_and_read(
        self, api: docker.APIClient, container_id: str, deadline: float
    ) -> GpuProbeResult:
        try:
            api.start(container_id)
        except _SDK_ERRORS as exc:
            return GpuProbeResult.none(f"GPU probe container did not start: {_explain(exc)}")
        try:
            status = api.wait(container_id, timeout=max(0.1, deadline - time.monotonic()))
        except _SDK_ERRORS as exc:
            if time.monotonic() >= deadline - 0.05:
                return GpuProbeResult.none(
                    f"nvidia-smi in the GPU probe container did not answer within "
                    f"{self.timeout_seconds:g} s"
                )
            return GpuProbeResult.none(f"waiting for the GPU probe container: {_explain(exc)}")
        stdout = api.logs(container_id, stdout=True, stderr=False).decode(errors="replace")
        code = status.get("StatusCode")
        if code != 0:
            stderr = api.logs(container_id, stdout=False, stderr=True).decode(errors="replace")
            detail = shorten(stderr) or shorten(stdout)
            return GpuProbeResult.none(
                f"nvidia-smi in the GPU probe container exited with status {code}"
                + (f": {detail}" if detail else "")
            )
        return result_from_output(stdout, f"in a container of {self.image}")
