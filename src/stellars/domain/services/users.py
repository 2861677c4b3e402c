"""What follows a hub user through creation, renaming and deletion.

- Created by an admin (or a script through the REST API): the user gets a generated passphrase,
  waiting in the one-shot vault. Users who signed up and were authorized already have an
  account; a sign-up still waiting for authorization is replaced (the admin is told); the
  configured admin is exempt.
- Renamed or deleted: the authenticator's account row follows inside the hub's own transaction
  (committed, or rolled back, with the rename or the deletion), and so does any passphrase
  waiting in the vault. Once the hub has committed, the activity samples and tallies, the
  session deadlines and the servers' last stops follow in the platform's database.
- The volumes named for the old name follow the orphan policy: `keep` leaves them where they
  are, listed as orphaned and never mounted for anyone else (see
  `stellars.domain.volume_ownership`); `delete` removes those that no current account owns.

The hub calls the `*ing` methods from inside its transaction and the past-tense ones after its
commit (or `rolled_back`); the latter run in the background, one after another for each user
name, and `settled()` waits for them (the credentials route waits so that a passphrase being
hashed is not missed). A passphrase still being made for a user who is renamed or deleted in
the meantime is abandoned before it is stored (its hashing yields to the event loop, its
storing does not), and a renamed user gets one under the new name once the rename commits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any

from stellars.domain.credentials import HandedOut
from stellars.domain.settings import OrphanVolumePolicy
from stellars.domain.volumes import VolumeOutcome
from stellars.ports.activity_store import ActivityStore
from stellars.ports.server_stops import ServerStopStore
from stellars.ports.session_store import SessionStore

from .credentials import CredentialService
from .volumes import VolumeService

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FollowUp:
    """What followed one rename or deletion in the platform's own stores; a part that failed
    is None and says why in `errors` (the other parts are done all the same)."""

    username: str
    new_name: str | None = None  # None: the user was deleted
    activity_samples: int | None = 0
    session_deadlines: int | None = 0
    volumes: dict[str, VolumeOutcome | None] | None = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    server_stops: int | None = 0

    @property
    def summary(self) -> str:
        what = f"renamed to {self.new_name}" if self.new_name else "deleted"
        removed = sorted(n for n, o in (self.volumes or {}).items() if o is VolumeOutcome.REMOVED)
        parts = [
            f"{self.activity_samples} activity sample(s)",
            f"{self.session_deadlines} session deadline(s)",
            *([f"{self.server_stops} server stop(s)"] if self.server_stops != 0 else []),
            f"volumes removed: {', '.join(removed)}" if removed else "no volume removed",
        ]
        failures = "".join(f"; {part} FAILED: {why}" for part, why in self.errors.items())
        return f"{self.username} {what}: followed by {', '.join(parts)}{failures}"


async def _none() -> int:
    """Nothing to follow: no store of that kind."""
    return 0


class UserLifecycleService:
    """Keeps the platform's state in step with the hub's users (see the module rule)."""

    def __init__(
        self,
        *,
        credentials: CredentialService,
        activity: ActivityStore,
        sessions: SessionStore,
        volumes: VolumeService,
        orphan_policy: OrphanVolumePolicy,
        stops: ServerStopStore | None = None,
        on_users_changed: Callable[[], None] = lambda: None,
        log: logging.Logger | None = None,
    ) -> None:
        self._credentials = credentials
        self._activity = activity
        self._sessions = sessions
        self._stops = stops
        self._volumes = volumes
        self.orphan_policy = orphan_policy
        self._on_users_changed = on_users_changed
        self._log = log or _LOG
        self._chains: dict[str, asyncio.Task[Any]] = {}
        self._issuing: dict[str, asyncio.Task[Any]] = {}
        # Users whose passphrase was abandoned by a rename (old -> new) or deletion (old -> None)
        # not committed yet.
        self._interrupted: dict[str, str | None] = {}

    # --- inside the hub's transaction ------------------------------------------------------

    def renaming(self, old: str, new: str) -> None:
        """The account and a waiting passphrase follow the new name, in the hub's transaction."""
        self._credentials.rename(old, new)
        if self._abandon_issue(old):
            self._interrupted[old] = new

    def deleting(self, username: str) -> None:
        """The account and a waiting passphrase go, in the hub's transaction."""
        self._credentials.forget(username)
        if self._abandon_issue(username):
            self._interrupted[username] = None

    # --- after the hub's commit ------------------------------------------------------------

    def created(self, username: str) -> None:
        """A new hub user: issue a passphrase in the background unless it has an account."""
        self._on_users_changed()
        self._issuing[username] = self._chain((username,), lambda: self._issue(username))

    def renamed(self, old: str, new: str) -> None:
        """Follow a committed rename in the background."""
        self._on_users_changed()
        self._chain((old, new), lambda: self.follow_rename(old, new))
        if old in self._interrupted:
            del self._interrupted[old]
            self.created(new)  # the passphrase abandoned under the old name

    def deleted(self, username: str) -> None:
        """Follow a committed deletion in the background."""
        self._on_users_changed()
        self._interrupted.pop(username, None)
        self._chain((username,), lambda: self.follow_delete(username))

    def rolled_back(self, username: str) -> None:
        """A rename or deletion of `username` did not happen: issue what it abandoned."""
        if username in self._interrupted:
            del self._interrupted[username]
            self.created(username)

    async def settled(self, usernames: Collection[str], timeout_seconds: float = 30.0) -> None:
        """Wait (at most `timeout_seconds`) until the background work for these names is done."""
        pending = {self._chains[name] for name in usernames if name in self._chains}
        if pending:
            await asyncio.wait(pending, timeout=timeout_seconds)

    async def collect_passphrases(self, usernames: Collection[str]) -> dict[str, HandedOut]:
        """Hand out the waiting passphrases of these users, once, each with what the admin must
        know about it; a passphrase still being made for a user just created is waited for, so
        an admin may ask right after creating."""
        await self.settled(usernames)
        return self._credentials.collect(usernames)

    async def follow_rename(self, old: str, new: str) -> FollowUp:
        """Move activity, session deadlines and last stops to the new name; volumes by the
        orphan policy."""
        return await self._follow(
            FollowUp(old, new),
            activity=self._activity.rename_user(old, new),
            sessions=self._sessions.rename_user(old, new),
            volumes=self._volumes_of_former(old),
            stops=self._stops.rename_user(old, new) if self._stops else _none(),
        )

    async def follow_delete(self, username: str) -> FollowUp:
        """Delete activity, session deadlines and last stops; volumes by the orphan policy."""
        return await self._follow(
            FollowUp(username),
            activity=self._activity.delete_user(username),
            sessions=self._sessions.delete_user(username),
            volumes=self._volumes_of_former(username),
            stops=self._stops.delete_user(username) if self._stops else _none(),
        )

    async def _follow(
        self,
        report: FollowUp,
        *,
        activity: Coroutine[Any, Any, int],
        sessions: Coroutine[Any, Any, int],
        volumes: Coroutine[Any, Any, dict[str, VolumeOutcome | None]],
        stops: Coroutine[Any, Any, int],
    ) -> FollowUp:
        # The stores are independent: each part is done even when another fails.
        samples, deadlines, outcomes, stopped = await asyncio.gather(
            activity, sessions, volumes, stops, return_exceptions=True
        )
        errors = {
            part: str(result) or type(result).__name__
            for part, result in (
                ("activity", samples),
                ("sessions", deadlines),
                ("volumes", outcomes),
                ("stops", stopped),
            )
            if isinstance(result, BaseException)
        }
        report = replace(
            report,
            activity_samples=None if isinstance(samples, BaseException) else samples,
            session_deadlines=None if isinstance(deadlines, BaseException) else deadlines,
            volumes=None if isinstance(outcomes, BaseException) else outcomes,
            server_stops=None if isinstance(stopped, BaseException) else stopped,
            errors=errors,
        )
        if errors:
            self._log.error("%s", report.summary)
        else:
            self._log.info("%s", report.summary)
        return report

    async def _issue(self, username: str) -> None:
        if await self._credentials.issue(username):
            self._log.info("generated a passphrase for %s; it waits for an admin", username)

    async def stop(self, timeout_seconds: float = 30.0) -> None:
        """Let the background work in flight finish, for at most `timeout_seconds` (at hub
        shutdown)."""
        if self._chains:
            await asyncio.wait(set(self._chains.values()), timeout=timeout_seconds)

    async def _volumes_of_former(self, username: str) -> dict[str, VolumeOutcome | None]:
        names = list(self._volumes.names_for(username).values())
        if self.orphan_policy is OrphanVolumePolicy.KEEP or not names:
            return {}
        # Only volumes no current account owns: a new user of that name keeps theirs.
        return dict((await self._volumes.remove_orphans(names)).outcomes)

    def _abandon_issue(self, username: str) -> bool:
        """Cancel a passphrase still being made for `username`; True if there was one."""
        task = self._issuing.pop(username, None)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    def _chain(
        self, names: tuple[str, ...], work: Callable[[], Coroutine[Any, Any, Any]]
    ) -> asyncio.Task[Any]:
        before = [self._chains[name] for name in names if name in self._chains]

        async def run() -> None:
            if before:
                await asyncio.wait(before)
            try:
                await work()
            except Exception:  # background work: log it, never lose the next user's turn
                self._log.exception("following user %s failed", " -> ".join(names))

        task = asyncio.get_running_loop().create_task(run())
        for name in names:
            self._chains[name] = task
        task.add_done_callback(lambda done: self._forget(names, done))
        return task

    def _forget(self, names: tuple[str, ...], task: asyncio.Task[Any]) -> None:
        for tasks in (self._chains, self._issuing):
            for name in names:
                if tasks.get(name) is task:
                    del tasks[name]
