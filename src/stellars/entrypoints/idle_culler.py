"""jupyterhub-idle-culler with the platform's arbiter: a JupyterHub managed service that stops a
server when the platform's session rule says so (idle past the timeout and past any extension
deadline, or older than max_age), never before.

    python -m stellars.entrypoints.idle_culler --db-url sqlite:////data/stellars.sqlite \
        --timeout 86400 --cull-every 600 --max-extension-hours 24 [--max-age 0]

`main()` is the composition root of this process: from the environment it reads only what
JupyterHub hands a managed service (JUPYTERHUB_API_TOKEN, JUPYTERHUB_API_URL, which the culler
itself reads). The culler lists users and servers through the hub API as usual; for each ready
server it asks `cull_arbiter_hook`, which applies `SessionService.decide` with the deadlines in
the stellars database, and records every cull as an event the hub's metrics count. The culler's
own inactivity and max-age checks are not used: the arbiter decides (it is given no --max-age).

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
from datetime import timedelta
from typing import Any

from jupyterhub_idle_culler import IdleCuller
from traitlets.config import Config

from stellars.adapters.hub import RestHubDirectory, server_from_model
from stellars.adapters.sql import SqlDatabase, SqlEventLog, SqlSessionStore
from stellars.adapters.system import SystemClock
from stellars.domain.errors import InvalidValue, StellarsError
from stellars.domain.events import PlatformEvent
from stellars.domain.services import SessionService
from stellars.domain.sessions import SessionPolicy
from stellars.domain.validation import describe_bounds

log = logging.getLogger("stellars.idle_culler")

DEFAULT_API_URL = "http://127.0.0.1:8081/hub/api"

# policy field -> (option, what it means); ranges come from SessionPolicy itself.
_OPTIONS = {
    "idle_timeout_seconds": ("--timeout", "seconds without activity before a server is stopped"),
    "cull_every_seconds": ("--cull-every", "seconds between two culler passes"),
    "max_extension_hours": ("--max-extension-hours", "hours a session may be extended"),
    "max_age_seconds": ("--max-age", "seconds after which any server is stopped (0: never)"),
}


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

    def __init__(self, sessions: SessionService, events: SqlEventLog, clock: SystemClock) -> None:
        self._sessions = sessions
        self._events = events
        self._clock = clock

    def __deepcopy__(self, memo: dict[int, object]) -> SessionArbiter:
        # traitlets deep-copies config values; the hook must keep its live database.
        return self

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
        return decision.cull


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
    defaults = SessionPolicy()
    parser = argparse.ArgumentParser(
        prog="stellars-idle-culler",
        description="jupyterhub-idle-culler deciding with the platform's session rule (a "
        "JupyterHub managed service: the hub provides JUPYTERHUB_API_TOKEN and "
        "JUPYTERHUB_API_URL).",
    )
    parser.add_argument("--db-url", required=True, help="SQLAlchemy URL of the stellars database")
    for field, (option, meaning) in _OPTIONS.items():
        parser.add_argument(
            option,
            type=int,
            default=getattr(defaults, field),
            help=f"{meaning} ({describe_bounds(SessionPolicy.LIMITS[field])}, default %(default)s)",
        )
    parser.add_argument("--concurrency", type=int, default=10, help="servers handled at once")
    return parser


def parse_policy(args: argparse.Namespace, parser: argparse.ArgumentParser) -> SessionPolicy:
    try:
        return SessionPolicy(
            enabled=True,
            idle_timeout_seconds=args.timeout,
            cull_every_seconds=args.cull_every,
            max_extension_hours=args.max_extension_hours,
            max_age_seconds=args.max_age,
        )
    except InvalidValue as exc:
        option = _OPTIONS[exc.field][0] if exc.field in _OPTIONS else exc.field
        parser.error(f"argument {option}: {exc.message}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    policy = parse_policy(args, parser)
    logging.basicConfig(
        level=logging.INFO, format="[%(levelname)1.1s %(asctime)s %(name)s] %(message)s"
    )
    api_url = os.environ.get("JUPYTERHUB_API_URL", DEFAULT_API_URL)
    token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
    if not token:
        parser.error(
            "JUPYTERHUB_API_TOKEN is not set: run the culler as a JupyterHub managed service"
        )
    database = SqlDatabase.from_url(args.db_url)
    clock = SystemClock()
    sessions = SessionService(
        store=SqlSessionStore(database),
        directory=RestHubDirectory(api_url, token),
        clock=clock,
        policy=policy,
    )
    arbiter = SessionArbiter(sessions, SqlEventLog(database), clock)
    config = Config()
    config.IdleCuller.cull_arbiter_hook = arbiter
    culler = IdleCuller(config=config)
    culler.initialize(
        [
            f"--timeout={policy.idle_timeout_seconds}",
            f"--cull-every={policy.cull_every_seconds}",
            f"--concurrency={args.concurrency}",
        ]
    )
    log.info(
        "idle culler started: timeout %s, every %d s, extensions up to %d h, max age %s",
        timedelta(seconds=policy.idle_timeout_seconds),
        policy.cull_every_seconds,
        policy.max_extension_hours,
        policy.max_age or "none",
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
