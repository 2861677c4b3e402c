"""The details of a server's stop beyond its reason: who asked (the user, the admin, the
service, who restarted it), since when a culled server was idle, and the last lines of the log
of a container that exited. Existing rows (out of memory, exited) have none of them.

Revision ID: 0008
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("server_stops") as table:
        table.add_column(sa.Column("actor", sa.String(255), nullable=False, server_default=""))
        table.add_column(sa.Column("idle_since", sa.DateTime, nullable=True))
        table.add_column(sa.Column("log_tail", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("server_stops") as table:
        table.drop_column("log_tail")
        table.drop_column("idle_since")
        table.drop_column("actor")
