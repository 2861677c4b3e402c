"""Turns of the event loop for the requests of a burst.

Twenty requests that arrive together are all read in one pass of the loop, and tornado then runs
the start of each (JupyterHub's token lookup and scope check, then the handler up to its first
wait) back to back in the next pass: nothing else on the hub, not a proxy check nor another
user's page, runs until the last of them has started. A platform handler instead takes a turn
before it starts, and the turns let one request through at a time, in the order they came:
the next one starts once the loop has caught up with what the last one started.

What a change starts runs over the next few passes: its handler, then what the handler hands to
a task of its own (JupyterHub's spawn handler starts the spawn in a task, whose first step, the
server's rows, token and OAuth client, is the biggest piece of a spawn on the loop), then that
task's follow-ups. Letting the next request in at a fixed rhythm (say every other pass) puts its
start in the same pass as the last one's follow-ups as soon as those come back, and the loop's
backlog grows with the burst. So after each change (a method other than GET, HEAD or OPTIONS)
the turns look at the loop, from the pass of that task's first step on: a check queued behind
everything that is ready measures how long the pass ahead of it ran. The next request starts
after a pass that ran no more than `caught_up` (the loop had nothing heavy of its own to do),
and at the latest `longest_hold` after the change started, however busy the loop stays: a hub
under steady load still lets its users' changes through, ten a second by default. A read's work
ends with its answer, and the next request starts two passes after it, as a page's readers
expect. The work is the same; the loop only ever queues behind one request's piece of it, and a
quiet hub starts a burst as fast as before.

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

#: Methods that only read: a request with any other method is a change.
READS = frozenset({"GET", "HEAD", "OPTIONS"})
#: The next request starts after a pass of the loop that ran no more than this besides the check.
CAUGHT_UP_SECONDS = 0.005
#: ...and no later than this after the last start, however busy the loop stays.
LONGEST_HOLD_SECONDS = 0.1


class Turns:
    """Lets waiters through one at a time, in the order they came, each once the running event
    loop has caught up with what the last one started."""

    def __init__(
        self,
        *,
        caught_up: float = CAUGHT_UP_SECONDS,
        longest_hold: float = LONGEST_HOLD_SECONDS,
    ) -> None:
        self._waiting: deque[tuple[asyncio.Future[None], bool]] = deque()
        self._admitting = False
        self._caught_up = caught_up
        self._longest_hold = longest_hold

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def take(self, *, change: bool = True) -> None:
        """Wait for this caller's turn. After a `change` (a spawn, a stop, a write), which goes
        on working for passes after its start, the next waiter starts once the loop has caught
        up; after a read, two passes on."""
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[None] = loop.create_future()
        self._waiting.append((turn, change))
        if not self._admitting:
            self._admitting = True
            loop.call_soon(self._admit_next)
        await turn

    def _admit_next(self) -> None:
        change = False
        while self._waiting:
            turn, change = self._waiting.popleft()
            if not turn.done():  # a waiter cancelled meanwhile gives up its turn
                turn.set_result(None)
                break
        if self._waiting:
            # The admitted waiter resumes in the next pass, and whatever it hands to a task of
            # its own runs in the pass after: the next waiter goes after that one (after a
            # change, only once a pass behind it ran light), so the next start never shares a
            # pass with the last one's, nor with its task's first step.
            loop = asyncio.get_running_loop()
            loop.call_soon(self._after_next_pass, loop.time(), change)
        else:
            self._admitting = False

    def _after_next_pass(self, admitted_at: float, change: bool) -> None:
        loop = asyncio.get_running_loop()
        if change:
            loop.call_soon(self._admit_once_caught_up, loop.time(), admitted_at)
        else:
            loop.call_soon(self._admit_next)

    def _admit_once_caught_up(self, queued_at: float, admitted_at: float) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now - queued_at <= self._caught_up or now - admitted_at >= self._longest_hold:
            self._admit_next()
        else:  # the pass ahead of this check was busy: look again after the next one
            loop.call_soon(self._admit_once_caught_up, now, admitted_at)
