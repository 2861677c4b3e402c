"""The volume job: what a one-off Swarm job runs on one node to remove volumes there
(`stellars.adapters.docker.node_jobs`), through that node's own engine.

    python -m stellars.entrypoints.volume_job remove NAME [NAME...]

It removes each named volume through the local engine (DOCKER_HOST, else the node's socket) and
prints one JSON line of outcomes by name (removed / not found / in use), which the hub reads
from the job's logs; exit status 0. When the engine does not answer it prints why on stderr and
exits with status 2 (the hub then reports the job failed, naming the node).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence

from stellars.adapters.docker import DEFAULT_SOCKET, DockerEngine, DockerVolumeStore, connect
from stellars.adapters.docker.node_jobs import JOB_COMMAND, outcomes_line
from stellars.domain.errors import BackendUnavailable
from stellars.domain.volumes import VolumeOutcome

#: Exit status when the node's engine does not answer.
ENGINE_FAILED = 2


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stellars.entrypoints.volume_job",
        description="Remove volumes through this node's Docker engine; print the outcomes.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    remove = commands.add_parser(JOB_COMMAND, help="remove the named volumes")
    remove.add_argument("names", nargs="+", metavar="NAME", help="a volume's name")
    return parser


async def remove_volumes(engine: DockerEngine, names: Sequence[str]) -> Mapping[str, VolumeOutcome]:
    """Each volume's outcome, removed through `engine`."""
    try:
        return await DockerVolumeStore(engine).remove(names)
    finally:
        engine.close()


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the job; the process's composition root (reads only DOCKER_HOST)."""
    args = parser().parse_args(argv)
    environment = os.environ if environ is None else environ
    url = environment.get("DOCKER_HOST") or DEFAULT_SOCKET
    engine = DockerEngine(lambda: connect(url, timeout_seconds=30), max_workers=4)
    try:
        outcomes = asyncio.run(remove_volumes(engine, args.names))
    except BackendUnavailable as error:
        print(f"volume job: {error}", file=sys.stderr, flush=True)
        return ENGINE_FAILED
    print(outcomes_line(outcomes), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
