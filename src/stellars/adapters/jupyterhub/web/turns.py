"""Turns of the event loop for the requests of a burst.

Twenty requests that arrive together are all read in one pass of the loop, and tornado then runs
the start of each (JupyterHub's token lookup and scope check, then the handler up to its first
wait) back to back in the next pass: nothing else on the hub, not a proxy check nor another
user's page, runs until the last of them has started. A platform handler instead takes a turn
before it starts: one request of the burst starts every other pass of the loop, and whatever
else is waiting runs between them; the pass between two starts is for what the first handed to
a task of its own (JupyterHub's spawn handler starts the spawn in a task, whose first step, the
server's rows, token and OAuth client, is the biggest piece of a spawn on the loop). The work
is the same, and the loop never waits behind more than one piece of it.

Only signed-in callers take turns, once JupyterHub knows who they are (see `base`): an
anonymous request is answered without queueing, so a flood of them cannot stand between
signed-in users and their turns. Their authentication (a token lookup or a cookie check, and
the refusal) runs as it does on JupyterHub's own routes.

JupyterHub's own routes (a burst of spawns, of servers' activity reports) take the same turns,
by the same rule: see `hub_routes`.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Turns:
    """Lets waiters through one every other pass of the running event loop, in the order they
    came."""

    def __init__(self) -> None:
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._admitting = False

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def take(self) -> None:
        """Wait for this caller's turn."""
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[None] = loop.create_future()
        self._waiting.append(turn)
        if not self._admitting:
            self._admitting = True
            loop.call_soon(self._admit_next)
        await turn

    def _admit_next(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():  # a waiter cancelled meanwhile gives up its turn
                turn.set_result(None)
                break
        if self._waiting:
            # The admitted waiter resumes in the next pass, and whatever it hands to a task of
            # its own (JupyterHub's handler starts a spawn in a task) runs in the pass after:
            # the next waiter is admitted then, to start in the pass after that one. A pass of
            # the loop never runs two requests' starts, nor one's start beside another's
            # follow-up.
            asyncio.get_running_loop().call_soon(self._admit_after_next_pass)
        else:
            self._admitting = False

    def _admit_after_next_pass(self) -> None:
        asyncio.get_running_loop().call_soon(self._admit_next)
