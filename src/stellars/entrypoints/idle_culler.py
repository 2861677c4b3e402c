"""jupyterhub-idle-culler with the platform's arbiter: a JupyterHub managed service that stops a
server when the platform's session rule says so (idle past the timeout and past any extension
deadline, or older than max_age), never before.

    STELLARS_DB_URL=sqlite:////data/stellars.sqlite python -m stellars.entrypoints.idle_culler \
        --timeout 86400 --cull-every 600 --max-extension-hours 24 [--max-age 0]

`main()` is the composition root of this process: it hands `os.environ` to `parse_settings`,
which reads only what JupyterHub hands a managed service: JUPYTERHUB_API_TOKEN (which the culler
itself reads too), JUPYTERHUB_API_URL and the database URL in STELLARS_DB_URL (never on the
command line, which the hub logs and shows; `--db-url` wins over it when the culler is run by
hand). The policy comes from the command line that `command()` writes.

The culler lists users and servers through the hub API as usual; for each ready server it asks
`cull_arbiter_hook`, which applies `SessionService.decide` with the deadlines in the stellars
database and the user's own idle timeout and maximum extension (their groups' policies, read
from the groups' properties through the hub API: the service's role has list:groups and
read:groups), and records every cull as an event the hub's metrics count, and as the server's
last stop with its reason (idle since the server's last activity, or its maximum age) in the
shared stop store, before the culler asks the hub to stop it: the hub then records the stop as
the culler service's, and the stop rule keeps the earlier, more precise reason. The culler's own
inactivity and max-age checks are not used: the arbiter decides (it is given no --max-age).

With `--spare-busy` (STELLARS_CULL_SPARE_BUSY), a server that is computing counts as active
(`stellars.domain.busy`): the arbiter reads the busy record the hub's busy sampler keeps for it
in the same database (one read, only for a server the plain rule would stop) and keeps it with
the reason "kept alive: busy computing (...)" in its log.

SIGINT (what JupyterHub sends a managed service first) and SIGTERM stop it at once: the pass in
flight is cancelled, whatever signal dispositions the process inherited.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from jupyterhub_idle_culler import IdleCuller

from stellars.adapters.hub import RestHubDirectory, RestPolicyReader, server_from_model
from stellars.adapters.sql import SqlBusyStore, SqlEventLog, SqlServerStopStore, SqlSessionStore
from stellars.adapters.system import SystemClock
from stellars.domain.busy import BusyPolicy
from stellars.domain.docker_access import DockerAccessGroups
from stellars.domain.errors import StellarsError
from stellars.domain.events import PlatformEvent
from stellars.domain.hub import ServerSnapshot
from stellars.domain.policies import PlatformDefaults
from stellars.domain.services import (
    BusyService,
    PolicyResolver,
    ServerStopService,
    SessionService,
)
from stellars.domain.sessions import SessionPolicy
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

log = logging.getLogger("stellars.idle_culler")

MODULE = "stellars.entrypoints.idle_culler"  # what the hub runs with `python -m`
DEFAULT_API_URL = "http://127.0.0.1:8081/hub/api"
DEFAULT_CONCURRENCY = 10

# The culler's command line, read by its parser and written by `command()`; the hub's own
# warnings (warning_minutes) are no business of the culler's.
_OPTIONS: OptionTable = {
    "idle_timeout_seconds": ("--timeout", "seconds without activity before a server is stopped"),
    "cull_every_seconds": ("--cull-every", "seconds between two culler passes"),
    "max_extension_hours": ("--max-extension-hours", "hours a session may be extended"),
    "max_age_seconds": ("--max-age", "seconds after which any server is stopped (0: never)"),
}
# What counts as busy; `--spare-busy` switches the rule on (the hub then keeps the readings).
_BUSY_OPTIONS: OptionTable = {
    "cpu_percent": (
        "--busy-cpu-percent",
        "average CPU, in percent of one core, that counts as busy",
    ),
    "gpu_percent": ("--busy-gpu-percent", "GPU utilisation, in percent, that counts as busy"),
    "window_seconds": ("--busy-window-seconds", "seconds between two load readings"),
}
SPARE_BUSY_OPTION = "--spare-busy"
NOT_SPARED = BusyPolicy()  # the default: busy servers are not spared


def cull_reason(reason: str) -> str:
    """The metric label of a cull decision's reason."""
    if "max age" in reason:
        return "max-age"
    return "idle"


def username_of(server: Mapping[str, Any]) -> str | None:
    """The owner of a server model: `full_name` is "user/server" (JupyterHub 4+)."""
    full_name = server.get("full_name")
    if isinstance(full_name, str) and "/" in full_name:
        return full_name.rsplit("/", 1)[0]
    return None


class SessionArbiter:
    """`IdleCuller.cull_arbiter_hook`: the platform's session rule for one server model."""

    def __init__(
        self,
        sessions: SessionService,
        events: EventLog,
        clock: Clock,
        stops: ServerStopService | None = None,
    ) -> None:
        self._sessions = sessions
        self._events = events
        self._clock = clock
        self._stops = stops

    async def __call__(
        self, *, inactive: Any, inactive_limit: Any, server: Mapping[str, Any], **_: Any
    ) -> bool:
        username = username_of(server)
        if username is None:
            log.warning("not culling a server without an owner in its model: %s", server)
            return False
        try:
            snapshot = server_from_model(username, server)
            decision = await self._sessions.decide(snapshot)
        except (StellarsError, ValueError) as error:
            # The rule cannot be applied (database down, odd model): keep the server running.
            log.error("not culling %s: %s", server.get("full_name"), error)
            return False
        if decision.kept_busy:  # reported to the culler as active: it computes
            log.info("not culling %s: %s", server.get("full_name"), decision.reason)
        if decision.cull:
            log.info("culling %s: %s", server.get("full_name"), decision.reason)
            try:
                await self._events.record(
                    PlatformEvent(
                        kind="cull", at=self._clock.now(), outcome=cull_reason(decision.reason)
                    )
                )
            except StellarsError as error:  # counting must not stop the cull
                log.warning("could not record the cull of %s: %s", server.get("full_name"), error)
            await self._record_stop(snapshot, cull_reason(decision.reason))
        return decision.cull

    async def _record_stop(self, snapshot: ServerSnapshot, reason: str) -> None:
        """The server's last stop: culled for idleness since its last activity, or for its
        age; a failure is logged, and the cull goes on."""
        if self._stops is None:
            return
        try:
            await self._stops.culled(
                snapshot.username,
                snapshot.name,
                max_age=reason == "max-age",
                idle_since=snapshot.last_activity,
            )
        except StellarsError as error:
            log.warning("could not record why %s was culled: %s", snapshot.username, error)


@dataclass(frozen=True, slots=True)
class CullerSettings:
    """Everything the culler process needs, parsed and validated."""

    db_url: str
    policy: SessionPolicy
    api_url: str
    api_token: str
    busy: BusyPolicy = NOT_SPARED
    concurrency: int = DEFAULT_CONCURRENCY
    db_url_origin: str = "argument --db-url"  # where the URL came from, for error messages


def command(
    policy: SessionPolicy, *, busy: BusyPolicy = NOT_SPARED, python: str = sys.executable
) -> list[str]:
    """How the hub starts the culler for `policy` (an enabled one) and the busy rule `busy`:
    the options of the tables the parser reads. Nothing secret: the database URL goes in the
    service's environment (`service_options.service_environment`)."""
    spare = [SPARE_BUSY_OPTION, *policy_arguments(busy, _BUSY_OPTIONS)] if busy.enabled else []
    return [python, "-m", MODULE, *policy_arguments(policy, _OPTIONS), *spare]


def stop_on_signals(loop: asyncio.AbstractEventLoop) -> None:
    """SIGINT and SIGTERM cancel the culler's tasks and stop `loop`.

    JupyterHub stops a managed service with SIGINT and waits 30 s before its SIGTERM. A process
    started with SIGINT ignored (a hub launched from a background job of a script) keeps it
    ignored, and jupyterhub-idle-culler itself only catches KeyboardInterrupt: so the culler
    handles both signals on its loop, and ends its pass in flight instead of leaving it pending.
    """

    async def shut_down() -> None:
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        loop.stop()

    def on_signal(signum: int) -> None:
        log.info("idle culler stopping (%s)", signal.Signals(signum).name)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        loop.create_task(shut_down())

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stellars-idle-culler",
        description="jupyterhub-idle-culler deciding with the platform's session rule (a "
        "JupyterHub managed service: the hub provides JUPYTERHUB_API_TOKEN, "
        "JUPYTERHUB_API_URL and STELLARS_DB_URL).",
    )
    add_db_url_option(parser, "sqlite:////data/stellars.sqlite")
    add_policy_options(parser, _OPTIONS, SessionPolicy)
    parser.add_argument(
        "--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="servers handled at once"
    )
    parser.add_argument(
        SPARE_BUSY_OPTION,
        action="store_true",
        help="count a server that is computing as active (the hub keeps its load readings)",
    )
    add_policy_options(parser, _BUSY_OPTIONS, BusyPolicy)
    return parser


def parse_settings(
    argv: Sequence[str] | None,
    environ: Mapping[str, str],
    parser: argparse.ArgumentParser | None = None,
) -> CullerSettings:
    """Validate the command line and the service environment; exits with a message naming the
    offending option (status 2) on a bad value."""
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    policy = policy_from_args(SessionPolicy, args, _OPTIONS, parser, enabled=True)
    busy = policy_from_args(BusyPolicy, args, _BUSY_OPTIONS, parser, enabled=args.spare_busy)
    db_url, db_url_origin = database_url(args, environ, parser)
    token = environ.get("JUPYTERHUB_API_TOKEN", "")
    if not token:
        parser.error(
            "JUPYTERHUB_API_TOKEN is not set: run the culler as a JupyterHub managed service"
        )
    return CullerSettings(
        db_url=db_url,
        policy=policy,
        api_url=environ.get("JUPYTERHUB_API_URL") or DEFAULT_API_URL,
        api_token=token,
        concurrency=args.concurrency,
        db_url_origin=db_url_origin,
        busy=busy,
    )


def session_policies(settings: CullerSettings, directory: RestHubDirectory) -> PolicyResolver:
    """Each user's idle timeout and maximum extension from their groups' policies, read through
    the hub API; only the session fields matter here (no image or mount is checked)."""
    policy = settings.policy
    defaults = PlatformDefaults(
        idle_timeout_seconds=policy.idle_timeout_seconds,
        max_extension_hours=policy.max_extension_hours,
    )
    return PolicyResolver(
        reader=RestPolicyReader(settings.api_url, settings.api_token),
        directory=directory,
        defaults=lambda: defaults,
        allowed_images=None,
        volumes={},
        access_groups=DockerAccessGroups(),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    settings = parse_settings(argv, os.environ, parser)
    policy = settings.policy
    logging.basicConfig(
        level=logging.INFO, format="[%(levelname)1.1s %(asctime)s %(name)s] %(message)s"
    )
    database = open_database(settings.db_url, settings.db_url_origin, parser)
    clock = SystemClock()
    directory = RestHubDirectory(settings.api_url, settings.api_token)
    sessions = SessionService(
        store=SqlSessionStore(database),
        directory=directory,
        clock=clock,
        policy=policy,
        policies=session_policies(settings, directory),
        # Reads only the records the hub's busy sampler keeps: a decision never waits for one.
        busy=BusyService(store=SqlBusyStore(database), clock=clock, policy=settings.busy),
    )
    stops = ServerStopService(store=SqlServerStopStore(database), directory=directory, clock=clock)
    arbiter = SessionArbiter(sessions, SqlEventLog(database), clock, stops)
    culler = IdleCuller()
    culler.initialize(
        [
            f"--url={settings.api_url}",
            f"--timeout={policy.idle_timeout_seconds}",
            f"--cull-every={policy.cull_every_seconds}",
            f"--concurrency={settings.concurrency}",
        ]
    )
    # Set on the instance, not through its Config, which traitlets would deep-copy.
    culler.cull_arbiter_hook = arbiter
    busy = settings.busy
    log.info(
        "idle culler started: timeout %s, every %d s, extensions up to %d h, max age %s, %s",
        timedelta(seconds=policy.idle_timeout_seconds),
        policy.cull_every_seconds,
        policy.max_extension_hours,
        policy.max_age or "none",
        f"busy servers spared (CPU {busy.cpu_percent} % of a core, GPU {busy.gpu_percent} %, "
        f"over {busy.window_seconds} s)"
        if busy.enabled
        else "busy servers not spared",
    )
    loop = asyncio.new_event_loop()  # the loop culler.start() runs (tornado's current loop)
    asyncio.set_event_loop(loop)
    stop_on_signals(loop)
    try:
        culler.start()
    finally:
        database.close()
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
