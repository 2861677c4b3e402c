"""What the benchmarks measure beside the hub: an idle event loop in another process (how late
the machine's load alone makes a loop wake), and the stall reports in the hub's log (where the
hub's loop was blocked, with STELLARS_LOOP_STALL_REPORT_MS set)."""

from __future__ import annotations

import collections
import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

BYSTANDER = """
import asyncio, sys
from stellars.adapters.jupyterhub.web.metrics import LoopLagMonitor

async def main():
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.add_reader(sys.stdin.fileno(), lambda: done.done() or done.set_result(None))
    monitor = LoopLagMonitor(interval=0.05, window=3600.0)
    monitor.start()
    await done
    await monitor.stop()
    print(monitor.worst, flush=True)

asyncio.run(main())
"""


@contextlib.contextmanager
def bystander_lag() -> Iterator[list[float]]:
    """The worst lag of an idle event loop in another process while the block runs (a list
    that gets one value when the block ends, none if the bystander failed)."""
    worst: list[float] = []
    probe = subprocess.Popen(
        [sys.executable, "-c", BYSTANDER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    try:
        yield worst
    finally:
        try:
            out, _ = probe.communicate("", timeout=30)  # closes its stdin: it reports
            with contextlib.suppress(ValueError):
                worst.append(float(out.strip()))
        except subprocess.TimeoutExpired:
            probe.kill()
            probe.wait()


STALL = re.compile(r"the event loop has been blocked for (\d+) ms, in:\n((?:  .*\n)+)")
COLLECTION = re.compile(r"a garbage collection of generation (\d) held every thread for (\d+) ms")


def stall_places(log_text: str) -> collections.Counter[str]:
    """Stall reports by the innermost frames of the platform or JupyterHub they show."""
    places: collections.Counter[str] = collections.Counter()
    for match in STALL.finditer(log_text):
        frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)', match.group(2))
        ours = [
            f"{Path(file).name}:{line} {name}"
            for file, line, name in frames
            if ("stellars" in file or "jupyterhub" in file) and "launch_instance" not in name
        ]
        places[" <- ".join(reversed(ours[-3:])) or "?"] += 1
    for match in COLLECTION.finditer(log_text):
        places[f"garbage collection, generation {match.group(1)}"] += 1
    return places


def print_stalls(log_path: Path) -> None:
    """How many stall reports the hub logged, and where."""
    places = stall_places(log_path.read_text(errors="replace"))
    print(f"stall reports in the hub's log: {sum(places.values())}")
    for place, count in places.most_common(10):
        print(f"  {count:4d}  {place}")
