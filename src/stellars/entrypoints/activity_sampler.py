"""The activity sampler: a JupyterHub managed service that records, every interval, one activity
sample per hub user (all of them, every page of the hub API) and prunes what left the window.

    STELLARS_DB_URL=sqlite:////data/stellars.sqlite stellars-activity-sampler \
        --sample-interval-seconds 600
    python -m stellars.entrypoints.activity_sampler --db-url ... --once

`main()` is the composition root of this process. From the environment it reads only what
JupyterHub hands a managed service: JUPYTERHUB_API_TOKEN, JUPYTERHUB_API_URL and the database
URL in STELLARS_DB_URL (never on the command line, which the hub logs and shows; `--db-url`
wins over it when the sampler is run by hand). Its policy comes from the command line that
`command()` writes, validated by the domain's ActivityPolicy, so a bad value stops it with a
message naming the option.

A failed tick (hub restarting, database busy or down) is logged and retried at the next tick;
the process never exits for it. SIGTERM and SIGINT stop it after the tick in progress; SIGUSR1
takes a sample now.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stellars.adapters.hub import RestHubDirectory
from stellars.adapters.sql import SqlActivityStore, SqlDatabase, SqlEventLog
from stellars.adapters.system import SystemClock
from stellars.domain.activity import ActivityPolicy
from stellars.domain.errors import BackendUnavailable, StellarsError
from stellars.domain.events import SAMPLER_TICK, PlatformEvent
from stellars.domain.services import ActivityService, Refresher, TickSummary
from stellars.ports import Clock, EventLog

from .service_options import (
    OptionTable,
    add_db_url_option,
    add_policy_options,
    database_url,
    open_database,
    policy_arguments,
    policy_from_args,
)

log = logging.getLogger("stellars.activity_sampler")

MODULE = "stellars.entrypoints.activity_sampler"  # what the hub runs with `python -m`
DEFAULT_API_URL = "http://127.0.0.1:8081/hub/api"
LOG_FORMAT = "[%(levelname)1.1s %(asctime)s.%(msecs)03d %(name)s] %(message)s"
# The sampler's command line, read by its parser and written by `command()`.
_POLICY_OPTIONS: OptionTable = {
    "sample_interval_seconds": ("--sample-interval-seconds", "seconds between samples"),
    "retention_days": ("--retention-days", "days of samples kept and scored"),
    "half_life_hours": ("--half-life-hours", "age at which a sample weighs half"),
    "inactive_after_minutes": (
        "--inactive-after-minutes",
        "a server idle longer than this counts as inactive",
    ),
}


@dataclass(frozen=True, slots=True)
class SamplerSettings:
    """Everything the sampler process needs, parsed and validated."""

    db_url: str
    policy: ActivityPolicy
    api_url: str
    api_token: str
    once: bool = False
    db_url_origin: str = "argument --db-url"  # where the URL came from, for error messages


def log_tick_failure(error: Exception) -> None:
    """A failed tick is retried at the next one; only an unexpected error gets a traceback."""
    if isinstance(error, BackendUnavailable):
        log.error("Tick failed, retrying at the next tick: %s", error)
    else:
        log.error("Tick failed unexpectedly, retrying at the next tick", exc_info=error)


async def record_tick(events: EventLog, clock: Clock, outcome: str, seconds: float) -> None:
    """Count a tick for the hub's metrics; a log that cannot be reached costs only the count."""
    try:
        await events.record(
            PlatformEvent(kind=SAMPLER_TICK, at=clock.now(), outcome=outcome, seconds=seconds)
        )
    except StellarsError as error:
        log.warning("could not record the tick for the hub's metrics: %s", error)


def sampler_loop(
    service: ActivityService,
    policy: ActivityPolicy,
    events: EventLog,
    clock: Clock,
) -> Refresher[TickSummary | None]:
    """The sampling loop: a tick now and every interval, each logged in one line and recorded
    in the event log (with its duration) for the hub's metrics."""

    async def tick() -> TickSummary:
        started = time.perf_counter()
        try:
            summary = await service.tick()
        except Exception:
            await record_tick(events, clock, "failed", time.perf_counter() - started)
            raise
        await record_tick(events, clock, "ok", time.perf_counter() - started)
        # Events live as long as samples do: the hub only needs the recent ones.
        await events.prune(older_than=clock.now() - policy.retention)
        log.info(summary.line)
        return summary

    return Refresher(
        tick,
        empty=None,
        interval=policy.sample_interval,
        clock=clock,
        name="activity sampler",
        log=log,
        on_failure=log_tick_failure,
    )


def command(policy: ActivityPolicy, *, python: str = sys.executable) -> list[str]:
    """How the hub starts the sampler for `policy`: the options of the one table the parser
    reads. Nothing secret: the database URL goes in the service's environment
    (`service_options.service_environment`)."""
    return [python, "-m", MODULE, *policy_arguments(policy, _POLICY_OPTIONS)]


def build_parser() -> argparse.ArgumentParser:
    """The command line of the sampler."""
    parser = argparse.ArgumentParser(
        prog="stellars-activity-sampler",
        description=(
            "Record one activity sample per JupyterHub user every interval (a JupyterHub "
            "managed service: the hub provides JUPYTERHUB_API_TOKEN, JUPYTERHUB_API_URL and "
            "STELLARS_DB_URL). "
            "SIGUSR1 takes a sample now; SIGTERM stops."
        ),
    )
    add_db_url_option(
        parser, "sqlite:////data/stellars.sqlite or postgresql+psycopg://user:pass@host/db"
    )
    add_policy_options(parser, _POLICY_OPTIONS, ActivityPolicy)
    parser.add_argument(
        "--once", action="store_true", help="take one sample, then exit (1 if it failed)"
    )
    return parser


def parse_settings(
    argv: Sequence[str] | None,
    environ: Mapping[str, str],
    parser: argparse.ArgumentParser | None = None,
) -> SamplerSettings:
    """Validate the command line and the service environment; exits with a message naming the
    offending option (status 2) on a bad value."""
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    policy = policy_from_args(ActivityPolicy, args, _POLICY_OPTIONS, parser)
    db_url, db_url_origin = database_url(args, environ, parser)
    token = environ.get("JUPYTERHUB_API_TOKEN", "")
    if not token:
        parser.error(
            "JUPYTERHUB_API_TOKEN is not set: run the sampler as a JupyterHub managed service, "
            "or export a token with scopes list:users, read:users, read:users:activity, "
            "read:servers"
        )
    return SamplerSettings(
        db_url=db_url,
        policy=policy,
        api_url=environ.get("JUPYTERHUB_API_URL") or DEFAULT_API_URL,
        api_token=token,
        once=args.once,
        db_url_origin=db_url_origin,
    )


async def run_sampler(settings: SamplerSettings, database: SqlDatabase) -> int:
    """Wire the adapters into ActivityService and sample until a signal (or once)."""
    clock = SystemClock()
    service = ActivityService(
        store=SqlActivityStore(database, half_life=settings.policy.half_life),
        directory=RestHubDirectory(settings.api_url, settings.api_token),
        clock=clock,
        policy=settings.policy,
    )
    sampler = sampler_loop(service, settings.policy, SqlEventLog(database), clock)
    if settings.once:
        return 0 if (await sampler.refresh_now()).error is None else 1
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()

    def stop() -> None:  # finish the tick in progress, then leave
        loop.create_task(sampler.stop(finish_pass=True)).add_done_callback(lambda _: stopped.set())

    loop.add_signal_handler(signal.SIGTERM, stop)
    loop.add_signal_handler(signal.SIGINT, stop)
    loop.add_signal_handler(signal.SIGUSR1, sampler.wake)
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
    sampler.start()
    await stopped.wait()
    log.info(
        "Activity sampler stopped (%d ticks, %d failed)",
        sampler.passes - sampler.failed_passes,
        sampler.failed_passes,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `stellars-activity-sampler`; returns the process exit status."""
    parser = build_parser()
    settings = parse_settings(argv, os.environ, parser)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S")
    database = open_database(settings.db_url, settings.db_url_origin, parser)
    try:
        return asyncio.run(run_sampler(settings, database))
    finally:
        database.close()


if __name__ == "__main__":
    sys.exit(main())
