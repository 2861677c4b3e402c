"""Benchmark: container stats, sequential SDK calls (as the original platform did) against the
adapter's parallel pass, and the cost of listing every volume's size.

Run: .venv/bin/python bench/docker_stats.py [--containers 10] [--busy 4] [--volumes 30]

It builds the tiny test image itself (tests.backends), starts labelled containers and volumes,
prints a table, and removes everything it created, also when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # for tests.backends when run as a script

import docker  # noqa: E402
from tests.backends import (  # noqa: E402
    SESSION_ID,
    docker_client,
    ensure_tiny_image,
    remove_labelled,
    session_labels,
)

from stellars.adapters.docker import (  # noqa: E402
    DockerContainerStats,
    DockerEngine,
    DockerVolumeStore,
)
from stellars.adapters.system import SystemClock  # noqa: E402
from stellars.domain.containers import ContainerUsage  # noqa: E402
from stellars.domain.services.refresh import Refresher  # noqa: E402

BUSY_LOOP = ["sh", "-c", "while :; do :; done"]


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


async def timed_async(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


def span(values: list[float]) -> str:
    return f"{min(values, default=0):.1f}..{max(values, default=0):.1f}"


def milliseconds(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.1f} ms"


def start_containers(
    client: docker.DockerClient, image: str, prefix: str, count: int, busy: int
) -> list[str]:
    names = [f"{prefix}-lab-{index:02d}" for index in range(count)]
    for index, name in enumerate(names):
        command = BUSY_LOOP if index < busy else None
        client.containers.run(image, command, name=name, labels=session_labels(), detach=True)
    return names


def create_volumes(client: docker.DockerClient, image: str, prefix: str, count: int) -> list[str]:
    """`count` volumes, volume i holding i * 64 KiB, written by one short-lived container."""
    names = [f"{prefix}-vol-{index:02d}" for index in range(count)]
    for name in names:
        client.volumes.create(name, labels=session_labels())
    writes = " && ".join(
        f"head -c {index * 65536} /dev/zero > /v{index}/blob" for index in range(count)
    )
    client.containers.run(
        image,
        ["sh", "-c", writes],
        volumes={name: {"bind": f"/v{index}", "mode": "rw"} for index, name in enumerate(names)},
        labels=session_labels(),
        remove=True,
    )
    return names


async def measure(args: argparse.Namespace) -> list[tuple[str, str]]:
    client = docker_client()
    image = ensure_tiny_image(client)
    prefix = f"stellars-bench-{uuid.uuid4().hex[:6]}"
    engine = DockerEngine(client, max_workers=args.containers + 2)
    rows: list[tuple[str, str]] = []
    try:
        names = start_containers(client, image, prefix, args.containers, args.busy)
        volume_names = create_volumes(client, image, prefix, args.volumes)
        await asyncio.sleep(1.0)  # let every container get going

        containers = [client.containers.get(name) for name in names]
        sequential = timed(lambda: [c.stats(stream=False) for c in containers])

        stats = DockerContainerStats(engine, max_parallel=args.containers)
        usage: dict[str, ContainerUsage] = {}

        async def parallel_pass() -> None:
            usage.update(await stats.usage(names))

        parallel = await timed_async(parallel_pass)
        parallel_again = await timed_async(parallel_pass)

        refresher: Refresher[Mapping[str, ContainerUsage]] = Refresher(
            lambda: stats.usage(names),
            empty={},
            interval=timedelta(hours=1),
            clock=SystemClock(),
            name="container stats",
        )
        await refresher.refresh_now()
        reads = 10_000
        read_seconds = timed(
            lambda: [refresher.snapshot().value.get(names[0]) for _ in range(reads)]
        )

        store = DockerVolumeStore(engine)
        all_volumes = await store.volumes()
        listing = [await timed_async(store.volumes) for _ in range(args.repeat)]
        named = [await timed_async(lambda: store.volumes(volume_names)) for _ in range(args.repeat)]
        full_df = [timed(client.df) for _ in range(args.repeat)]
        ours = set(volume_names)
        sized = sum(1 for v in all_volumes if v.name in ours and v.size_bytes is not None)

        busy_cpu = [usage[n].cpu_percent for n in names[: args.busy]]
        idle_cpu = [usage[n].cpu_percent for n in names[args.busy :]]
        repeat = args.repeat
        rows += [
            ("engine", f"dockerd {client.version()['Version']}, API {client.api.api_version}"),
            ("containers (busy / idle)", f"{args.containers} ({args.busy} / {len(idle_cpu)})"),
            ("sequential SDK stats, 1 call each", f"{sequential:.2f} s"),
            ("adapter parallel pass (first)", f"{parallel:.2f} s"),
            ("adapter parallel pass (second, one-shot)", f"{parallel_again:.2f} s"),
            ("speed-up vs first pass", f"{sequential / parallel:.1f}x"),
            ("speed-up vs second pass", f"{sequential / parallel_again:.1f}x"),
            ("CPU % busy (min..max)", span(busy_cpu)),
            ("CPU % idle (min..max)", span(idle_cpu)),
            ("refresher snapshot read", f"{read_seconds / reads * 1e6:.2f} µs"),
            ("volumes on engine / ours sized", f"{len(all_volumes)} / {sized} of {args.volumes}"),
            (f"list all volume sizes (median of {repeat})", milliseconds(listing)),
            (f"sizes of our {args.volumes} volumes (median)", milliseconds(named)),
            ("SDK client.df(), full (median)", milliseconds(full_df)),
        ]
    finally:
        engine.close()
        removed = remove_labelled(client, SESSION_ID)
        rows.append(
            ("cleaned up", f"{len(removed.containers)} containers, {len(removed.volumes)} volumes")
        )
        client.close()
    return rows


def print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows)
    value_width = max(len(value) for _, value in rows)
    rule = f"+-{'-' * width}-+-{'-' * value_width}-+"
    print(rule)
    for label, value in rows:
        print(f"| {label:<{width}} | {value:>{value_width}} |")
    print(rule)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=10)
    parser.add_argument("--busy", type=int, default=4)
    parser.add_argument("--volumes", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print_table(asyncio.run(measure(args)))


if __name__ == "__main__":
    main()
