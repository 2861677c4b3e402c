"""The tables at the head revision, as SQLAlchemy Core objects the stores query.

The schema itself is created and changed only by the migrations (`migrations/versions`); these
definitions must describe what the newest revision builds. Times are stored as naive UTC, as the
original platform stored them in `activity_samples`.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

#: One row per sample: the original platform's table (revision 0001), less its index on username
#: alone (revision 0002) and on (username, timestamp) (revision 0005): only the time index stays.
activity_samples = Table(
    "activity_samples",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(255), nullable=False),
    Column("timestamp", DateTime, nullable=False),
    Column("last_activity", DateTime, nullable=True),
    Column("active", Boolean, default=False),
    Index("ix_activity_samples_timestamp", "timestamp"),
)

#: One row per user with samples: their DecayedTally over every stored sample (revision 0002).
activity_tallies = Table(
    "activity_tallies",
    metadata,
    Column("username", String(255), primary_key=True),
    Column("anchor", DateTime, nullable=True),
    Column("total_weight", Double, nullable=False),
    Column("active_weight", Double, nullable=False),
    Column("sample_count", Integer, nullable=False),
    Column("active_count", Integer, nullable=False),
)

#: Small key/value facts about the stored data, e.g. the half-life the tallies were built for.
stellars_meta = Table(
    "stellars_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
)

#: Extension deadlines, one per (user, server name), for the server instance started at
#: `started` (revision 0003).
session_deadlines = Table(
    "session_deadlines",
    metadata,
    Column("username", String(255), primary_key=True),
    Column("server_name", String(255), primary_key=True),
    Column("started", DateTime, nullable=True),
    Column("cull_at", DateTime, nullable=False),
)

#: The platform event log (revision 0004): ids grow and are never reused (AUTOINCREMENT on
#: SQLite), so readers resume after the last id they saw.
stellars_events = Table(
    "stellars_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("outcome", String(64), nullable=False),
    Column("seconds", Double, nullable=False),
    Index("ix_stellars_events_at", "at"),
    sqlite_autoincrement=True,
)

#: The last stop of each server the platform saw, one per (user, server name) (revision 0006):
#: why it stopped (`reason`, a StopReason value), its exit code, the container's memory limit
#: in bytes and the engine's own words (`detail`).
server_stops = Table(
    "server_stops",
    metadata,
    Column("username", String(255), primary_key=True),
    Column("server_name", String(255), primary_key=True),
    Column("at", DateTime, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("exit_code", Integer, nullable=True),
    Column("memory_limit", BigInteger, nullable=True),
    Column("detail", String(500), nullable=False),
    Column("actor", String(255), nullable=False, server_default=""),  # 0008
    Column("idle_since", DateTime, nullable=True),  # 0008
    Column("log_tail", Text, nullable=False, server_default=""),  # 0008
)

#: The busy record of each running server, one per (user, server name) (revision 0009): its
#: latest load reading (`started` identifies the server instance; cumulative CPU counters in
#: nanoseconds; the highest GPU utilisation among its GPUs), its latest complete window (all
#: `window_*` columns set, or all null) and the end of its latest busy window.
busy_readings = Table(
    "busy_readings",
    metadata,
    Column("username", String(255), primary_key=True),
    Column("server_name", String(255), primary_key=True),
    Column("started", DateTime, nullable=True),
    Column("taken_at", DateTime, nullable=False),
    Column("cpu_total_ns", BigInteger, nullable=False),
    Column("system_cpu_ns", BigInteger, nullable=False),
    Column("online_cpus", Integer, nullable=False),
    Column("gpu_percent", Integer, nullable=True),
    Column("window_start", DateTime, nullable=True),
    Column("window_end", DateTime, nullable=True),
    Column("window_cpu_percent", Double, nullable=True),
    Column("window_gpu_percent", Integer, nullable=True),
    Column("window_busy", Boolean, nullable=True),
    Column("busy_until", DateTime, nullable=True),
)

#: The audit feed (revision 0007), one row per entry; ids grow and are never reused
#: (AUTOINCREMENT on SQLite). `details` is the entry's details as JSON text ("{}" when none).
#: Each filter's index ends in the feed's order (at, id), so a filtered page newest first is one
#: backwards range of it.
audit_entries = Table(
    "audit_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(32), nullable=False),
    Column("target", String(255), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("address", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("detail", String(200), nullable=False),
    Column("details", Text, nullable=False),
    Index("ix_audit_entries_actor", "actor", "at", "id"),
    Index("ix_audit_entries_target", "target", "at", "id"),
    Index("ix_audit_entries_action", "action", "at", "id"),
    Index("ix_audit_entries_at", "at", "id"),
    sqlite_autoincrement=True,
)

#: Each swarm node's report per sampling slot (revision 0010), one row per (node, slot): when
#: it was taken, its labs (usage and raw reading) and the platform's volumes on the node, each
#: a JSON list (stellars.adapters.sql.node_reports). The primary key (node, slot) is the index
#: the newest report of each node is found by, and what keeps a slot from being stored twice.
node_reports = Table(
    "node_reports",
    metadata,
    Column("node", String(255), primary_key=True),
    Column("slot", DateTime, primary_key=True),
    Column("taken_at", DateTime, nullable=False),
    Column("labs", Text, nullable=False),
    Column("volumes", Text, nullable=False),
)
