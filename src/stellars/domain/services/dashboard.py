"""The activity dashboard: one row per hub user, assembled from what is already at hand.

Scores come from the activity store's tallies (one read, no sample scan), time left from the
session rule with the stored deadlines (one read), CPU, memory and volume sizes from the
refreshers' snapshots (never a Docker call on a request), and authorization from the credential
store (one read). The snapshots' ages travel with the rows, so a page can say how fresh they are.

In swarm mode (a node report store given) each row also says which node its user's lab runs on,
and the dashboard lists every node with the age of its newest report, stale ones marked
(`stellars.domain.node_reports`): one read of the newest reports per build.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from stellars.domain.activity import ActivityLevel, ActivityPolicy, ActivityScore, activity_level
from stellars.domain.containers import ContainerUsage
from stellars.domain.hub import HubUser
from stellars.domain.node_reports import NodeReport, is_stale, report_age
from stellars.domain.volumes import VolumeInfo, container_name
from stellars.ports.clock import Clock
from stellars.ports.hub_directory import HubDirectory
from stellars.ports.node_reports import NodeReportStore

from .activity import ActivityService
from .credentials import CredentialService
from .refresh import Refresher, Snapshot
from .sessions import SessionService
from .volumes import VolumeService


class ServerStatus(str, Enum):
    """A user's status on the dashboard."""

    ACTIVE = "active"  # a running server with activity within `inactive_after`
    IDLE = "idle"  # a running (or starting) server without recent activity
    OFFLINE = "offline"  # no server


@dataclass(frozen=True, slots=True, kw_only=True)
class DashboardRow:
    """One user on the dashboard; None where nothing is known (no server, no snapshot)."""

    username: str
    is_authorized: bool
    status: ServerStatus
    score: int | None
    level: ActivityLevel
    sample_count: int
    enough_data: bool
    last_activity: datetime | None
    time_remaining: timedelta | None
    usage: ContainerUsage | None
    volume_sizes: Mapping[str, int | None]
    #: Swarm mode: the node(s) the user's running labs are on, as the nodes' newest reports
    #: list them ("n1, n2" when on several); None offline, outside swarm mode, or unreported.
    node: str | None = None

    @property
    def server_active(self) -> bool:
        return self.status is not ServerStatus.OFFLINE

    @property
    def recently_active(self) -> bool:
        return self.status is ServerStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class SnapshotState:
    """How fresh a refresher's snapshot is: its age (None before the first pass) and the error
    of its latest pass."""

    age: timedelta | None
    error: str | None

    @staticmethod
    def of(snapshot: Snapshot[Any], now: datetime) -> SnapshotState:
        return SnapshotState(snapshot.age(now), snapshot.error)


@dataclass(frozen=True, slots=True)
class NodeState:
    """One swarm node as the dashboard shows it: the age of its newest report, and whether
    that report is stale (its sampler or the node is down; its labs' figures are that old)."""

    node: str
    report_age: timedelta
    stale: bool


def node_states(
    reports: Sequence[NodeReport], now: datetime, interval: timedelta
) -> tuple[NodeState, ...]:
    """Each node of the newest reports with its report's age and staleness, by node name."""
    return tuple(
        NodeState(report.node, report_age(report, now), is_stale(report, now, interval))
        for report in sorted(reports, key=lambda report: report.node)
    )


def lab_nodes(reports: Sequence[NodeReport]) -> dict[str, str]:
    """Each lab's node, from the newest report that lists the lab (equal times: the first
    node by name)."""
    found: dict[str, str] = {}
    for report in sorted(reports, key=lambda report: (-report.taken_at.timestamp(), report.node)):
        for lab in report.labs:
            found.setdefault(lab.name, report.node)
    return found


@dataclass(frozen=True, slots=True)
class SamplingStatus:
    """How many activity samples the scores rest on, for how many users (what the original
    answered as `sampling_status`)."""

    samples: int
    users: int

    @property
    def text(self) -> str:
        if self.samples == 0:
            return "No samples yet"
        return f"{self.samples} samples for {self.users} users"


@dataclass(frozen=True, slots=True, kw_only=True)
class Dashboard:
    """A page of rows (sorted by username) and what they were computed from."""

    rows: tuple[DashboardRow, ...]
    total: int
    offset: int
    now: datetime
    container_stats: SnapshotState
    volume_sizes: SnapshotState
    sampling: SamplingStatus = SamplingStatus(0, 0)
    #: Swarm mode: every node that reported, by name; None outside swarm mode.
    nodes: tuple[NodeState, ...] | None = None
    #: Which build of the service this page comes from (pages of one build share the number).
    build: int = 0


def status_of(user: HubUser, *, now: datetime, policy: ActivityPolicy) -> ServerStatus:
    """Offline without a running or starting server; active when a server saw activity within
    `inactive_after`; idle otherwise."""
    if not user.has_active_server:
        return ServerStatus.OFFLINE
    last = user.latest_server_activity()
    if last is not None and now - last <= policy.inactive_after:
        return ServerStatus.ACTIVE
    return ServerStatus.IDLE


def combined_usage(usages: Sequence[ContainerUsage]) -> ContainerUsage | None:
    """The usage of all of a user's servers together (None when none was measured)."""
    if not usages:
        return None
    return ContainerUsage(
        cpu_percent=round(sum(u.cpu_percent for u in usages), 1),
        memory_bytes=sum(u.memory_bytes for u in usages),
        memory_limit_bytes=sum(u.memory_limit_bytes for u in usages),
    )


#: Rows built between two turns of the event loop (about a millisecond of work).
ROWS_PER_TURN = 200


class DashboardService:
    """Builds the dashboard from the services and the refreshers' snapshots."""

    def __init__(
        self,
        *,
        directory: HubDirectory,
        activity: ActivityService,
        sessions: SessionService,
        volumes: VolumeService,
        credentials: CredentialService,
        container_stats: Refresher[Mapping[str, ContainerUsage]],
        volume_sizes: Refresher[Mapping[str, VolumeInfo]],
        clock: Clock,
        reuse_for: timedelta = timedelta(0),
        refresh_behind: timedelta = timedelta(0),
        node_reports: NodeReportStore | None = None,
        report_interval: timedelta = timedelta(seconds=10),
    ) -> None:
        self._directory = directory
        self._activity = activity
        self._sessions = sessions
        self._volumes = volumes
        self._credentials = credentials
        self._container_stats = container_stats
        self._volume_sizes = volume_sizes
        self._clock = clock
        self.reuse_for = reuse_for
        self.refresh_behind = refresh_behind
        self._node_reports = node_reports
        self._report_interval = report_interval
        self._building: asyncio.Future[Dashboard] | None = None
        self._builds = 0
        self._invalidations = 0
        # The latest complete build and what it was built from.
        self._latest: tuple[Dashboard, tuple[object, ...]] | None = None
        # Each user's volume names (label -> engine name) as of the latest build: they depend
        # only on the name and the volume settings (fixed for the service's life), and
        # rendering them again costs about 45 µs a user, half a second at 10,000 users.
        self._volume_names: dict[str, Mapping[str, str]] = {}

    def invalidate(self) -> None:
        """Something the dashboard shows changed (a user created, renamed or deleted): the
        next request gets a new build even within `reuse_for`."""
        self._invalidations += 1

    def _inputs(self) -> tuple[object, ...]:
        """What a build depends on that the platform itself knows to have changed: its own
        writes (samples, deadlines), the users it saw come and go, and the refreshers' newest
        passes, complete or failed (volume sizes are measured again after a reset; a failed
        pass is news the page shows)."""
        usage, sizes = self._container_stats.snapshot(), self._volume_sizes.snapshot()
        return (
            self._activity.revision,
            self._sessions.revision,
            self._invalidations,
            usage.refreshed_at,
            usage.failures,
            sizes.refreshed_at,
            sizes.failures,
        )

    async def page(self, *, offset: int = 0, limit: int | None = None) -> Dashboard:
        """Rows `offset` to `offset + limit` of all users sorted by name (all when no limit)."""
        whole = await self._shared_build()
        rows = whole.rows[offset:] if limit is None else whole.rows[offset : offset + limit]
        return replace(whole, rows=rows, offset=offset)

    async def _shared_build(self) -> Dashboard:
        """The whole dashboard; requests arriving while it is being built wait for that build
        instead of starting their own, so a burst of polls (every admin tab refreshes) costs
        one build.

        A complete build is served again for `reuse_for` after it was made, unless the platform
        changed one of its inputs since (`_inputs`): changes of its own show at once, changes
        made elsewhere (a server started, the sampler's tick in its own process) within
        `reuse_for`. With no reuse, nothing is served that was built before the request came.

        Past `reuse_for`, for `refresh_behind` more, a build from the same inputs is still
        served at once while the next one is made behind it: a poll waits for a build only when
        the platform changed an input or nobody polled for that long, so a burst of polls never
        queues behind a build of ten thousand rows. Changes made elsewhere then show within
        `reuse_for + refresh_behind` (and the build's own time) of being made.
        """
        inputs = self._inputs()
        if self._latest is not None:
            latest, built_from = self._latest
            age = self._clock.now() - latest.now
            if built_from == inputs and timedelta(0) <= age:
                if age < self.reuse_for:
                    return latest
                if age < self.reuse_for + self.refresh_behind:
                    self._start_build(inputs)
                    return latest
        # A caller that goes away (client disconnect) must not cancel the others' build.
        return await asyncio.shield(self._start_build(inputs))

    def _start_build(self, inputs: tuple[object, ...]) -> asyncio.Future[Dashboard]:
        """The build under way, or a new one from `inputs` when none is."""
        if self._building is None:
            building = asyncio.ensure_future(self._build(inputs))
            building.add_done_callback(self._forget_build)
            self._building = building
        return self._building

    def _forget_build(self, finished: asyncio.Future[Dashboard]) -> None:
        if self._building is finished:
            self._building = None
        # A build made behind the served one may fail with nobody waiting for it: its error is
        # taken here (no "never retrieved" report); a later poll past the window meets it again.
        if not finished.cancelled():
            finished.exception()

    async def _build(self, inputs: tuple[object, ...]) -> Dashboard:
        self._builds += 1
        build = self._builds
        users = sorted(await self._directory.list_users(), key=lambda user: user.name)
        now = self._clock.now()
        scores = await self._activity.scores()
        servers = [server for user in users for server in user.servers.values()]
        remaining = await self._sessions.remaining_for(
            servers, groups_of={user.name: user.groups for user in users}
        )
        authorized = self._credentials.authorized()
        usage_snapshot = self._container_stats.snapshot()
        sizes_snapshot = self._volume_sizes.snapshot()
        reports = None if self._node_reports is None else await self._node_reports.latest()
        labs_at = lab_nodes(reports or ())
        known_names, volume_names = self._volume_names, {}
        rows: list[DashboardRow] = []
        for start in range(0, len(users), ROWS_PER_TURN):
            if start:  # thousands of rows: let other requests run between slices
                await asyncio.sleep(0)
            for user in users[start : start + ROWS_PER_TURN]:
                names = known_names.get(user.name)
                if names is None:
                    names = self._volumes.names_for(user.name)
                volume_names[user.name] = names
                rows.append(
                    self._row(
                        user, now, scores, remaining, authorized, usage_snapshot,
                        sizes_snapshot, names, labs_at,
                    )
                )  # fmt: skip
        self._volume_names = volume_names  # the users of this build only: the deleted go
        dashboard = Dashboard(
            rows=tuple(rows),
            total=len(users),
            offset=0,
            now=now,
            container_stats=SnapshotState.of(usage_snapshot, now),
            volume_sizes=SnapshotState.of(sizes_snapshot, now),
            sampling=SamplingStatus(
                samples=sum(score.sample_count for score in scores.values()),
                users=sum(1 for score in scores.values() if score.sample_count),
            ),
            build=build,
            nodes=None if reports is None else node_states(reports, now, self._report_interval),
        )
        self._latest = (dashboard, inputs)
        return dashboard

    def _row(
        self,
        user: HubUser,
        now: datetime,
        scores: Mapping[str, ActivityScore],
        remaining: Mapping[tuple[str, str], timedelta],
        authorized: frozenset[str] | None,
        usage: Snapshot[Mapping[str, ContainerUsage]],
        sizes: Snapshot[Mapping[str, VolumeInfo]],
        volume_names: Mapping[str, str],
        labs_at: Mapping[str, str],
    ) -> DashboardRow:
        policy = self._activity.policy
        score = scores.get(user.name)
        naming = self._volumes.naming
        labs = [container_name(user.name, naming, s.name) for s in user.servers.values()]
        measured = [usage.value[name] for name in labs if name in usage.value]
        status = status_of(user, now=now, policy=policy)
        nodes = sorted({labs_at[name] for name in labs if name in labs_at})
        left = [remaining[(user.name, n)] for n in user.servers if (user.name, n) in remaining]
        volume_sizes = {
            label: sizes.value[name].size_bytes
            for label, name in volume_names.items()
            if name in sizes.value
        }
        return DashboardRow(
            username=user.name,
            # With an identity provider, every hub user may log in as far as the hub knows.
            is_authorized=authorized is None or user.name in authorized,
            status=status,
            score=None if score is None else score.value,
            level=activity_level(None if score is None else score.value),
            sample_count=0 if score is None else score.sample_count,
            enough_data=False if score is None else score.enough_data,
            # A stopped server's activity is gone with it: then the user's own last visit.
            last_activity=user.latest_server_activity() or user.last_activity,
            time_remaining=min(left) if left else None,
            usage=combined_usage(measured),
            volume_sizes=volume_sizes,
            node=", ".join(nodes) if nodes and status is not ServerStatus.OFFLINE else None,
        )
