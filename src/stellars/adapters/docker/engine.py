"""The Docker engine as every adapter of this package reaches it: blocking docker SDK calls on a
bounded thread pool, each under a deadline, with SDK errors turned into domain errors.

The client is made on first use, on the pool: a hub whose engine is down (or not installed)
starts anyway and answers 503 for what needs Docker, and no event loop waits on a connect.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import docker
import docker.errors
import requests
import urllib3.exceptions

from stellars.domain.errors import BackendUnavailable, InvalidValue, StellarsError
from stellars.domain.limits import HostResources

T = TypeVar("T")

DEFAULT_SOCKET = "unix:///var/run/docker.sock"

# What the SDK and its HTTP stack raise when the engine is unreachable, slow, or refuses a call.
SDK_ERRORS: tuple[type[BaseException], ...] = (
    docker.errors.DockerException,
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    OSError,
)


def connect(
    base_url: str = DEFAULT_SOCKET,
    *,
    timeout_seconds: float = 30.0,
    version: str = "auto",
    max_pool_size: int = 10,
) -> docker.DockerClient:
    """A docker SDK client for `base_url` (blocking: "auto" asks the engine for its API version)
    that keeps up to `max_pool_size` connections open (the SDK's default is 10: a client used
    by more threads at once opens more, and closes each extra one after its request).

    Raises BackendUnavailable when the engine does not answer.
    """
    try:
        return docker.DockerClient(
            base_url=base_url,
            version=version,
            timeout=timeout_seconds,
            max_pool_size=max_pool_size,
        )
    except SDK_ERRORS as exc:
        raise BackendUnavailable(f"Docker engine at {base_url} unreachable: {exc}") from exc


@dataclass(frozen=True, slots=True)
class EngineProbe:
    """What the hub's configuration finds on the engine before the hub starts."""

    problem: str | None  # why the engine cannot be used; None when it answers
    image_present: bool  # whether it has the lab image
    host: HostResources | None = None  # the engine's host (cores, memory); None: unknown


def host_resources(info: Mapping[str, Any]) -> HostResources | None:
    """The host's cores and memory from the engine's `docker info` (`NCPU`, `MemTotal`);
    None when the answer lacks them or holds no usable numbers."""
    try:
        return HostResources(cpus=info["NCPU"], memory_bytes=info["MemTotal"])
    except (KeyError, TypeError, InvalidValue):
        return None


def probe_engine(base_url: str, image: str, *, timeout_seconds: float = 5.0) -> EngineProbe:
    """Ask the engine at `base_url` whether it answers, about its host (`docker info`), and
    whether it has `image`. Blocking, with its own short-lived client: it runs while JupyterHub
    loads its configuration, before the event loop and the `DockerEngine` pool exist."""
    try:
        client = connect(base_url, timeout_seconds=timeout_seconds)
    except BackendUnavailable as exc:
        return EngineProbe(f"no Docker engine answers at {base_url} ({exc})", False)
    try:
        client.ping()
        host = host_resources(client.info())
        try:
            client.images.get(image)
            return EngineProbe(None, True, host)
        except docker.errors.ImageNotFound:
            return EngineProbe(None, False, host)
    except SDK_ERRORS as exc:
        return EngineProbe(f"the Docker engine at {base_url} does not answer ({exc})", False)
    finally:
        client.close()


def describe(exc: BaseException) -> str:
    """A one-line account of an SDK error (the engine's own message when there is one)."""
    if isinstance(exc, docker.errors.APIError) and exc.explanation:
        return str(exc.explanation)
    return str(exc) or type(exc).__name__


class DockerEngine:
    """Runs blocking docker SDK calls off the event loop.

    `client` is a docker SDK client, or a function making one (called once, on first use, from
    a pool thread; see `connect`). Calls go to `executor` (bounded; owned and sized by
    `max_workers` when not given) and are awaited for at most `timeout_seconds`; whatever the
    SDK raises that the caller's own function did not translate becomes BackendUnavailable. The
    client's own socket timeout should not be longer than `timeout_seconds`, so that a thread
    given up on is freed soon after.
    """

    def __init__(
        self,
        client: docker.DockerClient | Callable[[], docker.DockerClient],
        *,
        executor: Executor | None = None,
        max_workers: int = 8,
        timeout_seconds: float = 30.0,
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        if isinstance(client, docker.DockerClient):
            self._client: docker.DockerClient | None = client
            self._connect: Callable[[], docker.DockerClient] | None = None
        else:
            self._client, self._connect = None, client
        self._connect_lock = threading.Lock()
        self.timeout_seconds = timeout_seconds
        self._owns_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="stellars-docker"
        )

    @property
    def client(self) -> docker.DockerClient:
        """The SDK client, made on first use (blocking: call it from the pool, not the loop).
        Raises BackendUnavailable when the engine does not answer; the next use tries again."""
        if self._client is None:
            with self._connect_lock:
                if self._client is None:
                    assert self._connect is not None
                    self._client = self._connect()
        return self._client

    @property
    def api(self) -> docker.APIClient:
        """The low-level client (plain dicts, one HTTP request per call); blocking on first use."""
        return self.client.api

    async def run(
        self, call: Callable[[], T], *, what: str, timeout_seconds: float | None = None
    ) -> T:
        """Run `call` on the pool and return its result.

        `what` names the operation in error messages. Domain errors raised by `call` pass
        through; SDK errors and the deadline become BackendUnavailable.
        """
        timeout = self.timeout_seconds if timeout_seconds is None else timeout_seconds
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._executor, call), timeout)
        except StellarsError:
            raise
        except asyncio.TimeoutError:
            raise BackendUnavailable(
                f"Docker engine did not answer {what} within {timeout:g} s"
            ) from None
        except SDK_ERRORS as exc:
            raise BackendUnavailable(f"Docker engine failed {what}: {describe(exc)}") from exc

    def close(self) -> None:
        """Stop the owned thread pool (a pool passed in is the caller's to stop)."""
        if self._owns_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)
