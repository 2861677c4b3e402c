"""How the platform plugs into JupyterHub: its routes, and its start with the hub.

JupyterHub asks its authenticator for extra handlers once, while it initialises, and hands it
the application (`Authenticator.get_handlers(app)`); the handlers it returns are registered
under the hub prefix ahead of JupyterHub's own. `PlatformRoutes` is a mixin for any
Authenticator class that uses that call to register the platform's routes, attach the in-hub
adapters to the application and start the platform's background work on the hub's loop.
`JupyterHub.extra_handlers` is not used: it is deprecated since JupyterHub 3.1 and warns at
every start (docs/decisions/0001-registering-routes.md explains the choice).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

from .favicon import LAB_FAVICON_SETTING
from .groups import ensure_groups
from .loop_priority import put_this_thread_ahead
from .roles import follow_admins
from .user_events import follow_users
from .web import PLATFORM_SETTING, handlers, metrics

#: The key of the HubHandle in JupyterHub's tornado settings.
HUB_HANDLE_SETTING = "stellars_hub"

log = logging.getLogger(__name__)


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


#: Net allocations between young-generation collections (CPython's default is 700). See
#: `settle_garbage_collection`.
YOUNG_COLLECTION_THRESHOLD = 10_000


def settle_garbage_collection() -> int:
    """Keep the hub's long-lived objects out of the collector's way; returns how many objects
    were frozen.

    By the time the hub asks for its handlers, its modules, classes and configuration are
    loaded: a quarter of a million objects that live as long as the process, and that every
    full collection would otherwise walk again, holding every thread (about 250 ms on a
    two-core machine). They are frozen: objects made later are collected as usual.

    Young collections are made rarer too. At CPython's default a dashboard build, alive for a
    few collections only, is promoted to the oldest generation, and every few builds trigger a
    full collection of JupyterHub's user objects (60 to 80 ms at 1,000 users). At 10,000 most
    of what a request makes is freed by reference counting before a collection sees it; a
    young collection then takes 8 to 20 ms (docs/decisions/0004)."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, oldest)
    return gc.get_freeze_count()


def attach_platform(app: Any) -> list[tuple[Any, ...]]:
    """Attach the platform configured in `app.tornado_settings` to `app`, schedule its start,
    and return its handlers (none when the hub runs without a platform)."""
    platform = app.tornado_settings.get(PLATFORM_SETTING)
    if platform is None:
        app.log.warning("stellars: no platform in tornado_settings; its routes are not served")
        return []
    handle = app.tornado_settings.get(HUB_HANDLE_SETTING)
    if handle is not None:
        handle.bind(app)
    share_hub_log(app)
    follow_admins(app.db)
    ensure_groups(app.db, platform.settings.docker_access.names)
    follow_users(app.db, platform.users)
    platform.bootstrap()
    favicon = app.tornado_settings.get(LAB_FAVICON_SETTING)
    if favicon is not None:
        favicon.attach(app)
    if platform.settings.hub_process.loop_thread_realtime:
        refused = put_this_thread_ahead()  # attach_platform runs on the loop's thread
        if refused:
            log.warning("stellars: STELLARS_HUB_LOOP_REALTIME is set, but %s", refused)
        else:
            log.info("stellars: the event loop's thread runs under SCHED_RR 1")
    metrics.register(platform)
    frozen = settle_garbage_collection()
    log.info("stellars: %d objects of the hub's start-up kept out of garbage collection", frozen)
    task = asyncio.get_running_loop().create_task(platform.start())
    # Keep a reference: the loop holds tasks only weakly.
    app.tornado_settings.setdefault("stellars_tasks", []).append(task)
    task.add_done_callback(_log_start_failure)
    return handlers()


def _log_start_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("stellars: the platform failed to start", exc_info=task.exception())


class PlatformRoutes:
    """Mixin for an Authenticator class: `class MyAuth(PlatformRoutes, GitHubOAuthenticator)`.

    The platform's routes come first, then the authenticator's own.
    """

    def get_handlers(self, app: Any) -> list[tuple[Any, ...]]:
        return [*attach_platform(app), *super().get_handlers(app)]  # type: ignore[misc]
