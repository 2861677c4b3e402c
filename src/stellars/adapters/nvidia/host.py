"""GpuProbe that runs nvidia-smi on the hub's own machine, as an asyncio subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Sequence
from typing import TypeVar

from stellars.domain.gpu import GpuProbeResult, GpuUseResult

from .parsing import (
    QUERY_ARGUMENTS,
    USE_QUERY_ARGUMENTS,
    result_from_output,
    shorten,
    use_from_output,
)

R = TypeVar("R", GpuProbeResult, GpuUseResult)


class HostNvidiaSmiProbe:
    """Runs `argv` plus a GPU query (the inventory, or the GPUs' use) on the host, for at most
    `timeout_seconds`.

    `argv` is the command that starts nvidia-smi: ("nvidia-smi",) looks it up on PATH, a full path
    pins it, a longer argv wraps it (e.g. ("sudo", "-n", "nvidia-smi")). A run that overstays is
    killed with its whole process group. Never raises: every failure is a result without GPUs.
    """

    def __init__(self, argv: Sequence[str] = ("nvidia-smi",), *, timeout_seconds: float = 10.0):
        if not argv:
            raise ValueError("argv must name a command")
        self.argv = tuple(argv)
        self.timeout_seconds = timeout_seconds

    async def probe(self) -> GpuProbeResult:
        """The GPUs nvidia-smi lists, or none with the reason."""
        return await self._query(QUERY_ARGUMENTS, result_from_output, GpuProbeResult.none)

    async def use(self) -> GpuUseResult:
        """Every GPU's memory in use and utilisation, or none with the reason."""
        return await self._query(USE_QUERY_ARGUMENTS, use_from_output, GpuUseResult.none)

    async def _query(
        self,
        arguments: Sequence[str],
        parse: Callable[[str, str], R],
        none: Callable[[str], R],
    ) -> R:
        try:
            return await self._run(arguments, parse, none)
        except Exception as exc:  # the port promises a result, whatever went wrong
            return none(f"running {self.argv[0]} failed: {exc}")

    async def _run(
        self,
        arguments: Sequence[str],
        parse: Callable[[str, str], R],
        none: Callable[[str], R],
    ) -> R:
        command = self.argv[0]
        try:
            process = await asyncio.create_subprocess_exec(
                *self.argv,
                *arguments,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own process group, so a kill reaches children
            )
        except FileNotFoundError:
            return none(f"{command} not found on the host")
        except PermissionError:
            return none(f"{command} is not executable")
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), self.timeout_seconds)
        except asyncio.TimeoutError:
            await _kill(process)
            return none(f"{command} did not answer within {self.timeout_seconds:g} s (killed)")
        except BaseException:
            await _kill(process)
            raise
        output = stdout.decode(errors="replace")
        if process.returncode != 0:
            detail = shorten(stderr.decode(errors="replace")) or shorten(output)
            return none(
                f"{command} exited with status {process.returncode}"
                + (f": {detail}" if detail else "")
            )
        return parse(output, "on the host")


# How long to wait for a killed nvidia-smi to be reaped (its pipes may stay open a while when a
# descendant left its process group).
_REAP_SECONDS = 5.0


async def _kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(process.wait(), _REAP_SECONDS)
