"""GpuProbe that runs nvidia-smi in a throwaway container with the NVIDIA runtime, on the same
engine, thread pool and error map as every other Docker adapter."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import docker
import docker.errors
import docker.types

from stellars.adapters.nvidia.parsing import (
    QUERY_ARGUMENTS,
    USE_QUERY_ARGUMENTS,
    result_from_output,
    shorten,
    use_from_output,
)
from stellars.domain.errors import BackendUnavailable
from stellars.domain.gpu import GpuProbeResult, GpuUseResult

from .engine import SDK_ERRORS, DockerEngine, describe

# Time given beyond the probe's timeout for creating and removing the container.
HOUSEKEEPING_SECONDS = 15.0
_REASON_LENGTH = 160
# A connect that failed (lazily, on first use of `engine.api`) or an SDK error while creating.
_UNREACHABLE: tuple[type[BaseException], ...] = (BackendUnavailable, *SDK_ERRORS)

R = TypeVar("R", GpuProbeResult, GpuUseResult)


def _explain(exc: BaseException) -> str:
    return shorten(describe(exc), _REASON_LENGTH) or type(exc).__name__


class ContainerNvidiaSmiProbe:
    """Runs nvidia-smi (the inventory query, or the GPUs' use) in a container of `image` and
    removes the container afterwards.

    `runtime` is the engine runtime to ask for ("nvidia"; None for the engine's default, which
    tests use with a fake nvidia-smi image). `request_gpus` adds a device request for all GPUs,
    the way engines with the NVIDIA container toolkit but no "nvidia" runtime expose them. The
    image is never pulled. The run may take `timeout_seconds`. Never raises.
    """

    def __init__(
        self,
        engine: DockerEngine,
        image: str,
        *,
        runtime: str | None = "nvidia",
        request_gpus: bool = False,
        timeout_seconds: float = 60.0,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self._engine = engine
        self.image = image
        self.runtime = runtime
        self.request_gpus = request_gpus
        self.timeout_seconds = timeout_seconds
        self.labels = dict(labels or {})

    async def probe(self) -> GpuProbeResult:
        """The GPUs nvidia-smi lists inside the container, or none with the reason."""
        return await self._query(QUERY_ARGUMENTS, result_from_output, GpuProbeResult.none)

    async def use(self) -> GpuUseResult:
        """Every GPU's memory in use and utilisation as nvidia-smi sees them inside the
        container, or none with the reason."""
        return await self._query(USE_QUERY_ARGUMENTS, use_from_output, GpuUseResult.none)

    async def _query(
        self,
        arguments: Sequence[str],
        parse: Callable[[str, str], R],
        none: Callable[[str], R],
    ) -> R:
        try:
            return await self._engine.run(
                lambda: self._run(arguments, parse, none),
                what="the GPU probe container",
                timeout_seconds=self.timeout_seconds + HOUSEKEEPING_SECONDS,
            )
        except BackendUnavailable as exc:
            # On a timeout the worker thread still removes its container when the engine answers.
            return none(str(exc))
        except Exception as exc:  # the port promises a result, whatever went wrong
            return none(f"GPU probe container failed: {_explain(exc)}")

    def _host_config(self, api: docker.APIClient) -> dict[str, object]:
        device_requests = (
            [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
            if self.request_gpus
            else None
        )
        return api.create_host_config(runtime=self.runtime, device_requests=device_requests)

    def _run(
        self,
        arguments: Sequence[str],
        parse: Callable[[str, str], R],
        none: Callable[[str], R],
    ) -> R:
        """The whole probe, blocking: create, start, wait, read the output, remove."""
        deadline = time.monotonic() + self.timeout_seconds
        try:
            api = self._engine.api
            container = api.create_container(
                self.image,
                command=["nvidia-smi", *arguments],
                host_config=self._host_config(api),
                labels=self.labels,
                # Images without these would start with no GPU visible under the runtime.
                environment={
                    "NVIDIA_VISIBLE_DEVICES": "all",
                    "NVIDIA_DRIVER_CAPABILITIES": "utility",
                },
            )
        except docker.errors.ImageNotFound:
            return none(f"GPU probe image {self.image!r} is not on the engine")
        except docker.errors.APIError as exc:
            return none(self._creation_failure(exc))
        except _UNREACHABLE as exc:
            return none(f"Docker engine unreachable: {_explain(exc)}")
        try:
            return self._start_and_read(api, container["Id"], deadline, parse, none)
        finally:
            with contextlib.suppress(*SDK_ERRORS):
                api.remove_container(container["Id"], force=True)

    def _creation_failure(self, exc: docker.errors.APIError) -> str:
        explanation = _explain(exc)
        if self.runtime and "runtime" in explanation.lower():
            return f"the Docker engine has no {self.runtime!r} runtime: {explanation}"
        return f"cannot create the GPU probe container: {explanation}"

    def _start_and_read(
        self,
        api: docker.APIClient,
        container_id: str,
        deadline: float,
        parse: Callable[[str, str], R],
        none: Callable[[str], R],
    ) -> R:
        try:
            api.start(container_id)
        except SDK_ERRORS as exc:
            return none(f"GPU probe container did not start: {_explain(exc)}")
        try:
            status = api.wait(container_id, timeout=max(0.1, deadline - time.monotonic()))
        except SDK_ERRORS as exc:
            if time.monotonic() >= deadline - 0.05:
                return none(
                    f"nvidia-smi in the GPU probe container did not answer within "
                    f"{self.timeout_seconds:g} s"
                )
            return none(f"waiting for the GPU probe container: {_explain(exc)}")
        stdout = api.logs(container_id, stdout=True, stderr=False).decode(errors="replace")
        code = status.get("StatusCode")
        if code != 0:
            stderr = api.logs(container_id, stdout=False, stderr=True).decode(errors="replace")
            detail = shorten(stderr) or shorten(stdout)
            return none(
                f"nvidia-smi in the GPU probe container exited with status {code}"
                + (f": {detail}" if detail else "")
            )
        return parse(stdout, f"in a container of {self.image}")
