"""Who asked the hub for what it is doing now: the requester of the API request being handled,
visible to the code that request runs (a spawner's `stop`, a restart in place) however deep,
without being handed down through JupyterHub's own calls.

It is a context variable: a handler sets it (`acting_for(self.current_user)`) around its work,
and every task started from there copies it (JupyterHub stops a server in a task of its own,
`asyncio.ensure_future`, which copies the context of the request that asked for it). Code run
outside a request (the hub's own shutdown, a periodic poll) sees None.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Requester:
    """A user or a JupyterHub service, by name."""

    name: str
    service: bool = False


_requester: ContextVar[Requester | None] = ContextVar("stellars_requester", default=None)


def requester_of(current_user: Any) -> Requester | None:
    """The requester behind JupyterHub's `current_user` (a user, or a service by its `kind`);
    None for nobody."""
    name = getattr(current_user, "name", None)
    if not isinstance(name, str) or not name:
        return None
    return Requester(name, service=getattr(current_user, "kind", "user") == "service")


@contextmanager
def acting_for(current_user: Any) -> Iterator[Requester | None]:
    """Make `current_user` the requester of everything run inside (and of tasks started
    there)."""
    token = _requester.set(requester_of(current_user))
    try:
        yield _requester.get()
    finally:
        _requester.reset(token)


def current_requester() -> Requester | None:
    """The requester of the request whose work runs now; None outside one."""
    return _requester.get()
