"""SQLAlchemy 2 stores on one database: activity samples with per-user decay tallies, and
session deadlines. SQLite (WAL, shared by the hub and the sampler service) or PostgreSQL
(psycopg 3); the schema is created on first use and versioned with alembic.

    database = SqlDatabase(create_store_engine("sqlite:////data/stellars.sqlite"))
    activity = SqlActivityStore(database, half_life=policy.half_life)
    sessions = SqlSessionStore(database)
    ...
    database.close()
"""

from .activity_store import SqlActivityStore
from .database import SqlDatabase
from .engine import create_store_engine
from .migrations import SchemaMismatch, head_revision
from .session_store import SqlSessionStore

__all__ = [
    "SchemaMismatch",
    "SqlActivityStore",
    "SqlDatabase",
    "SqlSessionStore",
    "create_store_engine",
    "head_revision",
]
