"""The activity sampler: a JupyterHub managed service that records, every interval, one activity
sample per hub user (all of them, every page of the hub API) and prunes what left the window.

    stellars-activity-sampler --db-url sqlite:////data/stellars.sqlite --sample-interval-seconds 600
    python -m stellars.entrypoints.activity_sampler --db-url ... --once

`main()` is the composition root of this process. From the environment it reads only what
JupyterHub hands a managed service (JUPYTERHUB_API_TOKEN, JUPYTERHUB_API_URL); its settings come
from the command line and are validated by the domain's ActivityPolicy, so a bad value stops it
with a message naming the option (the original silently fell back to defaults).

A failed tick (hub restarting, database busy or down) is logged and retried at the next tick;
the process never exits for it. SIGTERM and SIGINT stop it after the tick in progress; SIGUSR1
takes a sample now.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import ArgumentError

from stellars.adapters.hub import RestHubDirectory
from stellars.adapters.sql import SqlActivityStore, SqlDatabase, create_store_engine
from stellars.adapters.system import SystemClock
from stellars.domain.activity import ActivityPolicy
from stellars.domain.errors import BackendUnavailable, InvalidValue
from stellars.domain.services.activity import ActivityService, TickSummary

log = logging.getLogger("stellars.activity_sampler")

DEFAULT_API_URL = "http://127.0.0.1:8081/hub/api"
LOG_FORMAT = "[%(levelname)1.1s %(asctime)s.%(msecs)03d %(name)s] %(message)s"
_POLICY_OPTIONS = {
    "retention_days": "--retention-days",
    "half_life_hours": "--half-life-hours",
    "inactive_after_minutes": "--inactive-after-minutes",
    "sample_interval_seconds": "--sample-interval-seconds",
}


@dataclass(frozen=True, slots=True)
class SamplerSettings:
    """Everything the sampler process needs, parsed and validated."""

    db_url: str
    policy: ActivityPolicy
    api_url: str
    api_token: str
    once: bool = False


class SamplerLoop:
    """Calls `tick` every `interval_seconds` until stopped.

    A failing tick is logged and retried at the next one; nothing escapes the loop, because a
    sampler that exits on a hub restart stops sampling for good. Ticks are scheduled from the
    start of the previous one, so a slow tick does not shift the rhythm.
    """

    def __init__(
        self,
        tick: Callable[[], Awaitable[TickSummary]],
        *,
        interval_seconds: float,
        logger: logging.Logger = log,
    ) -> None:
        self._tick = tick
        self.interval_seconds = interval_seconds
        self._log = logger
        self._wake = asyncio.Event()
        self._stopping = False
        self.succeeded = 0
        self.failed = 0

    async def tick_once(self) -> bool:
        """One tick; True when it recorded, False when it failed (and was logged)."""
        try:
            summary = await self._tick()
        except BackendUnavailable as exc:
            self.failed += 1
            self._log.error("Tick failed, retrying at the next tick: %s", exc)
            return False
        except Exception:  # any other failure must not end the sampling either
            self.failed += 1
            self._log.exception("Tick failed unexpectedly, retrying at the next tick")
            return False
        self.succeeded += 1
        self._log.info(summary.line)
        return True

    async def run(self) -> None:
        """Tick now and then every interval, until `stop()`."""
        loop = asyncio.get_running_loop()
        while not self._stopping:
            started = loop.time()
            await self.tick_once()
            delay = max(0.0, started + self.interval_seconds - loop.time())
            with contextlib.suppress(asyncio.TimeoutError):  # the interval is up
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            self._wake.clear()

    def tick_now(self) -> None:
        """Take the next sample without waiting for the interval (SIGUSR1)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the tick in progress, if any, and leave `run()` (SIGTERM, SIGINT)."""
        self._stopping = True
        self._wake.set()


def build_parser() -> argparse.ArgumentParser:
    """The command line of the sampler."""
    defaults = ActivityPolicy()
    parser = argparse.ArgumentParser(
        prog="stellars-activity-sampler",
        description=(
            "Record one activity sample per JupyterHub user every interval (a JupyterHub "
            "managed service: the hub provides JUPYTERHUB_API_TOKEN and JUPYTERHUB_API_URL). "
            "SIGUSR1 takes a sample now; SIGTERM stops."
        ),
    )
    parser.add_argument(
        "--db-url",
        required=True,
        help="SQLAlchemy URL of the stellars database, e.g. sqlite:////data/stellars.sqlite "
        "or postgresql+psycopg://user:pass@host/db (the hub must use the same one)",
    )
    parser.add_argument(
        "--sample-interval-seconds",
        type=int,
        default=defaults.sample_interval_seconds,
        help="seconds between samples (60-86400, default %(default)s)",
    )
    parser.add_argument(
        "--retention-days",
        type=int,
        default=defaults.retention_days,
        help="days of samples kept and scored (1-365, default %(default)s)",
    )
    parser.add_argument(
        "--half-life-hours",
        type=int,
        default=defaults.half_life_hours,
        help="age at which a sample weighs half (1-168, default %(default)s)",
    )
    parser.add_argument(
        "--inactive-after-minutes",
        type=int,
        default=defaults.inactive_after_minutes,
        help="a server idle longer than this counts as inactive (1-1440, default %(default)s)",
    )
    parser.add_argument(
        "--once", action="store_true", help="take one sample, then exit (1 if it failed)"
    )
    return parser


def parse_settings(
    argv: Sequence[str] | None, environ: Mapping[str, str], parser: argparse.ArgumentParser
) -> SamplerSettings:
    """Validate the command line and the service environment; exits with a message naming the
    offending option (status 2) on a bad value."""
    args = parser.parse_args(argv)
    try:
        policy = ActivityPolicy(
            retention_days=args.retention_days,
            half_life_hours=args.half_life_hours,
            inactive_after_minutes=args.inactive_after_minutes,
            sample_interval_seconds=args.sample_interval_seconds,
        )
    except InvalidValue as exc:
        parser.error(f"argument {_POLICY_OPTIONS.get(exc.field, exc.field)}: {exc.message}")
    token = environ.get("JUPYTERHUB_API_TOKEN", "")
    if not token:
        parser.error(
            "JUPYTERHUB_API_TOKEN is not set: run the sampler as a JupyterHub managed service, "
            "or export a token with scopes list:users, read:users, read:users:activity, "
            "read:servers"
        )
    return SamplerSettings(
        db_url=args.db_url,
        policy=policy,
        api_url=environ.get("JUPYTERHUB_API_URL") or DEFAULT_API_URL,
        api_token=token,
        once=args.once,
    )


async def run_sampler(settings: SamplerSettings, database: SqlDatabase) -> int:
    """Wire the adapters into ActivityService and sample until a signal (or once)."""
    service = ActivityService(
        store=SqlActivityStore(database, half_life=settings.policy.half_life),
        directory=RestHubDirectory(settings.api_url, settings.api_token),
        clock=SystemClock(),
        policy=settings.policy,
    )
    sampler = SamplerLoop(service.tick, interval_seconds=settings.policy.sample_interval_seconds)
    if settings.once:
        return 0 if await sampler.tick_once() else 1
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, sampler.stop)
    loop.add_signal_handler(signal.SIGINT, sampler.stop)
    loop.add_signal_handler(signal.SIGUSR1, sampler.tick_now)
    log.info(
        "Activity sampler started: every %d s, hub %s, database %s, retention %d d, "
        "half-life %d h, inactive after %d min",
        settings.policy.sample_interval_seconds,
        settings.api_url,
        database.url_text,
        settings.policy.retention_days,
        settings.policy.half_life_hours,
        settings.policy.inactive_after_minutes,
    )
    await sampler.run()
    log.info("Activity sampler stopped (%d ticks, %d failed)", sampler.succeeded, sampler.failed)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `stellars-activity-sampler`; returns the process exit status."""
    parser = build_parser()
    settings = parse_settings(argv, os.environ, parser)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S")
    try:
        engine = create_store_engine(settings.db_url)
    except (InvalidValue, ArgumentError) as exc:
        parser.error(f"argument --db-url: {getattr(exc, 'message', exc)}")
    except ImportError as exc:
        parser.error(f"argument --db-url: its database driver is missing ({exc})")
    database = SqlDatabase(engine)
    try:
        return asyncio.run(run_sampler(settings, database))
    finally:
        database.close()


if __name__ == "__main__":
    sys.exit(main())
