"""HostDisk for the Docker engine's data directory, measured from the engine's side.

The engine names its data directory (`docker info`'s `DockerRootDir`), a path on the engine's
host. The hub cannot measure that path itself: in compose it runs in a container where the path
is not the host's (or is another filesystem), and the engine may be remote. So a short-lived
container of an image the engine already has (the lab image) gets the directory bind-mounted
read-only and runs `stat -f -c '%S %b %a'`: the filesystem's fundamental block size, its size
in blocks and the blocks available to non-root (what `df` calls "Available"), three whole
numbers on one line, parsed strictly. The container has no network, is removed afterwards and
is never pulled for. Every failure is a measurement without space, with the reason.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Mapping

import docker
import docker.errors

from stellars.domain.disk import DiskMeasurement, DiskSpace
from stellars.domain.errors import BackendUnavailable, InvalidValue

from .engine import SDK_ERRORS, DockerEngine, describe

#: Where the data directory is mounted inside the measuring container.
MOUNT_POINT = "/stellars-engine-data"
#: The command run there: block size, blocks, blocks available to non-root.
STAT_COMMAND = ("stat", "-f", "-c", "%S %b %a", MOUNT_POINT)
# Time given beyond the measurement's timeout for creating and removing the container.
HOUSEKEEPING_SECONDS = 15.0
_REASON_LENGTH = 160
# A connect that failed (lazily, on first use of `engine.api`) or an SDK error asking for info.
_UNREACHABLE: tuple[type[BaseException], ...] = (BackendUnavailable, *SDK_ERRORS)
_STAT_LINE = re.compile(r"([0-9]{1,20}) ([0-9]{1,20}) ([0-9]{1,20})")


def _short(text: str, length: int = _REASON_LENGTH) -> str:
    """One line of at most `length` characters."""
    line = " ".join(text.split())
    return line if len(line) <= length else line[: length - 3] + "..."


def _explain(exc: BaseException) -> str:
    return _short(describe(exc)) or type(exc).__name__


def space_from_stat(output: str) -> DiskSpace:
    """The space `stat -f -c '%S %b %a'` printed: exactly one line of three whole numbers (a
    trailing line break allowed), a block size of at least one byte. Raises InvalidValue
    ("stat output") for anything else."""
    text = output[:-1] if output.endswith("\n") else output
    match = _STAT_LINE.fullmatch(text)
    if match is None:
        raise InvalidValue("stat output", f"expected three whole numbers, got {_short(output)!r}")
    block, blocks, available = (int(group) for group in match.groups())
    if block < 1:
        raise InvalidValue("stat output", f"block size must be at least 1, got {block}")
    try:
        return DiskSpace(total_bytes=block * blocks, free_bytes=block * available)
    except InvalidValue as error:
        raise InvalidValue("stat output", f"{error.field} {error.message}") from None


def data_directory(info: Mapping[str, object]) -> str:
    """The engine's data directory from its `docker info`; raises InvalidValue
    ("DockerRootDir") when the answer has no absolute path there."""
    root = info.get("DockerRootDir")
    if not isinstance(root, str) or not root.startswith("/"):
        raise InvalidValue("DockerRootDir", f"the engine names no absolute path, got {root!r}")
    return root


class EngineDataDisk:
    """Measures the engine's data directory in a container of `image` (never pulled), removed
    afterwards; the whole measurement may take `timeout_seconds`. Never raises."""

    def __init__(
        self,
        engine: DockerEngine,
        image: str,
        *,
        timeout_seconds: float = 30.0,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self._engine = engine
        self.image = image
        self.timeout_seconds = timeout_seconds
        self.labels = dict(labels or {})

    async def measure(self) -> DiskMeasurement:
        """The data directory's filesystem as the engine's host sees it, or unknown with why."""
        try:
            return await self._engine.run(
                self._measure,
                what="the disk measuring container",
                timeout_seconds=self.timeout_seconds + HOUSEKEEPING_SECONDS,
            )
        except BackendUnavailable as exc:
            # On a timeout the worker thread still removes its container when the engine answers.
            return DiskMeasurement.unknown(str(exc))
        except Exception as exc:  # the port promises a measurement, whatever went wrong
            return DiskMeasurement.unknown(f"measuring the disk failed: {_explain(exc)}")

    def _measure(self) -> DiskMeasurement:
        """The whole measurement, blocking: ask the engine, create, start, wait, read, remove."""
        deadline = time.monotonic() + self.timeout_seconds
        try:
            api = self._engine.api
            root = data_directory(api.info())
        except InvalidValue as exc:
            return DiskMeasurement.unknown(f"the Docker engine's data directory: {exc.message}")
        except _UNREACHABLE as exc:
            return DiskMeasurement.unknown(f"Docker engine unreachable: {_explain(exc)}")
        try:
            container = api.create_container(
                self.image,
                entrypoint=[STAT_COMMAND[0]],
                command=list(STAT_COMMAND[1:]),
                host_config=api.create_host_config(
                    binds={root: {"bind": MOUNT_POINT, "mode": "ro"}}, network_mode="none"
                ),
                labels=self.labels,
            )
        except docker.errors.ImageNotFound:
            return DiskMeasurement.unknown(
                f"the image {self.image!r} that measures the disk is not on the engine", root
            )
        except SDK_ERRORS as exc:
            return DiskMeasurement.unknown(
                f"cannot create the disk measuring container: {_explain(exc)}", root
            )
        try:
            return self._start_and_read(api, container["Id"], root, deadline)
        finally:
            with contextlib.suppress(*SDK_ERRORS):
                api.remove_container(container["Id"], force=True)

    def _start_and_read(
        self, api: docker.APIClient, container_id: str, root: str, deadline: float
    ) -> DiskMeasurement:
        try:
            api.start(container_id)
        except SDK_ERRORS as exc:
            return DiskMeasurement.unknown(
                f"the disk measuring container did not start: {_explain(exc)}", root
            )
        try:
            status = api.wait(container_id, timeout=max(0.1, deadline - time.monotonic()))
        except SDK_ERRORS as exc:
            if time.monotonic() >= deadline - 0.05:
                return DiskMeasurement.unknown(
                    f"stat in the disk measuring container did not answer within "
                    f"{self.timeout_seconds:g} s",
                    root,
                )
            return DiskMeasurement.unknown(
                f"waiting for the disk measuring container: {_explain(exc)}", root
            )
        stdout = api.logs(container_id, stdout=True, stderr=False).decode(errors="replace")
        code = status.get("StatusCode")
        if code != 0:
            stderr = api.logs(container_id, stdout=False, stderr=True).decode(errors="replace")
            detail = _short(stderr) or _short(stdout)
            return DiskMeasurement.unknown(
                f"stat in the disk measuring container exited with status {code}"
                + (f": {detail}" if detail else ""),
                root,
            )
        try:
            return DiskMeasurement(root, space_from_stat(stdout))
        except InvalidValue as exc:
            return DiskMeasurement.unknown(f"unreadable answer of stat: {exc.message}", root)
