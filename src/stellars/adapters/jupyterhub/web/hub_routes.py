"""Turns for the hub's other routes: JupyterHub's own and the authenticator's.

The platform's handlers take a turn once they know who calls (see `turns` and `base`). The
routes that are not ours need it too, for the requests that change something: twenty servers
started at once through JupyterHub's `POST /hub/api/users/{name}/server` run each spawn's start
(the server's row, its OAuth client and token, their commits, then the pre-spawn hook) back to
back in one pass of the loop, which held the hub's loop for 100 to 150 ms on a two-core machine
(`bench/policies.py`, the loop thread first for a CPU). With a turn after authentication each
spawn starts in a pass of its own, and the worst lag during those twenty spawns was 42 to 59 ms
in four runs of the same bench; what is left is JupyterHub's own first step of each spawn.

JupyterHub's reads (`GET`, `HEAD`, `OPTIONS`: a user's model, who a token is, a page) take no
turn. Each is a token lookup and a model, a few milliseconds, and they come in the largest
bursts: every lab checks its credential with the hub, and a broadcast to 200 stand-in labs
that check on every notification (`bench/broadcast.py --servers 200`) took 630 to 690 ms with
those checks queued one every other pass, against 530 ms without.

JupyterHub builds its Tornado application after it asks for the platform's handlers, so the
turn cannot come with a route we register; instead, once the application exists, every rule
whose handler is a JupyterHub `BaseHandler` (and not one of ours) gets a subclass of that
handler that takes the turn after its own `prepare`. The same rule as ours holds: only a
signed-in caller takes a turn, so a flood of anonymous requests never queues ahead of users
(security review L5). JupyterHub itself is not changed, nor are other hubs in the same process:
only this application's rules point at the subclasses.

A subclass keeps its parent's name and module: JupyterHub labels its request metrics with the
handler's class, and the hub's dashboards should not see new names.
"""

from __future__ import annotations

from typing import Any

from jupyterhub.handlers.base import BaseHandler
from tornado.routing import Router, Rule

from .base import PlatformMixin
from .turns import READS, Turns


class TurnOnceSignedIn:
    """Mixed in before a JupyterHub handler: its `prepare`, then a turn when someone signed in
    asks for a change."""

    #: The hub's turns, set on each generated subclass.
    hub_turns: Turns
    request: Any  # the handler's own (Tornado's RequestHandler)

    async def prepare(self) -> None:
        prepared = super().prepare()  # type: ignore[misc]
        if prepared is not None:
            await prepared
        if getattr(self, "_finished", False) or self.request.method in READS:
            return
        if signed_in(self):
            await self.hub_turns.take()


def signed_in(handler: Any) -> bool:
    """Whether JupyterHub's `prepare` found who calls (a handler that never asked: no one)."""
    try:
        return handler.current_user is not None
    except RuntimeError:  # JupyterHub's "call get_current_user first": this handler never did
        return False


def taking_turns(handler_class: type, turns: Turns) -> type:
    """`handler_class` with a turn after its `prepare` (see the module's docstring)."""
    subclass = type(
        handler_class.__name__,
        (TurnOnceSignedIn, handler_class),
        {"hub_turns": turns, "__module__": handler_class.__module__},
    )
    subclass.__qualname__ = handler_class.__qualname__
    return subclass


def needs_turns(target: object) -> bool:
    """A JupyterHub handler that does not take turns yet (ours take them themselves)."""
    return (
        isinstance(target, type)
        and issubclass(target, BaseHandler)
        and not issubclass(target, PlatformMixin | TurnOnceSignedIn)
    )


def take_turns_on_hub_routes(application: Any, turns: Turns) -> int:
    """Point every JupyterHub handler route of `application` (a Tornado `Application`, its
    nested routers included) at a subclass taking turns; returns how many rules changed.
    Applying it again changes nothing."""
    made: dict[type, type] = {}
    changed = 0
    routers: list[Any] = [application.default_router]
    while routers:
        router = routers.pop()
        for rule in getattr(router, "rules", ()):
            if not isinstance(rule, Rule):
                continue
            target = rule.target
            if isinstance(target, Router):
                routers.append(target)
            elif needs_turns(target):
                if target not in made:
                    made[target] = taking_turns(target, turns)
                rule.target = made[target]
                changed += 1
    return changed
