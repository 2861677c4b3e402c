"""The busy record of each server: its latest load reading (cumulative CPU counters, GPU
utilisation), its latest complete window and the end of its latest busy window, so the culler
spares a server that is computing.

Revision ID: 0009
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "busy_readings",
        sa.Column("username", sa.String(255), primary_key=True),
        sa.Column("server_name", sa.String(255), primary_key=True),
        sa.Column("started", sa.DateTime, nullable=True),
        sa.Column("taken_at", sa.DateTime, nullable=False),
        sa.Column("cpu_total_ns", sa.BigInteger, nullable=False),
        sa.Column("system_cpu_ns", sa.BigInteger, nullable=False),
        sa.Column("online_cpus", sa.Integer, nullable=False),
        sa.Column("gpu_percent", sa.Integer, nullable=True),
        sa.Column("window_start", sa.DateTime, nullable=True),
        sa.Column("window_end", sa.DateTime, nullable=True),
        sa.Column("window_cpu_percent", sa.Double, nullable=True),
        sa.Column("window_gpu_percent", sa.Integer, nullable=True),
        sa.Column("window_busy", sa.Boolean, nullable=True),
        sa.Column("busy_until", sa.DateTime, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("busy_readings")
