"""The audit feed: who did what to whom, when, from which address, and how it ended.

Indexes serve the feed's filters, each ending in the feed's order (time, then id) so that a
filtered page newest first is one index range read backwards: by actor, by target, by action,
and by time alone (the date filters, the cursor and the retention prune).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.String(200), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_entries_actor", "audit_entries", ["actor", "at", "id"])
    op.create_index("ix_audit_entries_target", "audit_entries", ["target", "at", "id"])
    op.create_index("ix_audit_entries_action", "audit_entries", ["action", "at", "id"])
    op.create_index("ix_audit_entries_at", "audit_entries", ["at", "id"])


def downgrade() -> None:
    op.drop_table("audit_entries")
