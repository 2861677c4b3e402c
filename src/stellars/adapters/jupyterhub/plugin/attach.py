"""How the platform plugs into JupyterHub: its routes, its start with the hub, its stop.

JupyterHub asks its authenticator for extra handlers once, while it initialises, and hands it
the application (`Authenticator.get_handlers(app)`); the handlers it returns are registered
under the hub prefix ahead of JupyterHub's own. `with_platform(SomeAuthenticator)` (or the
`PlatformRoutes` mixin) makes any authenticator class use that call to attach the platform
carried by the hub's `HubPlugin` and register its routes, so the platform works whichever way
users log in (docs/decisions/0001-registering-routes.md explains the choice of hook).

Attaching runs a few named steps on the hub's loop: `bind` the in-hub adapters to the
application, `record_audit` (the audit feed, at the end of every request),
`refuse_exposed_local_servers` (the command line may widen what the configuration checked),
`sync_hub_objects` (roles, groups, user events, the admin's password),
`tune_process` (scheduling priority, garbage collection, the loop-lag monitor) and
`start_background` (metrics, the platform's refreshers, turns for JupyterHub's own routes once its
application exists, the lab favicon handler and routes once the hub serves, and the platform's
stop when the hub shuts down).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tornado import web

from stellars.adapters.jupyterhub.hub_objects import HubHandle
from stellars.adapters.jupyterhub.hub_process import (
    LoopLagMonitor,
    put_this_thread_ahead,
    settle_garbage_collection,
)
from stellars.adapters.jupyterhub.web import (
    Turns,
    audited,
    handlers,
    metrics,
    take_turns_on_hub_routes,
)
from stellars.domain.settings import SpawnerKind, is_loopback

from .favicon import LabFavicon
from .groups import ensure_groups
from .roles import follow_admins
from .user_events import follow_users

if TYPE_CHECKING:
    from stellars.platform import Platform

#: The key of the HubPlugin in JupyterHub's tornado settings.
PLUGIN_SETTING = "stellars"
#: How long the platform waits for the hub to serve before its lab favicons stay stock.
SERVING_WAIT_SECONDS = 600.0
#: How often the platform looks for the hub's Tornado application while JupyterHub starts.
APPLICATION_POLL_SECONDS = 0.01

log = logging.getLogger(__name__)


@dataclass(eq=False, kw_only=True)
class HubPlugin:
    """The one object the composition root hands the hub, under `PLUGIN_SETTING` in its
    tornado settings: the platform, the handle its in-hub adapters reach the hub through, and
    where copied branding files are served from."""

    platform: Platform
    hub: HubHandle
    branding_dir: str = ""
    turns: Turns = field(default_factory=Turns)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list, repr=False)

    def __deepcopy__(self, memo: dict[int, object]) -> HubPlugin:
        # traitlets deep-copies config values (tornado_settings included): the hub must get
        # this very plugin, not a clone with its own thread pools and caches.
        return self

    def keep(self, task: asyncio.Task[Any]) -> None:
        """Hold a reference to a background task (the loop holds tasks only weakly)."""
        self.tasks.append(task)
        task.add_done_callback(_log_failure)


def share_hub_log(app: Any) -> None:
    """Let the platform's own loggers (`stellars.*`: domain services, in-hub adapters) write to
    the hub's log, at its level; without handlers of their own, Python would show only their
    warnings."""
    platform_log = logging.getLogger("stellars")
    if platform_log.handlers:
        return
    for handler in app.log.handlers:
        platform_log.addHandler(handler)
    platform_log.setLevel(app.log.level)
    platform_log.propagate = False


def bind(plugin: HubPlugin, app: Any) -> None:
    """Hand the running application to the in-hub adapters, and the hub's log to the platform."""
    plugin.hub.bind(app)
    share_hub_log(app)


def record_audit(plugin: HubPlugin, app: Any) -> None:
    """Record the audit feed at the end of every request the hub answers: its request log
    function, wrapped (web/recording.py says why there). JupyterHub builds the application
    from its tornado settings after asking for the platform's handlers, so the wrapped
    function is the one it uses."""
    settings = app.tornado_settings
    logged = settings.get("log_function")
    if logged is None or getattr(logged, "audit_trail", None) is not None:
        return  # no log function to follow (not a hub), or already recorded
    settings["log_function"] = audited(logged, plugin.platform.audit)


def refuse_exposed_local_servers(plugin: HubPlugin, app: Any) -> None:
    """Stop the hub when it would run local servers (as its own user) while listening beyond
    loopback: the configuration checked its own addresses, but command-line options
    (`--ip`, `--url`, the hub's bind URL) win over it."""
    if plugin.platform.settings.spawner.kind is not SpawnerKind.LOCAL:
        return
    exposed = [
        f"{what} listens on {host or 'every interface'}"
        for what, host in (
            ("the proxy", app.ip),
            ("the hub", urlsplit(app.hub.bind_url).hostname or ""),
        )
        if not is_loopback(host)
    ]
    if exposed:
        raise SystemExit(
            "stellars-hub: STELLARS_SPAWNER=local: local servers run as the hub's own user, so "
            f"the hub must listen on loopback only, but {' and '.join(exposed)}; use docker"
        )


def sync_hub_objects(plugin: HubPlugin, app: Any) -> None:
    """Bring the hub's own objects in line with the platform, and keep them so: the platform's
    admin role, its groups, users followed through renames and deletions, the admin's password."""
    platform = plugin.platform
    follow_admins(app.db)
    ensure_groups(app.db, platform.settings.docker_access.names)
    follow_users(app.db, platform.users)
    platform.bootstrap()


def tune_process(plugin: HubPlugin) -> LoopLagMonitor:
    """Tune the hub process for a responsive loop (runs on the loop's own thread) and start
    watching it; returns the loop-lag monitor."""
    tuning = plugin.platform.settings.hub_process
    if tuning.loop_thread_realtime:
        refused = put_this_thread_ahead()
        if refused:
            log.warning("stellars: STELLARS_HUB_LOOP_REALTIME is set, but %s", refused)
        else:
            log.info("stellars: the event loop's thread runs under SCHED_RR 1")
    frozen = settle_garbage_collection()
    log.info("stellars: %d objects of the hub's start-up kept out of garbage collection", frozen)
    report_ms = tuning.loop_stall_report_ms
    monitor = LoopLagMonitor(report_after=report_ms / 1000 if report_ms else None)
    monitor.start()
    return monitor


def start_background(plugin: HubPlugin, app: Any, monitor: LoopLagMonitor) -> None:
    """Metrics, the platform's background work, turns for the hub's own routes, the lab
    favicon once the hub serves, and the platform's stop when the hub shuts down."""
    platform = plugin.platform
    metrics.register(platform, lambda: monitor.worst)
    loop = asyncio.get_running_loop()
    plugin.keep(loop.create_task(platform.start()))
    plugin.keep(loop.create_task(_turns_for_hub_routes(plugin, app)))
    plugin.keep(loop.create_task(_once_serving(plugin, app)))
    plugin.keep(loop.create_task(_stop_with_the_hub(platform, monitor)))


async def _turns_for_hub_routes(plugin: HubPlugin, app: Any) -> None:
    """Once JupyterHub has built its Tornado application (right after it asked for the
    platform's handlers, before it serves), its own routes take turns too (web/hub_routes.py)."""
    deadline = asyncio.get_running_loop().time() + SERVING_WAIT_SECONDS
    while getattr(app, "tornado_application", None) is None:
        if asyncio.get_running_loop().time() > deadline:
            log.error("stellars: the hub built no application in time; its routes take no turns")
            return
        await asyncio.sleep(APPLICATION_POLL_SECONDS)
    changed = take_turns_on_hub_routes(app.tornado_application, plugin.turns)
    log.info("stellars: %d of JupyterHub's routes take turns once the caller is known", changed)


async def _once_serving(plugin: HubPlugin, app: Any) -> None:
    """Once the hub serves (its proxy runs by then): answer lab favicons and keep their routes."""
    deadline = asyncio.get_running_loop().time() + SERVING_WAIT_SECONDS
    while getattr(app, "http_server", None) is None:
        if asyncio.get_running_loop().time() > deadline:
            log.error("stellars: the hub did not serve in time; lab favicons stay stock")
            return
        await asyncio.sleep(0.1)
    platform = plugin.platform
    if platform.favicon_routes.enabled:
        LabFavicon(platform.branding, plugin.branding_dir).attach(app)
    platform.start_route_keeping()


async def _stop_with_the_hub(platform: Platform, monitor: LoopLagMonitor) -> None:
    """Wait for the hub's shutdown, which cancels every task of its loop once it has cleaned
    up, then stop the platform (its refreshers, follow-ups in flight) and the loop monitor."""
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        await platform.stop()
        await monitor.stop()
        log.info("stellars: the platform stopped with the hub")


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("stellars: the platform's background work failed", exc_info=task.exception())


def attach_platform(app: Any) -> list[tuple[Any, ...]]:
    """Attach the platform carried by `app`'s HubPlugin, start it with the hub, and return its
    handlers (none when the hub runs without a platform)."""
    plugin = app.tornado_settings.get(PLUGIN_SETTING)
    if plugin is None:
        app.log.warning("stellars: no platform in tornado_settings; its routes are not served")
        return []
    bind(plugin, app)
    record_audit(plugin, app)
    refuse_exposed_local_servers(plugin, app)
    sync_hub_objects(plugin, app)
    monitor = tune_process(plugin)
    start_background(plugin, app, monitor)
    return handlers(plugin.platform, turns=plugin.turns, branding_dir=plugin.branding_dir)


class PlatformRoutes:
    """Mixin for an Authenticator class: `class MyAuth(PlatformRoutes, GitHubOAuthenticator)`.

    The platform's routes come first, then the authenticator's own. Usernames the platform
    cannot give a container and volumes (too long for Docker's limits once DockerSpawner has
    escaped them) are refused wherever JupyterHub or the authenticator validates a name (a user
    created through the API, a sign-up, a login that creates the user, a rename): a 400 whose
    message names the limit, instead of a failed spawn later.
    """

    _stellars_platform: Platform | None = None

    def get_handlers(self, app: Any) -> list[tuple[Any, ...]]:
        plugin = app.tornado_settings.get(PLUGIN_SETTING)
        self._stellars_platform = None if plugin is None else plugin.platform
        return [*attach_platform(app), *super().get_handlers(app)]  # type: ignore[misc]

    async def add_user(self, user: Any) -> None:
        """The authenticator's own `add_user`, then a turn of the loop for everyone else:
        JupyterHub creates the users of one API request (an admin's class of 100) one after
        another in a single handler, and would otherwise hold the loop for all of them."""
        added = super().add_user(user)  # type: ignore[misc]
        if inspect.isawaitable(added):
            await added
        await asyncio.sleep(0)

    def validate_username(self, username: str) -> bool:
        valid = bool(super().validate_username(username))  # type: ignore[misc]
        platform = self._stellars_platform
        if not valid or platform is None or platform.settings.spawner.kind is SpawnerKind.LOCAL:
            return valid  # local processes have no Docker names to fit
        problem = platform.volumes.username_problem(username)
        if problem is not None:
            raise web.HTTPError(400, f"The username {problem}")
        return True


def with_platform(authenticator_class: type) -> type:
    """`authenticator_class` serving the platform's routes too: a subclass with the
    `PlatformRoutes` mixin (the class itself when it has it already). Its configuration
    sections stay the parent's (`c.GenericOAuthenticator...` applies to the subclass)."""
    if issubclass(authenticator_class, PlatformRoutes):
        return authenticator_class
    return type(
        f"Platform{authenticator_class.__name__}",
        (PlatformRoutes, authenticator_class),
        {
            "__module__": __name__,
            "__doc__": f"{authenticator_class.__name__} that also serves the stellars platform.",
        },
    )
