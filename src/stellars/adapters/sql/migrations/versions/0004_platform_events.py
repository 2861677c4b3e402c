"""The platform event log: what the sampler and the idle culler did, for the hub's metrics.

`id` is AUTOINCREMENT on SQLite so that an id is never reused after the newest events were
pruned (readers resume after the last id they saw); PostgreSQL's sequence never reuses one.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stellars_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("seconds", sa.Double, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_stellars_events_at", "stellars_events", ["at"])


def downgrade() -> None:
    op.drop_table("stellars_events")
