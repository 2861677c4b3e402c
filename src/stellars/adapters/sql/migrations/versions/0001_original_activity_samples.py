"""The original platform's activity table, exactly as its `ActivitySample` model created it.

A database the original platform wrote (it has this table but no version table) is stamped at
this revision and upgraded from here, so its history is kept.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activity_samples",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("timestamp", sa.DateTime, nullable=False),
        sa.Column("last_activity", sa.DateTime, nullable=True),
        sa.Column("active", sa.Boolean, default=False),
    )
    op.create_index("ix_activity_samples_username", "activity_samples", ["username"])
    op.create_index("ix_activity_samples_timestamp", "activity_samples", ["timestamp"])
    op.create_index("ix_activity_user_time", "activity_samples", ["username", "timestamp"])


def downgrade() -> None:
    op.drop_table("activity_samples")
