"""Schema versions of the stellars database, run programmatically with alembic (no alembic.ini).

Revisions (in `versions/`):
- 0001 the original platform's `activity_samples` table, unchanged;
- 0002 `activity_tallies` (per-user decay tallies) and `stellars_meta`;
- 0003 `session_deadlines`;
- 0004 `stellars_events` (the platform event log);
- 0005 `activity_samples` without its per-user index (a tick's writes at scale).

The version is kept in its own table, `stellars_alembic_version`, so the database may be shared
with another alembic user (JupyterHub's own database, for instance) without a clash. A database
written by the original platform has `activity_samples` but no version table: it is stamped at
0001 and upgraded, keeping every sample.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

MIGRATIONS_DIR = Path(__file__).resolve().parent
VERSION_TABLE = "stellars_alembic_version"
ORIGINAL_REVISION = "0001"
_ORIGINAL_COLUMNS = {"id", "username", "timestamp", "last_activity", "active"}


class SchemaMismatch(RuntimeError):
    """The database holds tables this package does not recognise as any of its revisions."""


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    config.attributes["version_table"] = VERSION_TABLE
    return config


def head_revision() -> str:
    """The newest revision this package ships."""
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None for a database stellars never touched)."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(connection: Connection, revision: str = "head") -> str | None:
    """Bring the schema to `revision` on `connection` (inside the caller's transaction).

    Adopts a database of the original platform first. Returns the revision found before.
    """
    before = current_revision(connection)
    if before is None and inspect(connection).has_table("activity_samples"):
        _check_original_table(connection)
        command.stamp(_config(connection), ORIGINAL_REVISION)
        before = ORIGINAL_REVISION
    if before != (head_revision() if revision == "head" else revision):
        command.upgrade(_config(connection), revision)
    return before


def _check_original_table(connection: Connection) -> None:
    columns = {column["name"] for column in inspect(connection).get_columns("activity_samples")}
    if not columns >= _ORIGINAL_COLUMNS:
        raise SchemaMismatch(
            "table activity_samples exists without a stellars version and does not look like "
            f"the original platform's (columns {sorted(columns)}, expected at least "
            f"{sorted(_ORIGINAL_COLUMNS)}); refusing to adopt it"
        )
