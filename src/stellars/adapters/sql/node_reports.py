"""NodeReportStore on SQL: one row per (node, slot) in `node_reports`, the report's labs and
volumes as JSON text.

Each node's sampler inserts its report with INSERT ... ON CONFLICT DO NOTHING on the primary
key (node, slot): two writers of one slot (a restarted sampler whose predecessor is still
finishing, two samplers on one node) cannot both store it, with no read-then-write race and no
table lock. `latest` is one query over that key (the newest slot of each node, then its row).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from stellars.domain.containers import ContainerReading, ContainerUsage
from stellars.domain.node_reports import LabReport, NodeReport
from stellars.domain.volumes import VolumeInfo

from .database import SqlDatabase
from .rows import aware, naive_utc
from .schema import node_reports as table

# Rows are read by position, in this order.
_COLUMNS = (table.c.node, table.c.slot, table.c.taken_at, table.c.labs, table.c.volumes)


def _lab_json(lab: LabReport) -> dict[str, Any]:
    usage = lab.usage
    reading = lab.reading
    return {
        "name": lab.name,
        "cpu_percent": usage.cpu_percent,
        "memory_bytes": usage.memory_bytes,
        "memory_limit_bytes": usage.memory_limit_bytes,
        "reading": None
        if reading is None
        else {
            "cpu_total_ns": reading.cpu_total_ns,
            "system_cpu_ns": reading.system_cpu_ns,
            "online_cpus": reading.online_cpus,
            "memory_usage_bytes": reading.memory_usage_bytes,
            "memory_limit_bytes": reading.memory_limit_bytes,
            "memory_inactive_file_bytes": reading.memory_inactive_file_bytes,
        },
    }


def _lab_of(entry: Mapping[str, Any]) -> LabReport:
    reading = entry["reading"]
    return LabReport(
        name=entry["name"],
        usage=ContainerUsage(
            cpu_percent=float(entry["cpu_percent"]),
            memory_bytes=entry["memory_bytes"],
            memory_limit_bytes=entry["memory_limit_bytes"],
        ),
        reading=None if reading is None else ContainerReading(**reading),
    )


def _volume_json(volume: VolumeInfo) -> dict[str, Any]:
    return {
        "name": volume.name,
        "size_bytes": volume.size_bytes,
        "created_at": None if volume.created_at is None else volume.created_at.isoformat(),
        "owner": volume.owner,
    }


def _volume_of(entry: Mapping[str, Any]) -> VolumeInfo:
    created_at = entry["created_at"]
    return VolumeInfo(
        name=entry["name"],
        size_bytes=entry["size_bytes"],
        created_at=None if created_at is None else datetime.fromisoformat(created_at),
        owner=entry["owner"],
    )


def _values(report: NodeReport) -> dict[str, Any]:
    return {
        "node": report.node,
        "slot": naive_utc(report.slot, "slot"),
        "taken_at": naive_utc(report.taken_at, "taken_at"),
        "labs": json.dumps([_lab_json(lab) for lab in report.labs]),
        "volumes": json.dumps([_volume_json(volume) for volume in report.volumes]),
    }


def _report_of(row: Sequence[Any]) -> NodeReport:
    node, slot, taken_at, labs, volumes = row
    return NodeReport(
        node=node,
        slot=aware(slot),
        taken_at=aware(taken_at),
        labs=tuple(_lab_of(entry) for entry in json.loads(labs)),
        volumes=tuple(_volume_of(entry) for entry in json.loads(volumes)),
    )


class SqlNodeReportStore:
    """The NodeReportStore port on a `SqlDatabase`; each method is one short transaction run
    on the database's threads. Raises BackendUnavailable when the database cannot be reached."""

    def __init__(self, database: SqlDatabase) -> None:
        self.database = database

    async def record(self, report: NodeReport) -> bool:
        """Store `report` unless its node already has one for its slot; True when stored."""
        values = _values(report)  # refuses naive times before writing
        dialect_insert = sqlite_insert if self.database.sqlite else postgresql_insert

        def work(connection: Connection) -> bool:
            statement = (
                dialect_insert(table)
                .values(values)
                .on_conflict_do_nothing(index_elements=[table.c.node, table.c.slot])
                .returning(table.c.node)  # a row back: stored (rowcount is not portable here)
            )
            return connection.execute(statement).first() is not None

        return await self.database.transaction(work, write=True)

    async def latest(self) -> list[NodeReport]:
        """The newest report of every node that has one, by node name."""
        newest = select(table.c.node, func.max(table.c.slot)).group_by(table.c.node)

        def work(connection: Connection) -> list[NodeReport]:
            rows = connection.execute(
                select(*_COLUMNS)
                .where(tuple_(table.c.node, table.c.slot).in_(newest))
                .order_by(table.c.node)
            ).all()
            return [_report_of(row) for row in rows]

        return await self.database.transaction(work, write=False)

    async def slots(self, node: str, since: datetime) -> list[datetime]:
        """The slots `node` reported at or after `since`, oldest first, each once."""
        start = naive_utc(since, "since")

        def work(connection: Connection) -> list[datetime]:
            rows = connection.execute(
                select(table.c.slot)
                .where(table.c.node == node, table.c.slot >= start)
                .order_by(table.c.slot)
            ).all()
            return [aware(slot) for (slot,) in rows]

        return await self.database.transaction(work, write=False)

    async def prune(self, before: datetime) -> int:
        """Forget the reports of slots before `before`, each node's newest kept."""
        cutoff = naive_utc(before, "before")
        newer = table.alias("newer")
        has_newer = (
            select(newer.c.slot)
            .where(and_(newer.c.node == table.c.node, newer.c.slot > table.c.slot))
            .exists()
        )

        def work(connection: Connection) -> int:
            return int(
                connection.execute(delete(table).where(table.c.slot < cutoff, has_newer)).rowcount
            )

        return await self.database.transaction(work, write=True)
