"""Per-user decay tallies, so scores for every user never rescan samples, and a meta table.

The tallies start empty: they depend on the half-life, which only the store knows. A store that
finds no recorded half-life (or another one) in `stellars_meta` rebuilds them in one scan.

The original's single-column index on `username` goes: `ix_activity_user_time` (username,
timestamp) serves every lookup by user, and each tick would otherwise rewrite one leaf page of
it per user twice (insert and prune) for nothing.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_activity_samples_username", table_name="activity_samples")
    op.create_table(
        "activity_tallies",
        sa.Column("username", sa.String(255), primary_key=True),
        sa.Column("anchor", sa.DateTime, nullable=True),
        sa.Column("total_weight", sa.Double, nullable=False),
        sa.Column("active_weight", sa.Double, nullable=False),
        sa.Column("sample_count", sa.Integer, nullable=False),
        sa.Column("active_count", sa.Integer, nullable=False),
    )
    op.create_table(
        "stellars_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(255), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stellars_meta")
    op.drop_table("activity_tallies")
    op.create_index("ix_activity_samples_username", "activity_samples", ["username"])
