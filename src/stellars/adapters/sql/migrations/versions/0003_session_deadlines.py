"""Session extension deadlines, one per (user, server name), tied to the server's start time.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_deadlines",
        sa.Column("username", sa.String(255), primary_key=True),
        sa.Column("server_name", sa.String(255), primary_key=True),
        sa.Column("started", sa.DateTime, nullable=True),
        sa.Column("cull_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("session_deadlines")
