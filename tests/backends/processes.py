"""Small process helpers shared by the backend classes: ports, process trees, log tails."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

# A background job of a non-interactive shell starts with SIGINT and SIGQUIT ignored, and an
# ignored signal survives exec: JupyterHub's managed services would inherit it and hub shutdown
# would wait ~30 s for them. This trampoline restores the defaults before exec'ing the command
# (SIGPIPE and SIGXFSZ too, which the trampoline's own Python interpreter ignores).
_DEFAULT_SIGNALS_TRAMPOLINE = (
    "import os, signal, sys\n"
    "for name in ('SIGINT', 'SIGQUIT', 'SIGPIPE', 'SIGXFSZ'):\n"
    "    signal.signal(getattr(signal, name), signal.SIG_DFL)\n"
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct free ports (all held open together while they are chosen)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def with_default_signals(command: Sequence[str | os.PathLike[str]]) -> list[str]:
    """``command`` wrapped so that it starts with SIGINT (and friends) at their defaults."""
    return [sys.executable, "-c", _DEFAULT_SIGNALS_TRAMPOLINE, *map(str, command)]


def is_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state follows the command name, which is in parentheses and may contain spaces.
    return stat[stat.rindex(")") + 2] not in "ZX"


def descendants(pid: int) -> list[int]:
    """All live descendants of ``pid`` (children first), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    queue = list(children.get(pid, []))
    while queue:
        child = queue.pop(0)
        found.append(child)
        queue.extend(children.get(child, []))
    return found


def kill_pids(pids: Iterable[int], sig: signal.Signals = signal.SIGKILL) -> None:
    """Send ``sig`` to every pid that is still alive."""
    for pid in pids:
        if is_alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)


def wait_pids_gone(pids: Iterable[int], timeout: float) -> bool:
    """Wait until none of ``pids`` is alive; False when some survive ``timeout``."""
    remaining = list(pids)
    deadline = time.monotonic() + timeout
    while remaining:
        remaining = [pid for pid in remaining if is_alive(pid)]
        if not remaining:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def stop_process_group(
    process: subprocess.Popen[bytes],
    term_timeout: float,
    *,
    term_group: bool = True,
    extra_pids: Iterable[int] = (),
) -> None:
    """Stop a process started with ``start_new_session=True`` and everything it started.

    SIGTERM goes to the process group (or only to the leader with ``term_group=False``, so
    that it can shut down its own children in order); after ``term_timeout`` the group gets
    SIGKILL. Descendants seen now or passed in ``extra_pids`` (children that moved to a session
    of their own, like the CHP that JupyterHub starts) get SIGKILL if they outlive the leader.
    """
    tree = set(extra_pids)
    was_running = process.poll() is None
    if was_running:
        tree.update(descendants(process.pid))
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if term_group:
                os.killpg(process.pid, signal.SIGTERM)
            else:
                process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=term_timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    survivors = [pid for pid in tree if is_alive(pid)]
    if survivors and not wait_pids_gone(survivors, timeout=5):
        kill_pids(survivors)
        wait_pids_gone(survivors, timeout=5)
    if was_running:  # members of its group that outlived it; never a reused pid's group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def tail(path: Path, lines: int = 60) -> str:
    """The last ``lines`` lines of a text file ('' when it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
