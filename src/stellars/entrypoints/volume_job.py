"""The volume job: what a one-off Swarm job runs on one node to remove volumes there
(`stellars.adapters.docker.node_jobs`), through that node's own engine.

    python -m stellars.entrypoints.volume_job remove [--in-use-wait-seconds S] NAME [NAME...]

It removes each named volume through the local engine (DOCKER_HOST, else the node's socket) and
prints one JSON line of outcomes by name (removed / not found / in use), which the hub reads
from the job's logs; exit status 0. A volume in use is tried again every second for up to S
seconds (default 0): a lab just stopped is a service removed, whose container the node's
engine stops and removes a few seconds later, and until then its volumes are in use. When the
engine does not answer it prints why on stderr and exits with status 2 (the hub then reports
the job failed, naming the node).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence

from stellars.adapters.docker import DEFAULT_SOCKET, DockerEngine, DockerVolumeStore, connect
from stellars.adapters.docker.node_jobs import JOB_COMMAND, outcomes_line
from stellars.domain.errors import BackendUnavailable
from stellars.domain.volumes import VolumeOutcome

#: Exit status when the node's engine does not answer.
ENGINE_FAILED = 2
#: Seconds between two tries of a volume in use.
RETRY_SECONDS = 1.0


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stellars.entrypoints.volume_job",
        description="Remove volumes through this node's Docker engine; print the outcomes.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    remove = commands.add_parser(JOB_COMMAND, help="remove the named volumes")
    remove.add_argument(
        "--in-use-wait-seconds",
        type=float,
        default=0.0,
        metavar="S",
        help="try a volume in use again for up to S seconds",
    )
    remove.add_argument("names", nargs="+", metavar="NAME", help="a volume's name")
    return parser


async def remove_volumes(
    engine: DockerEngine,
    names: Sequence[str],
    *,
    in_use_wait_seconds: float = 0.0,
    monotonic: Callable[[], float] = time.monotonic,
) -> dict[str, VolumeOutcome]:
    """Each volume's outcome, removed through `engine`; one in use is tried again every
    RETRY_SECONDS until `in_use_wait_seconds` have passed."""
    store = DockerVolumeStore(engine)
    deadline = monotonic() + in_use_wait_seconds
    try:
        outcomes = dict(await store.remove(names))
        while True:
            in_use = [name for name, outcome in outcomes.items() if outcome is VolumeOutcome.IN_USE]
            if not in_use or monotonic() >= deadline:
                return outcomes
            await asyncio.sleep(RETRY_SECONDS)
            outcomes.update(await store.remove(in_use))
    finally:
        engine.close()


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the job; the process's composition root (reads only DOCKER_HOST)."""
    args = parser().parse_args(argv)
    environment = os.environ if environ is None else environ
    url = environment.get("DOCKER_HOST") or DEFAULT_SOCKET
    engine = DockerEngine(lambda: connect(url, timeout_seconds=30), max_workers=4)
    try:
        outcomes = asyncio.run(
            remove_volumes(engine, args.names, in_use_wait_seconds=args.in_use_wait_seconds)
        )
    except BackendUnavailable as error:
        print(f"volume job: {error}", file=sys.stderr, flush=True)
        return ENGINE_FAILED
    print(outcomes_line(outcomes), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
