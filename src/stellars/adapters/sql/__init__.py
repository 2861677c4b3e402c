"""SQLAlchemy 2 stores on one database: activity samples with per-user decay tallies, session
deadlines, the platform event log and the last stop of each server. SQLite (WAL, shared by the
hub and the managed services) or PostgreSQL (psycopg 3); the schema is created on first use and
versioned with alembic.

    database = SqlDatabase(create_store_engine("sqlite:////data/stellars.sqlite"))
    activity = SqlActivityStore(database, half_life=policy.half_life)
    sessions = SqlSessionStore(database)
    events = SqlEventLog(database)
    stops = SqlServerStopStore(database)
    ...
    database.close()
"""

from .activity_store import SqlActivityStore
from .audit import SqlAuditLog
from .busy_store import SqlBusyStore
from .database import SqlDatabase
from .engine import create_store_engine
from .events import SqlEventLog
from .migrations import SchemaMismatch, head_revision
from .node_reports import SqlNodeReportStore
from .server_stops import SqlServerStopStore
from .session_store import SqlSessionStore

__all__ = [
    "SchemaMismatch",
    "SqlActivityStore",
    "SqlAuditLog",
    "SqlBusyStore",
    "SqlDatabase",
    "SqlEventLog",
    "SqlNodeReportStore",
    "SqlServerStopStore",
    "SqlSessionStore",
    "create_store_engine",
    "head_revision",
]
