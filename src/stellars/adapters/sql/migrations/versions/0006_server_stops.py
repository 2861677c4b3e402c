"""The last stop of each server: why it stopped (out of memory, an exit code), so the user is
told instead of finding the server silently gone.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_stops",
        sa.Column("username", sa.String(255), primary_key=True),
        sa.Column("server_name", sa.String(255), primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("exit_code", sa.Integer, nullable=True),
        sa.Column("memory_limit", sa.BigInteger, nullable=True),
        sa.Column("detail", sa.String(500), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("server_stops")
