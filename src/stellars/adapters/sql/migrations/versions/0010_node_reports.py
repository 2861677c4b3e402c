"""Each swarm node's report per sampling slot: its labs' usage and the platform's volumes on
it, written by the node's sampler, read by the hub (one row per (node, slot)).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "node_reports",
        sa.Column("node", sa.String(255), primary_key=True),
        sa.Column("slot", sa.DateTime, primary_key=True),
        sa.Column("taken_at", sa.DateTime, nullable=False),
        sa.Column("labs", sa.Text, nullable=False),
        sa.Column("volumes", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("node_reports")
