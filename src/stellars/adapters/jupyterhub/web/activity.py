"""The activity dashboard: `/hub/activity` (admins), `GET /hub/api/activity` with the original's
field names, `POST /hub/api/activity/reset`, `POST /hub/api/activity/sample`, the usage
history as CSV, `GET /hub/api/activity/history`, and the GPUs, `GET /hub/api/activity/gpus`.
The page and its JSON carry the free disk of the engine's data directory (`host_disk`). In
swarm mode each row also names its lab's node (`node`), and the page lists each node with the
age of its newest report (`nodes`: `node`, `report_age_seconds`, `is_stale`); outside swarm
mode neither key is there.

`GET /hub/api/activity` never waits on Docker (CPU, memory and volume sizes come from the
refreshers' snapshots, whose ages it reports) and never scans samples (scores come from the
tallies). It pages with `offset` and `limit` like JupyterHub's own lists.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import date
from typing import TYPE_CHECKING, Any

from jupyterhub.scopes import needs_scope
from tornado import web

from stellars.adapters.jupyterhub import scopes
from stellars.domain.audit import AuditAction
from stellars.domain.errors import InvalidValue
from stellars.domain.services import DashboardRow, SnapshotState
from stellars.domain.services.dashboard import Dashboard, NodeState
from stellars.domain.services.gpu import GpuOverview, GpuRow
from stellars.domain.validation import echo

from .base import StellarsAPIHandler, StellarsPageHandler
from .turns import Turns
from .wire import host_disk_json, iso, mebibytes, seconds

if TYPE_CHECKING:
    from stellars.platform import Platform

MAX_PAGE = 1000
#: How a cell starts that a spreadsheet would take for a formula (OWASP's list for CSV
#: injection): "=", "+", "-", "@", a tab or a carriage return.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Rows encoded between two turns of the event loop.
ROWS_PER_TURN = 200
#: The JSON of the latest dashboard build's pages (being) encoded, by (build, offset, limit).
EncodedPages = dict[tuple[int, int, int], asyncio.Future[bytes]]


def row_json(row: DashboardRow) -> dict[str, Any]:
    """One dashboard row with the original platform's field names (and a few more)."""
    known_sizes = [size for size in row.volume_sizes.values() if size is not None]
    return {
        "username": row.username,
        "is_authorized": row.is_authorized,
        "status": row.status.value,
        "server_active": row.server_active,
        "recently_active": row.recently_active,
        "cpu_percent": None if row.usage is None else row.usage.cpu_percent,
        "memory_mb": None if row.usage is None else row.usage.memory_mib,
        "memory_percent": None if row.usage is None else row.usage.memory_percent,
        "time_remaining_seconds": seconds(row.time_remaining),
        "activity_score": row.score,
        "activity_level": row.level.value,
        "sample_count": row.sample_count,
        "enough_data": row.enough_data,
        "last_activity": iso(row.last_activity),
        "volume_size_mb": mebibytes(sum(known_sizes)) if known_sizes else None,
        "volume_breakdown": {label: mebibytes(size) for label, size in row.volume_sizes.items()},
    }


def node_json(state: NodeState) -> dict[str, Any]:
    """One swarm node of the dashboard: the age of its newest report, and whether it is stale."""
    return {
        "node": state.node,
        "report_age_seconds": seconds(state.report_age),
        "is_stale": state.stale,
    }


def spreadsheet_text(text: str) -> str:
    """A text cell of a CSV as a spreadsheet must show it: as text, never as a formula. One
    that starts like a formula gets a leading apostrophe, which spreadsheets take for "this
    is text" (OWASP's advice); any other is written as it is. Numbers are not text cells and
    never pass through here."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def snapshot_json(state: SnapshotState) -> dict[str, Any]:
    return {"age_seconds": seconds(state.age), "error": state.error}


def _whole_argument(
    handler: web.RequestHandler, name: str, default: int, low: int, high: int
) -> int:
    text = handler.get_argument(name, None)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidValue(name, f"must be a whole number, got {echo(text)}") from None
    if not low <= value <= high:
        raise InvalidValue(name, f"must be between {low} and {high}, got {echo(value)}")
    return value


def _day_argument(handler: web.RequestHandler, name: str) -> date:
    text = handler.get_argument(name, None)
    if not text:
        raise InvalidValue(name, "is required, as YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidValue(name, f"must be a date as YYYY-MM-DD, got {echo(text)}") from None


class ActivityPage(StellarsPageHandler):
    """`GET /hub/activity`: JupyterHub's admin-ui scope and the dashboard's own
    (custom:stellars:activity), so the page shows no one what its API would refuse them."""

    @web.authenticated
    @needs_scope("admin-ui")
    async def get(self) -> None:
        self.require_scope(scopes.ACTIVITY)
        policy = self.platform.settings.activity
        await self.render_page(
            "stellars-activity.html",
            target_hours=policy.target_hours,
            samples_per_day=policy.samples_per_day,
            sample_interval_seconds=policy.sample_interval_seconds,
            retention_days=policy.retention_days,
            refresh_seconds=10,
            host_disk=host_disk_json(self.platform.host_disk.snapshot(), self.platform.clock.now()),
        )


class ActivityAPI(StellarsAPIHandler):
    """`GET /hub/api/activity?offset=0&limit=1000` (custom:stellars:activity)."""

    def initialize(  # type: ignore[override]
        self, platform: Platform, turns: Turns, encoded_pages: EncodedPages
    ) -> None:
        self.encoded_pages = encoded_pages
        super().initialize(platform, turns)

    def compute_etag(self) -> None:
        # Every build has its own timestamp, so a tag would never match; hashing a page of
        # 1,000 rows for it is work on the loop for nothing.
        return None

    async def get(self) -> None:
        self.require_scope(scopes.ACTIVITY)
        offset = _whole_argument(self, "offset", 0, 0, 10**9)
        limit = _whole_argument(self, "limit", MAX_PAGE, 1, MAX_PAGE)
        platform = self.platform
        page = await platform.dashboard.page(offset=offset, limit=limit)
        # Concurrent polls share one build (DashboardService); they share its JSON too, so a
        # burst of admin tabs costs one encoding, not one per request on the event loop.
        cache = self.encoded_pages
        key = (page.build, offset, limit)
        encoding = cache.get(key)
        if encoding is None:
            encoding = asyncio.ensure_future(self._encode(page, offset, limit))
            for stale in [k for k in cache if k[0] != page.build]:
                del cache[stale]
            cache[key] = encoding
            encoding.add_done_callback(lambda done: _forget_failed(cache, key, done))
        body = await asyncio.shield(encoding)
        self.set_header("Content-Type", "application/json")
        self.finish(body)

    async def _encode(self, page: Dashboard, offset: int, limit: int) -> bytes:
        """The page as JSON, its rows encoded a slice at a time with a turn of the loop
        between slices."""
        slices = []
        for start in range(0, len(page.rows), ROWS_PER_TURN):
            if start:
                await asyncio.sleep(0)
            rows = page.rows[start : start + ROWS_PER_TURN]
            if page.nodes is None:
                encoded = [row_json(row) for row in rows]
            else:  # swarm mode: each lab's node
                encoded = [{**row_json(row), "node": row.node} for row in rows]
            slices.append(json.dumps(encoded)[1:-1])
        rest = json.dumps(self._page_json(page, offset, limit))
        return ('{"users": [' + ", ".join(slices) + "], " + rest[1:]).encode()

    def _page_json(self, page: Dashboard, offset: int, limit: int) -> dict[str, Any]:
        """Everything of a page but its rows."""
        platform = self.platform
        following = offset + len(page.rows)
        policy = platform.settings.activity
        swarm = {} if page.nodes is None else {"nodes": [node_json(node) for node in page.nodes]}
        return {
            "total": page.total,
            "offset": offset,
            "limit": limit,
            "next_offset": following if following < page.total else None,
            "timestamp": iso(page.now),
            "sampling_status": page.sampling.text,
            "inactive_after_seconds": policy.inactive_after_minutes * 60,
            "target_hours": policy.target_hours,
            "samples_per_day": policy.samples_per_day,
            "sample_interval_seconds": policy.sample_interval_seconds,
            "snapshots": {
                "container_stats": snapshot_json(page.container_stats),
                "volume_sizes": snapshot_json(page.volume_sizes),
            },
            "host_disk": host_disk_json(platform.host_disk.snapshot(), page.now),
            **swarm,
        }


def _forget_failed(
    cache: EncodedPages,
    key: tuple[int, int, int],
    done: asyncio.Future[bytes],
) -> None:
    """An encoding that failed is not kept: the next request tries again."""
    if (done.cancelled() or done.exception() is not None) and cache.get(key) is done:
        del cache[key]


class ActivityResetAPI(StellarsAPIHandler):
    """`POST /hub/api/activity/reset` (custom:stellars:activity): wipes samples and tallies."""

    async def post(self) -> None:
        note = self.audit(AuditAction.ACTIVITY_RESET)
        self.require_scope(scopes.ACTIVITY)
        deleted = await self.platform.activity.reset()
        note.details.update(deleted_samples=deleted)
        self.log.info(
            "activity data reset by %s: %d samples deleted", self.current_user.name, deleted
        )
        self.write_json({"success": True, "deleted": deleted})


class ActivitySampleAPI(StellarsAPIHandler):
    """`POST /hub/api/activity/sample` (custom:stellars:activity): one sampling tick now."""

    async def post(self) -> None:
        self.require_scope(scopes.ACTIVITY)
        summary = await self.platform.activity.tick()
        self.write_json(
            {
                "success": True,
                "total": summary.users,
                "active": summary.active,
                "inactive": summary.idle,
                "offline": summary.offline,
                "pruned": summary.pruned,
                "levels": {level.value: count for level, count in summary.levels.items()},
            }
        )


class ActivityHistoryAPI(StellarsAPIHandler):
    """`GET /hub/api/activity/history?start=YYYY-MM-DD&end=YYYY-MM-DD[&users=a,b][&format=json]`
    (custom:stellars:activity): daily active hours per user, as CSV unless JSON is asked for.
    The CSV's text cells (usernames) are `spreadsheet_text`; JSON gives names as they are."""

    async def get(self) -> None:
        self.require_scope(scopes.ACTIVITY)
        start = _day_argument(self, "start")
        end = _day_argument(self, "end")
        names_text = self.get_argument("users", "")
        usernames = tuple(name for name in names_text.split(",") if name) or None
        form = self.get_argument("format", "csv")
        if form not in {"csv", "json"}:
            raise InvalidValue("format", f"must be csv or json, got {echo(form)}")
        history = await self.platform.activity.history(start, end, usernames=usernames)
        if form == "json":
            self.write_json(
                {
                    "start": history.start.isoformat(),
                    "end": history.end.isoformat(),
                    "days": [
                        {"username": d.username, "day": d.day.isoformat(), "active_hours": d.hours}
                        for d in history.days
                    ],
                }
            )
            return
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["username", "day", "active_hours"])
        for day in history.days:
            writer.writerow(
                [spreadsheet_text(day.username), day.day.isoformat(), f"{day.hours:.2f}"]
            )
        filename = f"activity-{history.start.isoformat()}-to-{history.end.isoformat()}.csv"
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="{filename}"')
        self.finish(buffer.getvalue())


def gpu_json(row: GpuRow) -> dict[str, Any]:
    """One GPU: what it is, its use (null where nvidia-smi cannot say, or before the first
    reading) and who holds it, how."""
    use, reading = row.use, row.reading
    return {
        "index": use.device.index,
        "name": use.device.name,
        "uuid": use.device.uuid,
        "memory_total_mib": use.device.memory_mib,
        "memory_used_mib": None if reading is None else reading.memory_used_mib,
        "utilization_percent": None if reading is None else reading.utilization_percent,
        "holders": [{"username": user, "server": server} for user, server in use.holders],
        "sharing": None if use.sharing is None else use.sharing.value,
    }


def gpus_json(overview: GpuOverview) -> dict[str, Any]:
    """Every GPU given out one by one (an empty list when the host has none, or GPUs are not
    given out one by one), the GPU decision, and how fresh the readings are."""
    return {
        "enabled": overview.decision.enabled,
        "reason": overview.decision.reason,
        "gpus": [gpu_json(row) for row in overview.rows],
        "readings": {
            "age_seconds": seconds(overview.readings_age),
            "error": overview.readings_error,
        },
    }


class ActivityGpusAPI(StellarsAPIHandler):
    """`GET /hub/api/activity/gpus` (custom:stellars:activity): each GPU with its holders,
    memory and utilisation; never waits on nvidia-smi (the readings are a refresher's)."""

    async def get(self) -> None:
        self.require_scope(scopes.ACTIVITY)
        platform = self.platform
        self.write_json(gpus_json(platform.gpu.overview(platform.clock.now())))


def routes() -> list[tuple[Any, ...]]:
    """(pattern, handler[, kwargs]) relative to the hub prefix; the dashboard's encoded pages
    are shared by its requests (one hub, one cache)."""
    return [
        (r"/activity", ActivityPage),
        (r"/api/activity", ActivityAPI, {"encoded_pages": {}}),
        (r"/api/activity/reset", ActivityResetAPI),
        (r"/api/activity/sample", ActivitySampleAPI),
        (r"/api/activity/history", ActivityHistoryAPI),
        (r"/api/activity/gpus", ActivityGpusAPI),
    ]
