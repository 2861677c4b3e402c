"""What the benchmarks measure beside the hub: an idle event loop in another process (how late
the machine's load alone makes a loop wake), the CPU time the hypervisor took from this virtual
machine's CPUs (steal), and the stall reports in the hub's log (where the hub's loop was
blocked, with STELLARS_LOOP_STALL_REPORT_MS set)."""

from __future__ import annotations

import collections
import contextlib
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

BYSTANDER = """
import asyncio, sys
from stellars.adapters.jupyterhub.hub_process import LoopLagMonitor

async def main():
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.add_reader(sys.stdin.fileno(), lambda: done.done() or done.set_result(None))
    monitor = LoopLagMonitor(interval=0.05, window=3600.0)
    monitor.start()
    print("ready", flush=True)
    await done
    await monitor.stop()
    print(monitor.worst, flush=True)

asyncio.run(main())
"""


STEAL_SLICE_SECONDS = 0.1
JIFFY_MS = 10.0  # USER_HZ is 100 on Linux


def _steal_per_cpu() -> dict[str, int]:
    """Each CPU's steal time so far, in jiffies (the 8th value of its line in /proc/stat)."""
    steal = {}
    for line in Path("/proc/stat").read_text().splitlines():
        fields = line.split()
        if fields and fields[0].startswith("cpu") and fields[0] != "cpu" and len(fields) > 8:
            steal[fields[0]] = int(fields[8])
    return steal


@contextlib.contextmanager
def cpu_steal() -> Iterator[dict[str, float]]:
    """CPU time the hypervisor gave to others while the block runs: a dict that gets `total_ms`
    (all CPUs) and `worst_slice_ms` (the most one CPU lost in one 100 ms slice) when the block
    ends; empty where /proc/stat is not readable. Steal stalls every process on that CPU alike,
    whatever its priority."""
    figures: dict[str, float] = {}
    try:
        first = _steal_per_cpu()
    except OSError:
        yield figures
        return
    worst = [0]
    stop = threading.Event()

    def watch() -> None:
        previous = first
        while not stop.wait(STEAL_SLICE_SECONDS):
            now = _steal_per_cpu()
            worst[0] = max([worst[0], *(now[cpu] - previous.get(cpu, now[cpu]) for cpu in now)])
            previous = now

    watcher = threading.Thread(target=watch, name="steal-watch", daemon=True)
    watcher.start()
    try:
        yield figures
    finally:
        stop.set()
        watcher.join()
        last = _steal_per_cpu()
        figures["total_ms"] = sum(last[cpu] - first.get(cpu, last[cpu]) for cpu in last) * JIFFY_MS
        figures["worst_slice_ms"] = worst[0] * JIFFY_MS


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
    # Its start (Python and the imports) takes most of a second of CPU: the block waits for it,
    # or the bystander would compete with the hub in the very window it measures.
    started = probe.stdout is not None and probe.stdout.readline().strip() == "ready"
    try:
        yield worst
    finally:
        try:
            out, _ = probe.communicate("", timeout=30)  # closes its stdin: it reports
            with contextlib.suppress(ValueError):
                if started:
                    worst.append(float(out.strip()))
        except subprocess.TimeoutExpired:
            probe.kill()
            probe.wait()


LINE_TIME = re.compile(r"^\[\w (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) ")
STALL = re.compile(r"the event loop has been blocked for (\d+) ms, in:")
LATE = re.compile(r"the event loop ran (\d+) ms late")
SPLIT = re.compile(r"(\d+) ms on a CPU, (\d+) ms waiting for a CPU, (\d+) ms off the CPU")
COLLECTION = re.compile(r"a garbage collection of generation (\d) held every thread for (\d+) ms")
FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


def _place(stack: list[str]) -> str:
    frames = FRAME.findall("\n".join(stack))
    ours = [
        f"{Path(file).name}:{line} {name}"
        for file, line, name in frames
        if ("stellars" in file or "jupyterhub" in file) and "launch_instance" not in name
    ]
    return " <- ".join(reversed(ours[-3:])) or "?"


def stall_places(
    log_text: str, since: datetime | None = None, until: datetime | None = None
) -> dict[str, list[tuple[int, str]]]:
    """How late the loop ran (ms) in each stall, with where its thread's time went (on a CPU /
    waiting for one / off it, ms; empty when the log does not say), by the innermost frames of
    the platform or JupyterHub that its report showed; only log records between `since` and
    `until` (the hub's local time, as its log writes it) when given."""
    places: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
    lines = log_text.splitlines()
    pending: str | None = None  # the place of a reported stall whose length is still to come
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        stamp = LINE_TIME.match(line)
        if stamp is None:
            continue
        when = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S.%f")
        if (since and when < since) or (until and when > until):
            continue
        if STALL.search(line):
            stack = []
            while index < len(lines) and lines[index].startswith("  "):
                stack.append(lines[index])
                index += 1
            pending = _place(stack)
        elif late := LATE.search(line):
            split = SPLIT.search(line)
            places[pending or "not caught by the watchdog"].append(
                (int(late.group(1)), "/".join(split.groups()) if split else "")
            )
            pending = None
        elif collection := COLLECTION.search(line):
            places[f"garbage collection, generation {collection.group(1)}"].append(
                (int(collection.group(2)), "")
            )
    return places


def print_stalls(
    log_path: Path, since: datetime | None = None, until: datetime | None = None
) -> None:
    """How many stalls the hub logged (in the window, when given), how late each kind left the
    loop, where, and where the loop thread's time went in the worst of each kind."""
    places = stall_places(log_path.read_text(errors="replace"), since, until)
    count = sum(len(stalls) for stalls in places.values())
    print(f"stalls over the bar in the hub's log{' in the window' if since else ''}: {count}")
    if count:
        print("  (split: the loop thread's ms on a CPU / waiting for a CPU / off the CPU)")
    ranked = sorted(places.items(), key=lambda item: (-max(item[1])[0], -len(item[1])))
    for place, stalls in ranked[:10]:
        lag, split = max(stalls)
        where = f"split {split}  {place}" if split else place
        print(f"  {len(stalls):4d}  worst {lag:5d} ms  {where}")
